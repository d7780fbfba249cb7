//! `Application` (`core.oam.dev/v1beta1`): a wadm manifest, stored by the API server as it was
//! applied. A CRD rather than upstream's aggregated API, so `kubectl get -w`, `delete`, GitOps
//! tools and namespaces work as for any other object, with no TLS to set up.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The manifest's `spec` (`components`, `policies`), exactly as written. It is checked by the
/// same parser `trellis app validate` uses, so a bad manifest gets the same messages.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "core.oam.dev",
    version = "v1beta1",
    kind = "Application",
    namespaced,
    shortname = "app",
    category = "oam",
    status = "ApplicationStatus",
    doc = "A wadm application manifest, deployed by the Trellis deployment manager of the namespace's lattice",
    printcolumn(name = "Deployed Version", type_ = "string", json_path = ".status.deployedVersion"),
    printcolumn(name = "Latest Version", type_ = "string", json_path = ".status.latestVersion"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Lattice", type_ = "string", json_path = ".status.lattice", priority = 1),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.message", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(transparent)]
pub struct ApplicationSpec(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for ApplicationSpec {
    fn schema_name() -> Cow<'static, str> {
        "ApplicationSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        super::preserved_object(generator)
    }
}

/// `status.phase`: upstream's four values, which Argo CD health checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Stored, not deployed.
    Undeployed,
    /// Deployed, and the lattice is getting there.
    Reconciling,
    /// Everything the manifest asks for runs.
    Deployed,
    /// Refused, or failing: `message` and the conditions say why.
    Failed,
}

/// What the operator and the deployment manager report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Where the application is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The version the manager has deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_version: Option<String>,
    /// The newest version the manager stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// The lattice it is deployed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice: Option<String>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Each scaler's status, as `trellis app status` shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scalers: Vec<ScalerState>,
    /// The Services made for its HTTP listeners.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// `Valid`, `Synced`, `Ready`, `ServiceReachable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One scaler of the deployed version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScalerState {
    /// `SpreadScaler`, `DaemonScaler`, `LinkScaler`, ...
    pub kind: String,
    /// Which component or link it scales.
    pub name: String,
    /// `deployed`, `reconciling`, `failed`, ...
    pub status: String,
    /// Why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
