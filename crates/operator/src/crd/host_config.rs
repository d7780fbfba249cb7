//! `WasmCloudHostConfig` (`k8s.wasmcloud.dev/v1alpha1`), with wasmcloud-operator's fields and
//! defaults, so an object written for it is accepted unchanged.
//!
//! Fields are optional here even where upstream fills a default: the operator applies the
//! default itself, and can then tell a field the user set (and Trellis does not honour) from one
//! left alone, and say so in a condition.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many host pods, on which lattice, with which labels and settings.
#[derive(CustomResource, Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "k8s.wasmcloud.dev",
    version = "v1alpha1",
    kind = "WasmCloudHostConfig",
    namespaced,
    shortname = "whc",
    status = "WasmCloudHostConfigStatus",
    doc = "Trellis hosts joined to one lattice, run as a Deployment (or DaemonSet) of the namespace",
    printcolumn(name = "Lattice", type_ = "string", json_path = ".spec.lattice"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.hostReplicas"),
    printcolumn(name = "App Count", type_ = "integer", json_path = ".status.app_count"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct WasmCloudHostConfigSpec {
    /// Host pods of a Deployment (default 1); ignored with `schedulingOptions.daemonset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_replicas: Option<u32>,
    /// The lattice the hosts join.
    pub lattice: String,
    /// Labels of every host, also set on the pods as `host-label.k8s.wasmcloud.dev/<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_labels: Option<BTreeMap<String, String>>,
    /// The wasmCloud release upstream runs; Trellis runs its own image (`image`, or the operator's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The host image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Upstream's NATS leaf sidecar image. Trellis hosts connect to NATS directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_leaf_image: Option<String>,
    /// A Secret whose key `nats.creds` holds the hosts' NATS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// JSON logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_structured_logging: Option<bool>,
    /// A `kubernetes.io/dockerconfigjson` Secret with credentials for the registries components come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_credentials_secret: Option<String>,
    /// Upstream: a prefix for control-interface subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_topic_prefix: Option<String>,
    /// Upstream: the leaf node's JetStream domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_node_domain: Option<String>,
    /// Upstream: the host asks a config service for its settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_service_enabled: Option<bool>,
    /// NATS server the hosts connect to (default `nats://nats.default.svc.cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_address: Option<String>,
    /// NATS client port (default 4222).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_client_port: Option<u16>,
    /// Upstream: the leaf node port of the NATS server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_leafnode_port: Option<u16>,
    /// Upstream: the JetStream domain of the lattice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetstream_domain: Option<String>,
    /// Allow components by the `latest` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_latest: Option<bool>,
    /// Registries pulled from over plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_insecure: Option<Vec<String>>,
    /// `TRACE`, `DEBUG`, `INFO` (default), `WARN` or `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Upstream: a policy service the host asks before starting anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub policy_service: Option<serde_json::Value>,
    /// Where and how host pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_options: Option<SchedulingOptions>,
    /// Upstream: OpenTelemetry settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub observability: Option<serde_json::Value>,
    /// Upstream: extra certificate authorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub certificates: Option<serde_json::Value>,
    /// Where wasmCloud secrets backends listen (`--secrets-topic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_topic_prefix: Option<String>,
    /// Cap on one component instance's linear memory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_linear_memory_bytes: Option<u64>,
}

/// `schedulingOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingOptions {
    /// One host pod per node (a DaemonSet) instead of `hostReplicas` of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemonset: Option<bool>,
    /// `{wasmcloud: ResourceRequirements, nats: ...}`; the platform chart writes `wasmCloudHost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub resources: Option<serde_json::Value>,
    /// Merged into the host pod's spec (lists of named items merge by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub pod_template_additions: Option<serde_json::Value>,
    /// `{wasmcloud: Container, nats: Container}` merged into the host container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::preserved_object")]
    pub container_template_additions: Option<serde_json::Value>,
}

/// What the operator observed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct WasmCloudHostConfigStatus {
    /// The applications deployed on the lattice.
    #[serde(default)]
    pub apps: Vec<AppRef>,
    /// How many (upstream's name and spelling).
    #[serde(default)]
    pub app_count: u32,
    /// `Ready`, `FieldsHonoured`, `ManagerReachable`.
    #[serde(default)]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The generation these conditions describe.
    #[serde(default, rename = "observedGeneration", skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One deployed application.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct AppRef {
    /// Its name.
    pub name: String,
    /// The version deployed.
    pub version: String,
}
