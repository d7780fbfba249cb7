//! What the manager asks of a host, and what a host reports back.
//!
//! The manager places an application's components on hosts; each host receives its
//! [`Assignment`] for that application (the manifest plus how many concurrent instances of
//! each component to run there) and reports what it runs in a [`HostReport`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;

/// The prefix of the subjects a Trellis manager places applications on hosts with
/// (`trellis.host.v1.<lattice>.<host>.apply|remove`, `.heartbeat`, `.claims`).
pub fn placement_prefix(lattice: &str) -> String {
    format!("trellis.host.v1.{lattice}")
}

/// One application's share of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The manifest version to run.
    pub manifest: Arc<Manifest>,
    /// Where relative image paths in the manifest resolve.
    pub base_dir: PathBuf,
    /// Component name → maximum concurrent instances on this host. Components not listed do not
    /// run here.
    pub components: BTreeMap<String, u32>,
    /// Named config the manifest references but does not define, resolved by the manager.
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
    /// A digest of all of the above: equal revisions mean nothing to do.
    pub revision: String,
}

/// What a host runs and what it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host's id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Application name → what runs of it here.
    pub apps: BTreeMap<String, AppOnHost>,
}

/// One application's state on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOnHost {
    /// The revision running, if one deployed.
    pub revision: Option<String>,
    /// The manifest version running.
    pub version: Option<String>,
    /// Component name → maximum concurrent instances running.
    pub components: BTreeMap<String, u32>,
    /// What it serves here, as `URL -> component`.
    pub routes: Vec<String>,
    /// Warnings of the last deploy.
    pub warnings: Vec<String>,
    /// Capabilities failing their health checks, as `field: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<String>,
    /// The last attempt that failed, if the newest attempt failed.
    pub failure: Option<Failure>,
}

/// Why applying an assignment failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The revision that failed.
    pub revision: String,
    /// The manifest field at fault, if known (e.g. `spec.components[0].properties.image`).
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// An [`Assignment`] as it travels from the manager to a host over the lattice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignmentMessage {
    /// The manifest, in wadm's JSON form.
    pub manifest: serde_json::Value,
    /// Where relative image paths resolve (on the host's file system).
    pub base_dir: PathBuf,
    /// Component name → maximum concurrent instances on this host.
    pub components: BTreeMap<String, u32>,
    /// Named config the manifest references but does not define.
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
    /// See [`Assignment::revision`].
    pub revision: String,
}

impl From<&Assignment> for AssignmentMessage {
    fn from(a: &Assignment) -> AssignmentMessage {
        AssignmentMessage {
            manifest: serde_json::to_value(a.manifest.as_ref()).expect("manifests serialize"),
            base_dir: a.base_dir.clone(),
            components: a.components.clone(),
            configs: a.configs.clone(),
            revision: a.revision.clone(),
        }
    }
}

impl TryFrom<AssignmentMessage> for Assignment {
    type Error = crate::manifest::ManifestErrors;

    fn try_from(m: AssignmentMessage) -> Result<Assignment, Self::Error> {
        let text = m.manifest.to_string();
        let manifest = Manifest::parse("the manager's assignment", &text)?;
        Ok(Assignment { manifest: Arc::new(manifest), base_dir: m.base_dir, components: m.components, configs: m.configs, revision: m.revision })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_survives_the_wire() {
        let yaml = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: app\n  annotations:\n    version: v1\nspec:\n  components:\n    - name: hello\n      type: component\n      properties:\n        image: file://hello.wasm\n      traits:\n        - type: spreadscaler\n          properties:\n            instances: 2\n            spread:\n              - name: eu\n                weight: 3\n                requirements:\n                  region: eu\n";
        let manifest = Manifest::parse("app.yaml", yaml).unwrap();
        let assignment = Assignment {
            manifest: Arc::new(manifest),
            base_dir: PathBuf::from("/apps"),
            components: BTreeMap::from([("hello".to_owned(), 2)]),
            configs: BTreeMap::from([("c".to_owned(), BTreeMap::from([("k".to_owned(), "v".to_owned())]))]),
            revision: "r1".into(),
        };
        let json = serde_json::to_string(&AssignmentMessage::from(&assignment)).unwrap();
        let back = Assignment::try_from(serde_json::from_str::<AssignmentMessage>(&json).unwrap()).unwrap();
        assert_eq!(back, assignment);
    }
}
