//! `wasmbus.ctl.v1.<lattice>.link.*`: the links of deployed applications, in wasmCloud's `Link`
//! shape. On Trellis a link is part of its application's manifest and is applied with it, so
//! `link.get` lists what deployed manifests declare, and `link.put`/`link.del` say where links
//! are changed instead of storing links that nothing would apply.

use serde_json::{Value, json};
use trellis_types::ctl::CtlReply;
use trellis_types::manifest::{Manifest, TraitProperty};

use crate::catalogue::Catalogue;

/// The links every deployed application declares, sorted by source, then name and package.
pub(crate) fn declared(catalogue: &Catalogue) -> Vec<Value> {
    let mut links: Vec<Value> = catalogue.apps.values().filter_map(|app| app.deployed()).flat_map(|d| of_manifest(&d.manifest)).collect();
    let key = |l: &Value| (l["source_id"].to_string(), l["name"].to_string(), l["wit_namespace"].to_string(), l["wit_package"].to_string());
    links.sort_by_key(key);
    links
}

fn of_manifest(manifest: &Manifest) -> Vec<Value> {
    let app = manifest.name();
    let id_of = |name: &str| manifest.spec.components.iter().find(|c| c.name == name).map_or_else(|| name.to_owned(), |c| c.id(app));
    let mut links = Vec::new();
    for component in &manifest.spec.components {
        for t in &component.traits {
            let TraitProperty::Link(link) = &t.properties else { continue };
            let names = |configs: &[trellis_types::manifest::ConfigProperty]| configs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
            links.push(json!({
                "source_id": component.id(app),
                "target": id_of(&link.target.name),
                "name": link.name.as_deref().unwrap_or("default"),
                "wit_namespace": link.namespace,
                "wit_package": link.package,
                "interfaces": link.interfaces,
                "source_config": link.source.as_ref().map(|s| names(&s.config)).unwrap_or_default(),
                "target_config": names(&link.target.config),
            }));
        }
    }
    links
}

/// The reply to `link.<op>`.
pub(crate) fn reply(catalogue: &Catalogue, op: &str) -> CtlReply {
    match op {
        "get" => CtlReply::ok(Value::Array(declared(catalogue))),
        "put" | "del" => CtlReply::fail(format!(
            "link.{op}: on Trellis links belong to their application's manifest (a `link` trait); change the manifest and deploy it"
        )),
        other => CtlReply::fail(format!("unsupported subject link.{other}")),
    }
}
