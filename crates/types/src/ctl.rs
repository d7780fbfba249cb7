//! The control interface's reply envelope (`wasmbus.ctl.v1.<lattice>.*`), as wasmCloud sends it.

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
