//! A `WasmCloudHostConfig` → the objects that run its hosts: a pure function of the object and
//! the operator's settings, so it is tested without a cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::{Resource as _, ResourceExt as _};
use serde_json::{Value, json};

use crate::crd::WasmCloudHostConfig;
use crate::merge::merge;

/// The prefix upstream gives host labels on pods, so selectors written for it keep working.
pub const HOST_LABEL_PREFIX: &str = "host-label.k8s.wasmcloud.dev/";
/// `app.kubernetes.io/name` of every host pod, as upstream.
pub(crate) const POD_NAME_LABEL: (&str, &str) = ("app.kubernetes.io/name", "wasmcloud");
/// `app.kubernetes.io/instance`: the WasmCloudHostConfig a pod belongs to.
pub(crate) const POD_INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The host container's name, as upstream (`kubectl logs -c wasmcloud-host`).
pub const HOST_CONTAINER: &str = "wasmcloud-host";
/// `app.kubernetes.io/managed-by` of everything the operator makes.
pub(crate) const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "trellis-operator");

const DEFAULT_NATS_ADDRESS: &str = "nats://nats.default.svc.cluster.local";
const DEFAULT_NATS_PORT: u16 = 4222;
const CREDS_DIR: &str = "/var/run/secrets/nats";
const REGISTRY_DIR: &str = "/var/run/secrets/registry";
const STATE_DIR: &str = "/var/lib/trellis";
/// Where every host pod serves Prometheus metrics, announced by the usual `prometheus.io/*`
/// annotations.
pub(crate) const METRICS_PORT: u16 = 9464;

/// What the operator brings to every WasmCloudHostConfig.
#[derive(Debug, Clone)]
pub struct HostDefaults {
    /// The host image when the object names none.
    pub image: String,
    /// Its pull policy, if the operator was told one (`Never` for imported images).
    pub image_pull_policy: Option<String>,
}

/// A field of the object that cannot be turned into a pod, named as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub(crate) struct FieldError {
    /// e.g. `hostLabels.zone`, `schedulingOptions.podTemplateAdditions`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// The host pods' controller: a Deployment, or a DaemonSet with `schedulingOptions.daemonset`.
#[derive(Debug, Clone)]
pub(crate) enum Workload {
    /// `hostReplicas` pods.
    Deployment(Deployment),
    /// One pod per node.
    DaemonSet(DaemonSet),
}

/// Everything one WasmCloudHostConfig becomes.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The pods' identity; it mounts no API token (hosts never call the Kubernetes API).
    pub service_account: ServiceAccount,
    /// The pods.
    pub workload: Workload,
    /// Fields set on the object that Trellis does not act on, with why.
    pub unhonoured: Vec<String>,
}

/// The pods' selector labels: the same as upstream's.
pub(crate) fn selector_labels(whc: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(POD_NAME_LABEL.0.to_owned(), POD_NAME_LABEL.1.to_owned()), (POD_INSTANCE_LABEL.to_owned(), whc.to_owned())])
}

/// Whether `value` is a valid label value (63 characters of `[A-Za-z0-9._-]`, alphanumeric at the ends).
fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// The pod label a host label becomes, checked as Kubernetes will check it.
fn pod_label(key: &str, value: &str) -> Result<(String, String), FieldError> {
    let field = format!("hostLabels.{key}");
    if !is_label_value(key) || key.is_empty() {
        return Err(field_error(field, format!("`{key}` cannot be the name part of a pod label `{HOST_LABEL_PREFIX}<key>`: use up to 63 letters, digits, `-`, `_`, `.`")));
    }
    if !is_label_value(value) {
        return Err(field_error(field, format!("`{value}` is not a valid label value: up to 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit")));
    }
    Ok((format!("{HOST_LABEL_PREFIX}{key}"), value.to_owned()))
}

