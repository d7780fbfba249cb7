//! Components started through the control interface (`component.scale`), outside any manifest,
//! as wasmCloud hosts start them for `wash` and wadm. Each runs as a one-component application
//! under the key `component:<id>`, so it shares every code path of a deploy, and it is left out
//! of the host's report: the manager neither sees nor removes it.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use trellis_types::ctl::Link;
use trellis_types::manifest::Manifest;
use trellis_types::placement::Assignment;

/// What the key of an unmanaged component starts with; manifest names cannot contain `:`.
pub(crate) const KEY_PREFIX: &str = "component:";

/// The key of unmanaged component `id` among a host's applications.
pub(crate) fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// One component to run outside any manifest.
#[derive(Debug, Clone)]
pub struct ComponentScale {
    /// Its lattice id: letters, digits, `-` and `_` (it becomes a subject token).
    pub component_id: String,
    /// Where its code comes from: a path or `file://` URL.
    pub image_ref: String,
    /// Maximum concurrent instances; 0 stops it.
    pub count: u32,
    /// Its named config, resolved: name → values, in the order given.
    pub configs: Vec<(String, BTreeMap<String, String>)>,
    /// Shown in the inventory and events, as given.
    pub annotations: BTreeMap<String, String>,
    /// The links put through the control interface whose source it is.
    pub links: Vec<Link>,
}

impl ComponentScale {
    /// The one-component application that runs it, or why it cannot.
    pub(crate) fn assignment(&self) -> Result<Assignment, String> {
        let config: Vec<_> = self.configs.iter().map(|(name, _)| json!({ "name": name })).collect();
        // Each link's target is a component of the lattice, wherever it runs: an entry with
        // its id and no scaler, so calls reach it by id and this host does not start it.
        let mut targets: Vec<&str> = self.links.iter().map(|l| l.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        let target_entries = targets.iter().enumerate().map(|(n, id)| {
            json!({ "name": format!("link-target-{n}"), "type": "component", "properties": { "image": format!("lattice:{id}"), "id": id } })
        });
        let mut traits = vec![json!({ "type": "spreadscaler", "properties": { "instances": self.count } })];
        traits.extend(self.links.iter().map(|l| {
            let n = targets.binary_search(&l.target.as_str()).expect("every target is listed");
            json!({ "type": "link", "properties": {
                "namespace": l.wit_namespace, "package": l.wit_package, "interfaces": l.interfaces, "name": l.name,
                "target": { "name": format!("link-target-{n}") },
            }})
        }));
        let mut components = vec![json!({
            "name": "component",
            "type": "component",
            "properties": { "image": self.image_ref, "id": self.component_id, "config": config },
            "traits": traits,
        })];
        components.extend(target_entries);
        let manifest = json!({
            "apiVersion": "core.oam.dev/v1beta1",
            "kind": "Application",
            "metadata": { "name": format!("component-{}", self.component_id), "annotations": { "version": "unmanaged" } },
            "spec": { "components": components },
        })
        .to_string();
        let parsed = Manifest::parse("component.scale", &manifest).map_err(|e| e.to_string())?;
        let configs: BTreeMap<_, _> = self.configs.iter().cloned().collect();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&manifest, &configs).hash(&mut hasher);
        Ok(Assignment {
            manifest: Arc::new(parsed),
            base_dir: PathBuf::new(),
            components: BTreeMap::from([("component".to_owned(), self.count)]),
            configs,
            revision: format!("{:016x}", hasher.finish()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(id: &str) -> ComponentScale {
        ComponentScale { component_id: id.into(), image_ref: "/srv/hello.wasm".into(), count: 3, configs: vec![], annotations: BTreeMap::new(), links: vec![] }
    }

    #[test]
    fn a_scale_is_a_one_component_application_with_the_given_id() {
        let assignment = scale("hello-1").assignment().unwrap();
        assert_eq!(assignment.manifest.component("component").unwrap().id(assignment.manifest.name()), "hello-1");
        assert_eq!(assignment.components["component"], 3);
        assert_eq!(assignment.revision, scale("hello-1").assignment().unwrap().revision);
        let mut more = scale("hello-1");
        more.count = 4;
        assert_ne!(assignment.revision, more.assignment().unwrap().revision);
    }

    #[test]
    fn its_links_bind_imports_to_components_by_id() {
        let mut with_links = scale("caller");
        let link = |target: &str, package: &str| Link {
            source_id: "caller".into(),
            target: target.into(),
            name: "default".into(),
            wit_namespace: "example".into(),
            wit_package: package.into(),
            interfaces: vec!["api".into()],
            source_config: vec![],
            target_config: vec![],
        };
        with_links.links = vec![link("callee", "a"), link("other", "b"), link("callee", "c")];
        let assignment = with_links.assignment().unwrap();
        let m = &assignment.manifest;
        let targets: Vec<String> = m.component("component").unwrap().links().map(|l| m.component(&l.target.name).unwrap().id(m.name())).collect();
        assert_eq!(targets, ["callee", "other", "callee"]);
        assert_eq!(assignment.components.len(), 1, "only the source runs here");
        assert_ne!(assignment.revision, scale("caller").assignment().unwrap().revision);
    }

    #[test]
    fn an_id_that_is_no_subject_token_is_refused_by_name() {
        let err = scale("a.b").assignment().unwrap_err();
        assert!(err.contains("a.b"), "{err}");
    }
}
