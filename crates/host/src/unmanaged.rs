//! Components and providers started through the control interface (`component.scale`,
//! `provider.start`), outside any manifest, as wasmCloud hosts start them for `wash` and wadm.
//! Each runs as a one-entry application under the key `component:<id>` or `provider:<id>`, so
//! it shares every code path of a deploy, and it is left out of the host's report: the manager
//! neither sees nor removes it. Its links are those put through the control interface
//! (`link.put`) with it as the source.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use trellis_types::ctl::Link;
use trellis_types::manifest::Manifest;
use trellis_types::placement::Assignment;
use crate::Capabilities;

/// Whom a host runs something for: an application the manager placed, or a component or a
/// provider started through the control interface. Each keeps its own namespace, so an
/// application and a component id never collide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// An application, by its manifest's name.
    App(String),
    /// A component outside any manifest, by its id.
    Component(String),
    /// A provider started with `provider.start`, by its id.
    Provider(String),
}

impl Owner {
    /// The application's name, or the component's or provider's id.
    pub(crate) fn name(&self) -> &str {
        match self {
            Owner::App(name) | Owner::Component(name) | Owner::Provider(name) => name,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::App(name) => write!(f, "app {name}"),
            Owner::Component(id) => write!(f, "component {id}"),
            Owner::Provider(id) => write!(f, "provider {id}"),
        }
    }
}

/// Named config: name → values.
pub type NamedConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// The links put through the control interface with one source, and what applying them needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutLinks {
    /// The links, as stored.
    pub links: Vec<Link>,
    /// The named config they name, resolved.
    pub configs: NamedConfigs,
    /// Targets that are providers started through the control interface: id → image. A link
    /// to one opens that built-in capability beside the source, with the link's target config.
    pub providers: BTreeMap<String, String>,
    /// For a provider process: the links whose target it is, which it is told of.
    pub incoming: Vec<Link>,
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
    /// Its own execution limits (wasmCloud's `component_limits`); unset ones take the host's.
    pub limits: trellis_types::manifest::Limits,
    /// The links put through the control interface whose source it is.
    pub links: PutLinks,
}

/// A built-in capability started as a provider (`provider.start`): a wasmCloud provider image
/// Trellis serves itself, under the provider id links name.
#[derive(Debug, Clone)]
pub struct ProviderStart {
    /// The id links name it by.
    pub provider_id: String,
    /// The image, as given (`ghcr.io/wasmcloud/http-server:0.24.0`, `wasmcloud+builtin://...`).
    pub image_ref: String,
    /// Its own named config, resolved, in the order given.
    pub configs: Vec<(String, BTreeMap<String, String>)>,
    /// Shown in the inventory and events, as given.
    pub annotations: BTreeMap<String, String>,
    /// The links put through the control interface whose source it is.
    pub links: PutLinks,
}

/// What runs outside any manifest.
#[derive(Debug, Clone)]
pub(crate) enum Unmanaged {
    Component(ComponentScale),
    Provider(ProviderStart),
}

impl Unmanaged {
    pub(crate) fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Unmanaged::Component(s) => &s.annotations,
            Unmanaged::Provider(p) => &p.annotations,
        }
    }
}

impl ComponentScale {
    /// The one-component application that runs it, or why it cannot.
    pub(crate) fn assignment(&self, capabilities: &Capabilities) -> Result<Assignment, String> {
        let entry = json!({
            "name": self.component_id,
            "type": "component",
            "properties": { "image": self.image_ref, "id": self.component_id },
        });
        let scaler = json!({ "type": "spreadscaler", "properties": { "instances": self.count } });
        let mut entry = entry;
        if self.limits != trellis_types::manifest::Limits::default() {
            entry["traits"] = json!([{ "type": trellis_types::manifest::LIMITS_TRAIT, "properties": self.limits }]);
        }
        one_entry(capabilities, ("component", &self.component_id, "component.scale"), entry, scaler, self.count, &self.links, &self.configs)
    }
}

impl ProviderStart {
    /// The one-capability application that serves it, placed here, or why it cannot.
    pub(crate) fn assignment(&self, capabilities: &Capabilities) -> Result<Assignment, String> {
        let entry = json!({
            "name": self.provider_id,
            "type": "capability",
            "properties": { "image": self.image_ref, "id": self.provider_id },
        });
        let scaler = json!({ "type": "spreadscaler", "properties": { "instances": 1 } });
        one_entry(capabilities, ("provider", &self.provider_id, "provider.start"), entry, scaler, 1, &self.links, &self.configs)
    }
}

