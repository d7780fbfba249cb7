//! `wasmbus.ctl.v1.<lattice>.link.*`: links in wasmCloud's `Link` shape. `link.get` lists both
//! kinds Trellis has: those deployed manifests declare (applied with their application), and
//! those put through the control interface (stored in `LATTICEDATA_<lattice>` and applied by the
//! hosts that run their source outside any manifest, as `trellis start component` starts it).
//!
//! `link.put` follows wasmCloud's rules: every named config must exist; a link that binds an
//! import some stored link already binds to another target is refused; one with the same source,
//! target, name and package replaces the old. A source that belongs to a deployed application is
//! refused too: its links are its manifest's `link` traits, and the manager would not apply
//! another. `link.del` matches source, name and package (not target), and always succeeds.

use serde_json::{Value, json};
use trellis_types::ctl::{CtlReply, Link, LinkDelete, SourceLinks, Verb};
use trellis_types::manifest::{Manifest, TraitProperty};

use crate::Inner;
use crate::catalogue::Catalogue;

/// Every link: those deployed applications declare, then those put, sorted by source, then
/// name and package.
pub(crate) fn all(catalogue: &Catalogue) -> Vec<Link> {
    let declared = catalogue.apps.values().filter_map(|app| app.deployed()).flat_map(|d| of_manifest(&d.manifest));
    let put = catalogue.links.values().flat_map(|c| c.links.iter().cloned());
    let mut links: Vec<Link> = declared.chain(put).collect();
    links.sort_by(|a, b| (&a.source_id, &a.name, &a.wit_namespace, &a.wit_package).cmp(&(&b.source_id, &b.name, &b.wit_namespace, &b.wit_package)));
    links
}

fn of_manifest(manifest: &Manifest) -> Vec<Link> {
    let app = manifest.name();
    let id_of = |name: &str| manifest.spec.components.iter().find(|c| c.name == name).map_or_else(|| name.to_owned(), |c| c.id(app));
    let names = |configs: &[trellis_types::manifest::ConfigProperty]| configs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let mut links = Vec::new();
    for component in &manifest.spec.components {
        for t in &component.traits {
            let TraitProperty::Link(link) = &t.properties else { continue };
            links.push(Link {
                source_id: component.id(app),
                target: id_of(&link.target.name),
                name: link.name.clone().unwrap_or_else(|| "default".to_owned()),
                wit_namespace: link.namespace.clone(),
                wit_package: link.package.clone(),
                interfaces: link.interfaces.clone(),
                source_config: link.source.as_ref().map(|s| names(&s.config)).unwrap_or_default(),
                target_config: names(&link.target.config),
            });
        }
    }
    links
}

/// The links of `link.source_id` once `link` is put, or why it cannot be.
fn with_put(catalogue: &Catalogue, link: &Link) -> Result<SourceLinks, String> {
    for app in catalogue.apps.values().filter_map(|a| a.deployed()) {
        let name = app.manifest.name();
        if let Some(c) = app.manifest.spec.components.iter().find(|c| c.id(name) == link.source_id) {
            return Err(format!(
                "`{}` is component `{}` of application `{name}`: its links are the `link` traits of its manifest; change them there and deploy it",
                link.source_id, c.name
            ));
        }
    }
    let mut stored = catalogue.links.get(&link.source_id).cloned().unwrap_or_default();
    stored.put(link.clone(), |name| catalogue.configs.contains_key(name))?;
    Ok(stored)
}

/// Answers `link.<op>` with body `body`, publishing `linkdef_*` events as wasmCloud hosts do.
pub(crate) async fn handle(inner: &Inner, verb: Verb, body: &[u8]) -> CtlReply<Value> {
    match verb {
        Verb::Get => CtlReply::ok(serde_json::to_value(all(&*inner.catalogue.lock().await)).expect("links serialize")),
        Verb::Put => {
            let link: Link = match serde_json::from_slice(body) {
                Ok(l) => l,
                Err(e) => return CtlReply::fail(format!("link.put: the body is not a link ({{\"source_id\", \"target\", \"wit_namespace\", \"wit_package\", \"interfaces\", ...}}): {e}")),
            };
            let result = {
                let mut catalogue = inner.catalogue.lock().await;
                match with_put(&catalogue, &link) {
                    Ok(links) => catalogue.save_links(&link.source_id, links).await.map_err(|e| e.to_string()),
                    Err(reason) => Err(reason),
                }
            };
            let data = serde_json::to_value(&link).expect("links serialize");
            match result {
                Ok(()) => {
                    crate::api::event(inner, "linkdef_set", data).await;
                    CtlReply::done("successfully set link")
                }
                Err(error) => {
                    let mut data = data;
                    data["error"] = json!(error);
                    crate::api::event(inner, "linkdef_set_failed", data).await;
                    CtlReply::fail(error)
                }
            }
        }
        Verb::Del => {
            let del: LinkDelete = match serde_json::from_slice(body) {
                Ok(d) => d,
                Err(e) => return CtlReply::fail(format!("link.del: the body is not {{\"source_id\", \"name\", \"wit_namespace\", \"wit_package\"}}: {e}")),
            };
            let removed = {
                let mut catalogue = inner.catalogue.lock().await;
                let mut stored = catalogue.links.get(&del.source_id).cloned().unwrap_or_default();
                let removed = stored.delete(&del);
                if !removed.is_empty()
                    && let Err(e) = catalogue.save_links(&del.source_id, stored).await
                {
                    return CtlReply::fail(e.to_string());
                }
                removed
            };
            let data = del.event_data(&removed);
            crate::api::event(inner, "linkdef_deleted", data).await;
            CtlReply::done("successfully deleted link")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn link(source: &str, target: &str, interfaces: &[&str]) -> Link {
        Link::new(source, target, ("wasi", "keyvalue"), interfaces)
    }

    async fn catalogue(dir: &std::path::Path) -> Catalogue {
        Catalogue::load(Store::open(&dir.join("m.redb")).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn puts_survive_reload_and_check_the_stored_config() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut c = catalogue(dir.path()).await;
            let first = with_put(&c, &link("a", "kv1", &["store"])).unwrap();
            c.save_links("a", first).await.unwrap();
            let replaced = with_put(&c, &link("a", "kv1", &["store", "atomics"])).unwrap();
            c.save_links("a", replaced).await.unwrap();
            let mut configured = link("b", "kv1", &["store"]);
            configured.target_config = vec!["nope".into()];
            let missing = with_put(&c, &configured).unwrap_err();
            assert!(missing.contains("configuration `nope` not found"), "{missing}");
        }
        let c = catalogue(dir.path()).await;
        assert_eq!(all(&c), vec![link("a", "kv1", &["store", "atomics"])]);
    }

    #[tokio::test]
    async fn a_component_of_a_deployed_application_keeps_its_manifests_links() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = catalogue(dir.path()).await;
        let manifest = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: app\n  annotations:\n    version: v1\nspec:\n  components:\n    - name: web\n      type: component\n      properties:\n        image: c.wasm\n";
        c.put("a.yaml", manifest, None).await;
        c.deploy("app", "v1").await;
        let err = with_put(&c, &link("app-web", "kv", &["store"])).unwrap_err();
        assert!(err.contains("component `web` of application `app`"), "{err}");
    }
}