fn nats_url(address: Option<&str>, port: Option<u16>) -> Result<String, FieldError> {
    let address = address.unwrap_or(DEFAULT_NATS_ADDRESS);
    let port = port.unwrap_or(DEFAULT_NATS_PORT);
    let (scheme, host) = match address.split_once("://") {
        Some((scheme, host)) => (scheme, host),
        None => ("nats", address),
    };
    if !matches!(scheme, "nats" | "tls") || host.is_empty() || host.contains(['/', ' ']) {
        return Err(field_error("natsAddress", format!("`{address}` is not a NATS address such as nats://nats.default.svc.cluster.local")));
    }
    Ok(format!("{scheme}://{host}:{port}"))
}

fn log_level(level: Option<&str>) -> Result<String, FieldError> {
    let level = level.unwrap_or("INFO").to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        "critical" => Ok("error".into()),
        _ => Err(field_error("logLevel", format!("`{level}` is not one of TRACE, DEBUG, INFO, WARN, ERROR"))),
    }
}

/// Fields upstream reads that mean nothing to a Trellis host, with the reason given to the user.
fn unhonoured(whc: &WasmCloudHostConfig) -> Vec<String> {
    let spec = &whc.spec;
    let mut out = Vec::new();
    let mut note = |set: bool, field: &str, why: &str| {
        if set {
            out.push(format!("{field} ({why})"));
        }
    };
    note(spec.nats_leaf_image.is_some(), "natsLeafImage", "Trellis hosts connect to NATS directly, with no leaf sidecar");
    note(spec.leaf_node_domain.is_some(), "leafNodeDomain", "no leaf node");
    note(spec.nats_leafnode_port.is_some(), "natsLeafnodePort", "no leaf node");
    note(spec.jetstream_domain.is_some(), "jetstreamDomain", "hosts keep no JetStream state; the manager's domain is its own setting");
    note(spec.control_topic_prefix.is_some(), "controlTopicPrefix", "the control interface is always wasmbus.ctl");
    note(spec.config_service_enabled == Some(true), "configServiceEnabled", "no config service");
    note(spec.policy_service.is_some(), "policyService", "no policy service");
    note(spec.certificates.is_some(), "certificates", "extra certificate authorities are not read");
    note(spec.version.is_some() && spec.image.is_none(), "version", "Trellis runs its own image: set `image` to choose one");
    let scheduling = spec.scheduling_options.as_ref();
    let resources = scheduling.and_then(|s| s.resources.as_ref());
    note(resources.and_then(|r| r.get("nats")).is_some(), "schedulingOptions.resources.nats", "no NATS sidecar");
    let additions = scheduling.and_then(|s| s.container_template_additions.as_ref());
    note(additions.and_then(|a| a.get("nats")).is_some(), "schedulingOptions.containerTemplateAdditions.nats", "no NATS sidecar");
    out
}

/// Upstream's `observability` object (`enable`, `endpoint`, `protocol`, and `traces`, `metrics`,
/// `logs` each with `enable` and `endpoint`) as the host's wasmCloud variables.
fn observability_env(value: &Value) -> Result<Vec<Value>, FieldError> {
    let object = value.as_object().ok_or_else(|| field_error("observability", "must be an object"))?;
    let mut env = Vec::new();
    let mut var = |name: &str, value: String| env.push(json!({"name": name, "value": value}));
    let boolean = |field: &str, v: &Value| v.as_bool().ok_or_else(|| field_error(field, format!("`{v}` is not true or false")));
    let url = |field: &str, v: &Value| match v.as_str() {
        Some(s) if s.starts_with("http://") || s.starts_with("https://") => Ok(s.to_owned()),
        _ => Err(field_error(field, format!("`{v}` is not an http:// or https:// URL"))),
    };
    if let Some(v) = object.get("enable") {
        var("WASMCLOUD_OBSERVABILITY_ENABLED", boolean("observability.enable", v)?.to_string());
    }
    if let Some(v) = object.get("endpoint") {
        var("WASMCLOUD_OVERRIDE_OBSERVABILITY_ENDPOINT", url("observability.endpoint", v)?);
    }
    if let Some(v) = object.get("protocol") {
        let protocol = match v.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => "http",
            Some("grpc") => "grpc",
            _ => return Err(field_error("observability.protocol", format!("`{v}` is not Http or Grpc"))),
        };
        var("WASMCLOUD_OBSERVABILITY_PROTOCOL", protocol.to_owned());
    }
    for signal in ["traces", "metrics", "logs"] {
        let Some(config) = object.get(signal) else { continue };
        let upper = signal.to_ascii_uppercase();
        if let Some(v) = config.get("enable") {
            var(&format!("WASMCLOUD_{upper}_ENABLED"), boolean(&format!("observability.{signal}.enable"), v)?.to_string());
        }
        if let Some(v) = config.get("endpoint") {
            var(&format!("WASMCLOUD_OVERRIDE_{upper}_ENDPOINT"), url(&format!("observability.{signal}.endpoint"), v)?);
        }
    }
    Ok(env)
}