/// What the names of config entries that are secret references start with: wadm and `wash
/// secrets put` store a reference (`{"backend", "key", "version"?, "policy": "<JSON>"}`) in
/// CONFIGDATA under `SECRET_<name>`, and name it where config goes.
const SECRET_PREFIX: &str = "SECRET_";

/// Turns the `SECRET_*` names of config lists into the manifest's secret references, each with
/// a policy of its own, as a wasmCloud host reads them: the secret is `<name>` without the
/// prefix, asked for from the reference's backend with its policy.
struct SecretRefs<'a> {
    configs: &'a NamedConfigs,
    policies: BTreeMap<String, Value>,
}

impl SecretRefs<'_> {
    /// `names` split into a manifest's config list and its secrets list.
    fn split<'n>(&mut self, names: impl IntoIterator<Item = &'n String>) -> Result<(Vec<Value>, Vec<Value>), String> {
        let (mut config, mut secrets) = (Vec::new(), Vec::new());
        for name in names {
            let Some(secret) = name.strip_prefix(SECRET_PREFIX) else {
                config.push(json!({ "name": name }));
                continue;
            };
            let reference = self.configs.get(name).ok_or_else(|| format!("secret reference `{name}` is not in the config store; put it first"))?;
            let field = |key: &str| reference.get(key).ok_or_else(|| format!("secret reference `{name}` has no `{key}`"));
            let policy: Value = serde_json::from_str(field("policy")?).map_err(|e| format!("secret reference `{name}`: its `policy` is not JSON: {e}"))?;
            let mut properties = BTreeMap::from([("backend".to_owned(), field("backend")?.clone())]);
            if let Some(Value::Object(given)) = policy.get("properties") {
                properties.extend(given.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))));
            }
            let policy_name = format!("ctl-{}", name.to_lowercase().replace('_', "-"));
            self.policies.insert(policy_name.clone(), json!({ "name": policy_name, "type": crate::secrets::SECRET_POLICY, "properties": properties }));
            let mut refers = json!({ "policy": policy_name, "key": field("key")? });
            for optional in ["version", "field"] {
                if let Some(value) = reference.get(optional) {
                    refers[optional] = json!(value);
                }
            }
            secrets.push(json!({ "name": secret, "properties": refers }));
        }
        Ok((config, secrets))
    }
}

/// Sets a config list and, if there are any, a secrets list on `holder` (an entry's properties,
/// or one side of a link).
fn set_config(holder: &mut Value, (config, secrets): (Vec<Value>, Vec<Value>)) {
    holder["config"] = Value::Array(config);
    if !secrets.is_empty() {
        holder["secrets"] = Value::Array(secrets);
    }
}

