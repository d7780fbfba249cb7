//! wasmCloud's control interface (`wasmbus.ctl.v1.<lattice>.*`), typed once for the hosts that
//! answer it and the CLI that asks: requests by subject ([`Request`]), their bodies and bids
//! ([`ScaleComponentCommand`], ...), the reply envelope ([`CtlReply`]); and the lattice data behind `link.*` and `config.*`: links kept per source as wasmCloud hosts
//! keep them in `LATTICEDATA_<lattice>`, with the rules a `link.put` follows.

mod commands;
mod request;

pub use commands::{AuctionBid, AuctionRequest, HostLabel, ScaleComponentCommand, StartProviderCommand, StopProviderCommand, UpdateComponentCommand};
pub use request::{HostOp, Request, Verb};

use serde::{Deserialize, Serialize};

/// Every control-interface reply: whether it worked, a message, and maybe a body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CtlReply<T = serde_json::Value> {
    /// Whether the request did what it asked.
    pub success: bool,
    /// For people; the reason when `success` is false.
    #[serde(default)]
    pub message: String,
    /// The answer, for reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<T> CtlReply<T> {
    /// Success with a body.
    pub fn ok(response: T) -> CtlReply<T> {
        CtlReply { success: true, message: String::new(), response: Some(response) }
    }

    /// Success with only a message.
    pub fn done(message: impl Into<String>) -> CtlReply<T> {
        CtlReply { success: true, message: message.into(), response: None }
    }

    /// Failure, with the reason.
    pub fn fail(message: impl Into<String>) -> CtlReply<T> {
        CtlReply { success: false, message: message.into(), response: None }
    }
}

/// A link as the control interface carries it (`link.put`, `link.get`, `linkdef_*` events): one of
/// `source_id`'s imports (`wit_namespace:wit_package/<interface>` under link name `name`) bound to
/// `target`, with named config for each end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The component (or provider) whose import this binds.
    pub source_id: String,
    /// The component (or provider) that answers.
    pub target: String,
    /// The link name; `default` when absent.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// `wasi` in `wasi:keyvalue/store`.
    pub wit_namespace: String,
    /// `keyvalue` in `wasi:keyvalue/store`.
    pub wit_package: String,
    /// `store` in `wasi:keyvalue/store`.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Names of config for the source end.
    #[serde(default)]
    pub source_config: Vec<String>,
    /// Names of config for the target end.
    #[serde(default)]
    pub target_config: Vec<String>,
}

fn default_link_name() -> String {
    "default".to_owned()
}

impl Link {
    /// The `default` link from `source` to `target` binding `interfaces` of
    /// `namespace:package`, with no config.
    pub fn new(source: &str, target: &str, (namespace, package): (&str, &str), interfaces: &[&str]) -> Link {
        Link {
            source_id: source.to_owned(),
            target: target.to_owned(),
            name: default_link_name(),
            wit_namespace: namespace.to_owned(),
            wit_package: package.to_owned(),
            interfaces: interfaces.iter().map(|i| (*i).to_owned()).collect(),
            source_config: Vec::new(),
            target_config: Vec::new(),
        }
    }

    /// Whether `self` and `other` bind the same imports of the same source: same source, link
    /// name and package, and at least one interface in common.
    pub fn overlaps(&self, other: &Link) -> bool {
        self.same_slot(&other.source_id, &other.name, &other.wit_namespace, &other.wit_package)
            && self.interfaces.iter().any(|i| other.interfaces.contains(i))
    }

    /// Whether `self` is the link of `source` named `name` on package `namespace:package`: what
    /// `link.del` names.
    pub fn same_slot(&self, source: &str, name: &str, namespace: &str, package: &str) -> bool {
        self.source_id == source && self.name == name && self.wit_namespace == namespace && self.wit_package == package
    }
}

/// The body of `link.del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDelete {
    /// The link's source.
    pub source_id: String,
    /// The link name; `default` when absent.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// Its package's namespace.
    pub wit_namespace: String,
    /// Its package.
    pub wit_package: String,
}

/// What the keys of link records start with in `LATTICEDATA_<lattice>` (`COMPONENT_<source id>`);
/// wasmCloud keeps other records (`CLAIMS_*`) there too.
pub const LINKS_KEY_PREFIX: &str = "COMPONENT_";

/// The bucket wasmCloud hosts keep links in: `LATTICEDATA_<lattice>`.
pub fn links_bucket(lattice: &str) -> String {
    format!("LATTICEDATA_{lattice}")
}

/// The bucket wasmCloud hosts keep named config in: `CONFIGDATA_<lattice>`, config name → JSON
/// object of strings.
pub fn configs_bucket(lattice: &str) -> String {
    format!("CONFIGDATA_{lattice}")
}

/// The subjects under which the acting Trellis manager answers `link.*` and `config.*` for
/// the hosts that relay them to it: `trellis.manager.v1.<lattice>`.
pub fn manager_data_prefix(lattice: &str) -> String {
    format!("trellis.manager.v1.{lattice}")
}

/// The links whose source is one component or provider, as wasmCloud stores them under
/// `COMPONENT_<source id>`: `{"url", "links"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLinks {
    /// The source's image, where known; wasmCloud writes it, nothing in Trellis reads it.
    #[serde(default)]
    pub url: String,
    /// Its links.
    pub links: Vec<Link>,
}