/// `resources.wasmcloud`, or `resources.wasmCloudHost` as wasmcloud-platform's chart writes it.
fn host_part(value: Option<&Value>) -> Option<(&'static str, &Value)> {
    let value = value?;
    value.get("wasmcloud").map(|v| ("wasmcloud", v)).or_else(|| value.get("wasmCloudHost").map(|v| ("wasmCloudHost", v)))
}

/// The ServiceAccount and the workload of `whc`.
pub(crate) fn render(whc: &WasmCloudHostConfig, defaults: &HostDefaults) -> Result<Rendered, FieldError> {
    let spec = &whc.spec;
    let name = whc.name_any();
    if spec.lattice.is_empty() || spec.lattice.contains(['.', '*', '>', ' ']) {
        return Err(field_error("lattice", format!("`{}` cannot be a lattice name: it is a NATS subject token (no `.`, `*`, `>` or spaces)", spec.lattice)));
    }
    let mut labels = selector_labels(&name);
    let mut args = vec![json!("host")];
    for (key, value) in spec.host_labels.iter().flatten() {
        let (label, value) = pod_label(key, value)?;
        labels.insert(label, value.clone());
        args.push(json!("--label"));
        args.push(json!(format!("{key}={value}")));
    }
    let mut env = vec![
        json!({"name": "WASMCLOUD_LATTICE", "value": spec.lattice}),
        json!({"name": "TRELLIS_NATS", "value": nats_url(spec.nats_address.as_deref(), spec.nats_client_port)?}),
        json!({"name": "WASMCLOUD_LOG_LEVEL", "value": log_level(spec.log_level.as_deref())?}),
        json!({"name": "TRELLIS_STATE_DIR", "value": STATE_DIR}),
        json!({"name": "TRELLIS_METRICS_LISTEN", "value": format!("0.0.0.0:{METRICS_PORT}")}),
    ];
    if spec.enable_structured_logging == Some(true) {
        env.push(json!({"name": "WASMCLOUD_STRUCTURED_LOGGING_ENABLED", "value": "true"}));
    }
    if let Some(observability) = &spec.observability {
        env.extend(observability_env(observability)?);
    }
    let mut volumes = vec![json!({"name": "state", "emptyDir": {}})];
    let mut mounts = vec![json!({"name": "state", "mountPath": STATE_DIR})];
    if spec.allow_latest == Some(true) {
        env.push(json!({"name": "WASMCLOUD_OCI_ALLOW_LATEST", "value": "true"}));
    }
    if let Some(insecure) = spec.allowed_insecure.as_ref().filter(|i| !i.is_empty()) {
        env.push(json!({"name": "WASMCLOUD_OCI_ALLOWED_INSECURE", "value": insecure.join(",")}));
    }
    if let Some(bytes) = spec.max_linear_memory_bytes {
        env.push(json!({"name": "WASMCLOUD_MAX_LINEAR_MEMORY", "value": bytes.to_string()}));
    }
    if let Some(prefix) = &spec.secrets_topic_prefix {
        env.push(json!({"name": "WASMCLOUD_SECRETS_TOPIC", "value": prefix}));
    }
    if let Some(secret) = &spec.secret_name {
        env.push(json!({"name": "WASMCLOUD_NATS_CREDS", "value": format!("{CREDS_DIR}/nats.creds")}));
        volumes.push(json!({"name": "nats-creds", "secret": {"secretName": secret, "items": [{"key": "nats.creds", "path": "nats.creds"}]}}));
        mounts.push(json!({"name": "nats-creds", "mountPath": CREDS_DIR, "readOnly": true}));
    }
    if let Some(secret) = &spec.registry_credentials_secret {
        env.push(json!({"name": "TRELLIS_REGISTRY_AUTH_FILE", "value": format!("{REGISTRY_DIR}/config.json")}));
        volumes.push(json!({"name": "registry-credentials", "secret": {"secretName": secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}));
        mounts.push(json!({"name": "registry-credentials", "mountPath": REGISTRY_DIR, "readOnly": true}));
    }
    let mut container = json!({
        "name": HOST_CONTAINER,
        "image": spec.image.as_deref().unwrap_or(&defaults.image),
        "args": args,
        "env": env,
        "volumeMounts": mounts,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        // The host's last words (e.g. "connecting to NATS at ...: refused") become the pod's
        // termination message, which the Ready condition repeats.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}},
    });
    if let Some(policy) = &defaults.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    let scheduling = spec.scheduling_options.as_ref();
    if let Some((key, resources)) = host_part(scheduling.and_then(|s| s.resources.as_ref())) {
        let field = format!("schedulingOptions.resources.{key}");
        let checked: k8s_openapi::api::core::v1::ResourceRequirements = serde_json::from_value(resources.clone()).map_err(|e| field_error(&field, format!("not ResourceRequirements: {e}")))?;
        container["resources"] = serde_json::to_value(checked).expect("resources serialize");
    }
    if let Some((key, additions)) = host_part(scheduling.and_then(|s| s.container_template_additions.as_ref())) {
        if !additions.is_object() {
            return Err(field_error(format!("schedulingOptions.containerTemplateAdditions.{key}"), "must be a Container object"));
        }
        merge(&mut container, additions);
    }
    let mut pod_spec = json!({"serviceAccountName": name, "containers": [container], "volumes": volumes});
    if let Some(additions) = scheduling.and_then(|s| s.pod_template_additions.as_ref()) {
        if !additions.is_object() {
            return Err(field_error("schedulingOptions.podTemplateAdditions", "must be a PodSpec object"));
        }
        merge(&mut pod_spec, additions);
    }
    let annotations = json!({"prometheus.io/scrape": "true", "prometheus.io/port": METRICS_PORT.to_string(), "prometheus.io/path": "/metrics"});
    let template = json!({"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec});
    let template: PodTemplateSpec = serde_json::from_value(template).map_err(|e| field_error("schedulingOptions (template additions)", format!("the merged pod template is not a valid PodTemplateSpec: {e}")))?;

    let owner: OwnerReference = whc.controller_owner_ref(&()).expect("a stored object has a uid");
    let mut meta_labels = selector_labels(&name);
    meta_labels.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
    let meta = ObjectMeta { name: Some(name.clone()), namespace: whc.namespace(), labels: Some(meta_labels), owner_references: Some(vec![owner]), ..ObjectMeta::default() };
    let selector = LabelSelector { match_labels: Some(selector_labels(&name)), ..LabelSelector::default() };
    let workload = if scheduling.and_then(|s| s.daemonset) == Some(true) {
        Workload::DaemonSet(DaemonSet { metadata: meta.clone(), spec: Some(DaemonSetSpec { selector, template, ..DaemonSetSpec::default() }), status: None })
    } else {
        let replicas = spec.host_replicas.unwrap_or(1);
        let replicas = i32::try_from(replicas).map_err(|_| field_error("hostReplicas", format!("{replicas} is more than a Deployment can hold")))?;
        Workload::Deployment(Deployment { metadata: meta.clone(), spec: Some(DeploymentSpec { replicas: Some(replicas), selector, template, ..DeploymentSpec::default() }), status: None })
    };
    let service_account = ServiceAccount { metadata: meta, automount_service_account_token: Some(false), ..ServiceAccount::default() };
    Ok(Rendered { service_account, workload, unhonoured: unhonoured(whc) })
}

#[cfg(test)]
mod tests;