/// The application of one entry (of `kind`, named by its lattice id `id`) with `scaler` and `put` links, run
/// here with `count`. A link's target is a component of the lattice, wherever it runs (an entry
/// with its id that this host does not start, so calls and requests reach it by id), or a
/// provider (the built-in capability of its image, opened here for this source).
fn one_entry(
    capabilities: &Capabilities,
    (kind, id, source): (&str, &str, &str),
    mut entry: Value,
    scaler: Value,
    count: u32,
    put: &PutLinks,
    own: &[(String, BTreeMap<String, String>)],
) -> Result<Assignment, String> {
    let links = &put.links;
    let mut targets: Vec<&str> = links.iter().map(|l| l.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut configs: NamedConfigs = put.configs.clone();
    configs.extend(own.iter().cloned());
    let mut refs = SecretRefs { configs: &configs, policies: BTreeMap::new() };
    let mut link = |l: &Link, target: &str| -> Result<Value, String> {
        let mut properties = json!({
            "namespace": l.wit_namespace, "package": l.wit_package, "interfaces": l.interfaces, "name": l.name,
            "source": {}, "target": { "name": target },
        });
        set_config(&mut properties["source"], refs.split(&l.source_config)?);
        set_config(&mut properties["target"], refs.split(&l.target_config)?);
        Ok(json!({ "type": "link", "properties": properties }))
    };
    let mut traits = vec![scaler];
    // Entries are named for their target, so a provider's backend (a redb file, say) keeps its
    // name whatever else the source links to.
    let entry_name = |id: &str| format!("link-target:{id}");
    for l in links {
        traits.push(link(l, &entry_name(&l.target))?);
    }
    // Traits the caller set (limits) follow the scaler and the links.
    if let Some(Value::Array(given)) = entry.get("traits") {
        traits.extend(given.iter().cloned());
    }
    entry["traits"] = Value::Array(traits);
    let mut components = vec![entry];
    // A built-in provider's backend is opened here for the source; a provider process (like a
    // component) is reached by id wherever it runs.
    let mut others: BTreeMap<&str, Value> = targets
        .iter()
        .map(|id| {
            let entry = match put.providers.get(*id) {
                Some(image) if capabilities.is_builtin_provider(image) => json!({ "name": entry_name(id), "type": "capability", "properties": { "image": image } }),
                // Placed (so not started here), and a capability, so the interfaces hosts
                // bridge to providers (wasi:keyvalue) are bridged to it.
                Some(_) => json!({
                    "name": entry_name(id), "type": "capability",
                    "properties": { "image": format!("lattice:{id}"), "id": id },
                    "traits": [{ "type": "spreadscaler", "properties": { "instances": 1 } }],
                }),
                None => json!({
                    "name": entry_name(id), "type": "component",
                    "properties": { "image": format!("lattice:{id}"), "id": id },
                    "traits": [{ "type": "spreadscaler", "properties": { "instances": 1 } }],
                }),
            };
            (*id, entry)
        })
        .collect();
    // The sources of the links a provider process is told of: entries with their ids, not run
    // here, each linking to it; one it links back to already has its entry.
    for l in &put.incoming {
        let source = l.source_id.as_str();
        let entry = others.entry(source).or_insert_with(|| {
            json!({ "name": format!("link-source:{source}"), "type": "component", "properties": { "image": format!("lattice:{source}"), "id": source }, "traits": [] })
        });
        let link = link(l, id)?;
        match entry["traits"].as_array_mut() {
            Some(traits) => traits.push(link),
            None => entry["traits"] = json!([link]),
        }
    }
    set_config(&mut components[0]["properties"], refs.split(own.iter().map(|(name, _)| name))?);
    components.extend(others.into_values());
    let app = format!("{kind}-{id}");
    let policies: Vec<Value> = refs.policies.into_values().collect();
    let manifest = json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": { "name": app, "annotations": { "version": "unmanaged" } },
        "spec": { "components": components, "policies": policies },
    })
    .to_string();
    let parsed = Manifest::parse(source, &manifest).map_err(|e| e.to_string())?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&manifest, &configs).hash(&mut hasher);
    Ok(Assignment {
        manifest: Arc::new(parsed),
        base_dir: PathBuf::new(),
        components: BTreeMap::from([(id.to_owned(), count)]),
        configs,
        revision: format!("{:016x}", hasher.finish()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(id: &str) -> ComponentScale {
        ComponentScale { component_id: id.into(), image_ref: "/srv/hello.wasm".into(), count: 3, configs: vec![], annotations: BTreeMap::new(), limits: Default::default(), links: PutLinks::default() }
    }

    #[test]
    fn a_scale_is_a_one_component_application_with_the_given_id() {
        let assignment = scale("hello-1").assignment(&Capabilities::default()).unwrap();
        assert_eq!(assignment.manifest.component("hello-1").unwrap().id(assignment.manifest.name()), "hello-1");
        assert_eq!(assignment.components["hello-1"], 3);
        assert_eq!(assignment.revision, scale("hello-1").assignment(&Capabilities::default()).unwrap().revision);
        let mut more = scale("hello-1");
        more.count = 4;
        assert_ne!(assignment.revision, more.assignment(&Capabilities::default()).unwrap().revision);
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
        with_links.links.links = vec![link("callee", "a"), link("other", "b"), link("callee", "c")];
        let assignment = with_links.assignment(&Capabilities::default()).unwrap();
        let m = &assignment.manifest;
        let targets: Vec<String> = m.component("caller").unwrap().links().map(|l| m.component(&l.target.name).unwrap().id(m.name())).collect();
        assert_eq!(targets, ["callee", "other", "callee"]);
        assert_eq!(assignment.components.len(), 1, "only the source runs here");
        assert_ne!(assignment.revision, scale("caller").assignment(&Capabilities::default()).unwrap().revision);
    }

    #[test]
    fn a_provider_process_target_is_a_capability_placed_elsewhere() {
        let mut with_links = scale("caller");
        with_links.links.links = vec![Link::new("caller", "kvp", ("wasi", "keyvalue"), &["store"])];
        with_links.links.providers = BTreeMap::from([("kvp".to_owned(), "/srv/keyvalue.par.gz".to_owned())]);
        let assignment = with_links.assignment(&Capabilities::default()).unwrap();
        let m = &assignment.manifest;
        let target = m.component(&m.component("caller").unwrap().links().next().unwrap().target.name).unwrap();
        assert_eq!((target.kind, target.id(m.name()).as_str()), (trellis_types::manifest::ComponentKind::Capability, "kvp"));
        // With a scaler, and not in this host's share, so this host does not start it.
        assert!(target.scaler().is_some() && !assignment.components.contains_key(&target.name));
    }

    #[test]
    fn secret_references_in_config_lists_become_secrets_with_their_policies() {
        let reference = |key: &str| {
            BTreeMap::from([
                ("backend".to_owned(), "nats-kv".to_owned()),
                ("key".to_owned(), key.to_owned()),
                ("version".to_owned(), "2".to_owned()),
                ("policy".to_owned(), r#"{"type":"properties.secret.wasmcloud.dev/v1alpha1","properties":{"role":"reader"}}"#.to_owned()),
            ])
        };
        let mut with_secrets = scale("app");
        with_secrets.configs = vec![("plain".into(), BTreeMap::from([("k".into(), "v".into())])), ("SECRET_api_key".into(), reference("api"))];
        with_secrets.links.links = vec![Link {
            source_id: "app".into(),
            target: "store".into(),
            name: "default".into(),
            wit_namespace: "wasi".into(),
            wit_package: "keyvalue".into(),
            interfaces: vec!["store".into()],
            source_config: vec![],
            target_config: vec!["SECRET_db".into()],
        }];
        with_secrets.links.configs = NamedConfigs::from([("SECRET_db".into(), reference("db"))]);
        let assignment = with_secrets.assignment(&Capabilities::default()).unwrap();
        let m = &assignment.manifest;
        let app = m.component("app").unwrap();
        assert_eq!(app.properties.config.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["plain"]);
        let secret = &app.properties.secrets[0];
        assert_eq!((secret.name.as_str(), secret.properties.key.as_str(), secret.properties.version.as_deref()), ("api_key", "api", Some("2")));
        let policy = m.spec.policies.iter().find(|p| p.name == secret.properties.policy).unwrap();
        assert_eq!(policy.policy_type, crate::secrets::SECRET_POLICY);
        assert_eq!((policy.properties["backend"].as_str(), policy.properties["role"].as_str()), ("nats-kv", "reader"));
        let link = app.links().next().unwrap();
        assert!(link.target.config.is_empty());
        assert_eq!((link.target.secrets[0].name.as_str(), link.target.secrets[0].properties.key.as_str()), ("db", "db"));

        let mut missing = scale("app");
        missing.configs = vec![("SECRET_gone".into(), BTreeMap::new())];
        let err = missing.assignment(&Capabilities::default()).unwrap_err();
        assert!(err.contains("SECRET_gone") && err.contains("has no `policy`"), "{err}");
    }

    /// A provider process that calls a component and is called by it gets one entry for it.
    #[test]
    fn a_provider_linked_both_ways_with_a_component_has_one_entry_for_it() {
        let link = |source: &str, target: &str| Link {
            source_id: source.into(),
            target: target.into(),
            name: "default".into(),
            wit_namespace: "trellis".into(),
            wit_package: "plain".into(),
            interfaces: vec!["echo".into()],
            source_config: vec![],
            target_config: vec![],
        };
        let start = ProviderStart {
            provider_id: "echo-1".into(),
            image_ref: "./echo.par.gz".into(),
            configs: vec![],
            annotations: BTreeMap::new(),
            links: PutLinks { links: vec![link("echo-1", "callee-1")], incoming: vec![link("callee-1", "echo-1"), link("caller-1", "echo-1")], ..PutLinks::default() },
        };
        let assignment = start.assignment(&Capabilities::default()).unwrap();
        let m = &assignment.manifest;
        let ids: Vec<String> = m.spec.components.iter().map(|c| c.id(m.name())).collect();
        assert_eq!(ids, ["echo-1", "callee-1", "caller-1"]);
        let callee = m.spec.components.iter().find(|c| c.id(m.name()) == "callee-1").unwrap();
        assert_eq!(callee.links().map(|l| l.target.name.as_str()).collect::<Vec<_>>(), ["echo-1"]);
        assert_eq!(m.component("echo-1").unwrap().links().map(|l| l.target.name.as_str()).collect::<Vec<_>>(), ["link-target:callee-1"]);
    }

    #[test]
    fn component_limits_become_the_limits_trait() {
        let mut limited = scale("tight");
        limited.limits = trellis_types::manifest::Limits { max_execution_time_ms: Some(2000), max_linear_memory_bytes: Some(1 << 20) };
        let assignment = limited.assignment(&Capabilities::default()).unwrap();
        let limits = assignment.manifest.component("tight").unwrap().limits();
        assert_eq!((limits.max_execution_time_ms, limits.max_linear_memory_bytes), (Some(2000), Some(1 << 20)));
    }

    #[test]
    fn an_id_that_is_no_subject_token_is_refused_by_name() {
        let err = scale("a.b").assignment(&Capabilities::default()).unwrap_err();
        assert!(err.contains("a.b"), "{err}");
    }
}