impl SourceLinks {
    /// Adds `link` by wasmCloud's rules, or says why it cannot be: every field named, some
    /// interface, every named config known to `config_exists`; an import some stored link
    /// already binds to another target is refused, and a link with the same source, target,
    /// name and package is replaced.
    pub fn put(&mut self, link: Link, config_exists: impl Fn(&str) -> bool) -> Result<(), String> {
        for (field, value) in [("source_id", &link.source_id), ("target", &link.target), ("wit_namespace", &link.wit_namespace), ("wit_package", &link.wit_package)] {
            if value.is_empty() {
                return Err(format!("the link's `{field}` is empty"));
            }
        }
        if link.interfaces.is_empty() {
            return Err(format!("the link from `{}` to `{}` names no interfaces of {}:{}", link.source_id, link.target, link.wit_namespace, link.wit_package));
        }
        if let Some(missing) = link.source_config.iter().chain(&link.target_config).find(|name| !config_exists(name)) {
            return Err(format!("configuration `{missing}` not found in config store; put it first (`trellis config put {missing} KEY=VALUE`)"));
        }
        let same = |l: &Link| l.same_slot(&link.source_id, &link.name, &link.wit_namespace, &link.wit_package) && l.target == link.target;
        if let Some(other) = self.links.iter().find(|l| !same(l) && l.overlaps(&link)) {
            return Err(format!(
                "link already exists with different target ({}), consider deleting the existing link or using a different link name than `{}`",
                other.target, link.name
            ));
        }
        self.links.retain(|l| !same(l));
        self.links.push(link);
        Ok(())
    }

    /// Removes the links `delete` names (source, name and package; any target), returning them.
    pub fn delete(&mut self, delete: &LinkDelete) -> Vec<Link> {
        let (removed, kept) = std::mem::take(&mut self.links)
            .into_iter()
            .partition(|l| l.same_slot(&delete.source_id, &delete.name, &delete.wit_namespace, &delete.wit_package));
        self.links = kept;
        removed
    }
}

impl LinkDelete {
    /// The data of the `linkdef_deleted` event for this delete, which took `removed`: wasmCloud
    /// adds the target and interfaces when there was a link, and sends the event either way.
    pub fn event_data(&self, removed: &[Link]) -> serde_json::Value {
        let mut data = serde_json::to_value(self).expect("link deletes serialize");
        if let Some(gone) = removed.first() {
            data["target"] = gone.target.clone().into();
            data["interfaces"] = removed.iter().flat_map(|l| l.interfaces.clone()).collect::<Vec<_>>().into();
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(source: &str, target: &str, interfaces: &[&str]) -> Link {
        Link::new(source, target, ("wasi", "keyvalue"), interfaces)
    }

    #[test]
    fn puts_follow_wasmclouds_rules() {
        let mut stored = SourceLinks::default();
        stored.put(link("a", "kv1", &["store"]), |_| true).unwrap();
        // Same source, target, name and package: replaced, not added.
        stored.put(link("a", "kv1", &["store", "atomics"]), |_| true).unwrap();
        assert_eq!(stored.links, [link("a", "kv1", &["store", "atomics"])]);
        // The same import bound to another target: refused, naming the one there.
        let clash = stored.put(link("a", "kv2", &["atomics"]), |_| true).unwrap_err();
        assert!(clash.contains("different target (kv1)"), "{clash}");
        // Disjoint interfaces of one package may go to different targets (wadm#514).
        stored.put(link("a", "kv2", &["batch"]), |_| true).unwrap();
        assert_eq!(stored.links.len(), 2);
        let mut configured = link("a", "kv3", &["watcher"]);
        configured.target_config = vec!["nope".into()];
        let missing = stored.put(configured, |name| name != "nope").unwrap_err();
        assert!(missing.contains("configuration `nope` not found"), "{missing}");
        assert!(stored.put(link("a", "kv1", &[]), |_| true).unwrap_err().contains("names no interfaces"));
        assert!(stored.put(link("", "kv1", &["store"]), |_| true).unwrap_err().contains("`source_id` is empty"));
        assert_eq!(stored.links.len(), 2, "refused puts change nothing");
    }

    #[test]
    fn deletes_match_source_name_and_package_whatever_the_target() {
        let mut stored = SourceLinks::default();
        stored.put(link("a", "kv1", &["store"]), |_| true).unwrap();
        stored.put(link("a", "kv2", &["batch"]), |_| true).unwrap();
        let delete = LinkDelete { source_id: "a".into(), name: "default".into(), wit_namespace: "wasi".into(), wit_package: "keyvalue".into() };
        let removed = stored.delete(&delete);
        assert_eq!(removed.len(), 2);
        assert!(stored.links.is_empty());
        let data = delete.event_data(&removed);
        assert_eq!((data["target"].as_str(), data["interfaces"].as_array().map(Vec::len)), (Some("kv1"), Some(2)));
        // Nothing to delete: the event still goes, without a target.
        assert!(delete.event_data(&[]).get("target").is_none());
    }
}
