//! wasmCloud's launch contract, as `wasmcloud-provider-sdk` reads it: the HostData a provider
//! finds on its stdin, the link definitions it is sent, and the subjects it listens on.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use trellis_cap_secrets::{Exposed, SecretValue};

/// Secrets by the names a manifest gives them.
pub type Secrets = BTreeMap<String, SecretValue>;

/// One link a provider is the source or the target of, as wasmCloud's
/// `InterfaceLinkDefinition` carries it. Config and secrets are resolved to values before it is
/// sent; the secrets travel sealed to the one process they are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDefinition {
    /// The caller: a component id, or the provider's own id for the links it calls out on.
    pub source_id: String,
    /// What is called: the provider's id, or the component a provider calls.
    pub target: String,
    /// The link name (`default` unless the manifest names one).
    pub name: String,
    /// The linked interfaces' namespace, package and names (`wasi`, `keyvalue`, `[store]`).
    pub wit_namespace: String,
    /// See `wit_namespace`.
    pub wit_package: String,
    /// See `wit_namespace`.
    pub interfaces: Vec<String>,
    /// The link's source config, merged.
    pub source_config: BTreeMap<String, String>,
    /// The link's target config, merged.
    pub target_config: BTreeMap<String, String>,
    /// The link's source secrets: resolved only when the provider is the source.
    pub source_secrets: Secrets,
    /// The link's target secrets: resolved only when the provider is the target.
    pub target_secrets: Secrets,
}

impl LinkDefinition {
    /// Whether `other` is the same link, whatever its config: what a delete names.
    pub(crate) fn same_link(&self, other: &LinkDefinition) -> bool {
        (&self.source_id, &self.target, &self.name, &self.wit_namespace, &self.wit_package)
            == (&other.source_id, &other.target, &other.name, &other.wit_namespace, &other.wit_package)
    }

    /// The link as the provider reads it (`InterfaceLinkDefinition`), its secrets sealed with
    /// `keys`.
    pub(crate) fn to_wire(&self, keys: &Keys) -> Result<WireLink<'_>, String> {
        Ok(WireLink {
            source_id: &self.source_id,
            target: &self.target,
            name: &self.name,
            wit_namespace: &self.wit_namespace,
            wit_package: &self.wit_package,
            interfaces: &self.interfaces,
            source_config: &self.source_config,
            target_config: &self.target_config,
            source_secrets: keys.seal(&self.source_secrets)?,
            target_secrets: keys.seal(&self.target_secrets)?,
        })
    }
}

/// wasmCloud's `InterfaceLinkDefinition`, with each side's secrets as a JSON map sealed to the
/// provider's xkey (absent when there are none).
#[derive(Serialize)]
pub(crate) struct WireLink<'a> {
    source_id: &'a str,
    target: &'a str,
    name: &'a str,
    wit_namespace: &'a str,
    wit_package: &'a str,
    interfaces: &'a [String],
    source_config: &'a BTreeMap<String, String>,
    target_config: &'a BTreeMap<String, String>,
    source_secrets: Option<Vec<u8>>,
    target_secrets: Option<Vec<u8>>,
}

/// wasmCloud's `SecretValue` on the wire: `{"kind": "String", "value": "..."}`, or `Bytes` with
/// the bytes as a JSON array.
#[derive(Serialize)]
#[serde(tag = "kind", content = "value")]
pub(crate) enum WireSecret<'a> {
    String(&'a str),
    Bytes(&'a [u8]),
}

/// Secrets as the provider SDK reads them, by name.
pub(crate) fn wire_secrets(secrets: &Secrets) -> BTreeMap<&str, WireSecret<'_>> {
    secrets
        .iter()
        .map(|(name, value)| {
            let wire = match value.expose() {
                Exposed::String(s) => WireSecret::String(s),
                Exposed::Bytes(b) => WireSecret::Bytes(b),
            };
            (name.as_str(), wire)
        })
        .collect()
}

/// The xkeys of one provider process: a fresh pair per start, as wasmCloud makes them. The host
/// seals link secrets with its half to the provider's public key; only that process opens them.
pub(crate) struct Keys {
    host: nkeys::XKey,
    provider: nkeys::XKey,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        Keys { host: nkeys::XKey::new(), provider: nkeys::XKey::new() }
    }

    /// The host's public key, for HostData.
    pub(crate) fn host_public(&self) -> String {
        self.host.public_key()
    }

    /// The provider's public key: link puts go to a subject named for it.
    pub(crate) fn provider_public(&self) -> String {
        self.provider.public_key()
    }

    /// The provider's seed, for HostData.
    pub(crate) fn provider_seed(&self) -> Result<String, String> {
        self.provider.seed().map_err(|e| format!("making the provider's xkey: {e}"))
    }

    /// `secrets` as JSON sealed from the host to the provider, or nothing when there are none.
    fn seal(&self, secrets: &Secrets) -> Result<Option<Vec<u8>>, String> {
        if secrets.is_empty() {
            return Ok(None);
        }
        let json = serde_json::to_vec(&wire_secrets(secrets)).expect("secrets serialize");
        self.host.seal(&json, &self.provider).map(Some).map_err(|e| format!("sealing secrets for the provider: {e}"))
    }
}

/// How a provider reaches the lattice's NATS server: the host's own address and user.
#[derive(Debug, Clone, Default)]
pub struct RpcAccess {
    /// `nats://host:port`.
    pub url: String,
    /// A user JWT, with `seed`.
    pub jwt: Option<String>,
    /// The nkey seed that signs for `jwt`.
    pub seed: Option<String>,
}

/// wasmCloud's `HostData`, field for field as `wasmcloud-core` 0.21 reads it.
#[derive(Serialize)]
pub(crate) struct HostData<'a> {
    pub(crate) host_id: &'a str,
    pub(crate) lattice_rpc_prefix: &'a str,
    pub(crate) link_name: &'static str,
    pub(crate) lattice_rpc_user_jwt: &'a str,
    pub(crate) lattice_rpc_user_seed: &'a str,
    pub(crate) lattice_rpc_url: &'a str,
    pub(crate) provider_key: &'a str,
    pub(crate) env_values: BTreeMap<String, String>,
    pub(crate) instance_id: String,
    pub(crate) link_definitions: Vec<WireLink<'a>>,
    pub(crate) cluster_issuers: [&'static str; 0],
    pub(crate) config: &'a BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<&'a str, WireSecret<'a>>,
    pub(crate) host_xkey_public_key: String,
    pub(crate) provider_xkey_private_key: String,
    pub(crate) default_rpc_timeout_ms: u64,
    pub(crate) structured_logging: bool,
    pub(crate) log_level: &'static str,
    pub(crate) otel_config: OtelConfig,
}

/// What a provider exports, as `wasmcloud-core`'s `OtelConfig`: the host's own settings, so
/// the provider's spans join the host's traces at the same collector.
#[derive(Serialize, Default)]
pub(crate) struct OtelConfig {
    enable_observability: bool,
    enable_traces: Option<bool>,
    enable_metrics: Option<bool>,
    enable_logs: Option<bool>,
    traces_endpoint: Option<String>,
    metrics_endpoint: Option<String>,
    logs_endpoint: Option<String>,
    protocol: &'static str,
}

impl OtelConfig {
    /// The host process's settings, or export off when it has none.
    pub(crate) fn of_host(settings: Option<&trellis_telemetry::Settings>) -> OtelConfig {
        let Some(settings) = settings else { return OtelConfig { protocol: "Http", ..OtelConfig::default() } };
        let exports = [&settings.traces, &settings.metrics, &settings.logs];
        let protocol = match exports.iter().find_map(|e| e.as_ref()).map(|e| e.protocol) {
            Some(trellis_telemetry::Protocol::Grpc) => "Grpc",
            _ => "Http",
        };
        OtelConfig {
            enable_observability: exports.iter().any(|e| e.is_some()),
            enable_traces: Some(settings.traces.is_some()),
            enable_metrics: Some(settings.metrics.is_some()),
            enable_logs: Some(settings.logs.is_some()),
            traces_endpoint: settings.traces.as_ref().and_then(|e| e.endpoint.clone()),
            metrics_endpoint: settings.metrics.as_ref().and_then(|e| e.endpoint.clone()),
            logs_endpoint: settings.logs.as_ref().and_then(|e| e.endpoint.clone()),
            protocol,
        }
    }
}

/// The host's log filter as the level a provider takes (`info`, `debug`...): a bare level is
/// passed on, a filter with directives becomes `info`.
pub(crate) fn provider_log_level(settings: Option<&trellis_telemetry::Settings>) -> &'static str {
    let filter = settings.map_or("info", |s| s.log_filter.as_str());
    ["trace", "debug", "info", "warn", "error"].into_iter().find(|level| filter.eq_ignore_ascii_case(level)).unwrap_or("info")
}

impl HostData<'_> {
    /// What the host writes to the provider's stdin: base64 of the JSON, then a line end.
    pub(crate) fn to_stdin(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("host data serializes");
        let mut line = base64::engine::general_purpose::STANDARD.encode(json).into_bytes();
        line.extend_from_slice(b"\r\n");
        line
    }
}

/// The subjects a provider serves on lattice `lattice`.
pub(crate) struct Subjects<'a> {
    pub(crate) lattice: &'a str,
    pub(crate) provider_id: &'a str,
}

impl Subjects<'_> {
    pub(crate) fn health(&self) -> String {
        format!("wasmbus.rpc.{}.{}.health", self.lattice, self.provider_id)
    }

    pub(crate) fn shutdown(&self) -> String {
        format!("wasmbus.rpc.{}.{}.default.shutdown", self.lattice, self.provider_id)
    }

    /// Link puts go to one process, by the public xkey it was started with.
    pub(crate) fn link_put(&self, provider_xkey: &str) -> String {
        format!("wasmbus.rpc.{}.{provider_xkey}.linkdefs.put", self.lattice)
    }

    pub(crate) fn link_del(&self) -> String {
        format!("wasmbus.rpc.{}.{}.linkdefs.del", self.lattice, self.provider_id)
    }

    pub(crate) fn config_update(&self) -> String {
        format!("wasmbus.rpc.{}.{}.config.update", self.lattice, self.provider_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_data_is_base64_json_on_one_line() {
        let config = BTreeMap::from([("greeting".to_owned(), "hi".to_owned())]);
        let link = LinkDefinition {
            source_id: "app-caller".into(),
            target: "app-echo".into(),
            name: "default".into(),
            wit_namespace: "trellis".into(),
            wit_package: "plain".into(),
            interfaces: vec!["echo".into()],
            source_config: BTreeMap::new(),
            target_config: BTreeMap::from([("prefix".to_owned(), ">>".to_owned())]),
            source_secrets: Secrets::new(),
            target_secrets: Secrets::from([("db-password".to_owned(), SecretValue::string("pw"))]),
        };
        let own = Secrets::from([("token".to_owned(), SecretValue::string("t0k")), ("key".to_owned(), SecretValue::bytes([1u8, 2]))]);
        let keys = Keys::new();
        let data = HostData {
            host_id: "NHOST",
            lattice_rpc_prefix: "default",
            link_name: "default",
            lattice_rpc_user_jwt: "",
            lattice_rpc_user_seed: "",
            lattice_rpc_url: "nats://127.0.0.1:4222",
            provider_key: "app-echo",
            env_values: BTreeMap::new(),
            instance_id: "i".into(),
            link_definitions: vec![link.to_wire(&keys).unwrap()],
            cluster_issuers: [],
            config: &config,
            secrets: wire_secrets(&own),
            host_xkey_public_key: keys.host_public(),
            provider_xkey_private_key: keys.provider_seed().unwrap(),
            default_rpc_timeout_ms: 2000,
            structured_logging: false,
            log_level: "info",
            otel_config: OtelConfig::of_host(None),
        };
        let line = data.to_stdin();
        assert!(line.ends_with(b"\r\n") && !line[..line.len() - 2].contains(&b'\n'));
        let json: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(&line[..line.len() - 2]).unwrap()).unwrap();
        assert_eq!(json["provider_key"], "app-echo");
        assert_eq!(json["config"]["greeting"], "hi");
        assert_eq!(json["link_definitions"][0]["target_config"]["prefix"], ">>");
        assert_eq!(json["link_definitions"][0]["interfaces"][0], "echo");
        assert_eq!(json["otel_config"]["enable_observability"], false);
        assert_eq!(json["otel_config"]["protocol"], "Http");
        // The provider's own secrets travel in the open, as wasmCloud's `SecretValue`.
        assert_eq!(json["secrets"]["token"], serde_json::json!({"kind": "String", "value": "t0k"}));
        assert_eq!(json["secrets"]["key"], serde_json::json!({"kind": "Bytes", "value": [1, 2]}));
        // Link secrets are sealed: the provider opens them with its seed and the host's key,
        // as the SDK does; the side without secrets is absent.
        let wire = &json["link_definitions"][0];
        assert!(wire["source_secrets"].is_null());
        let sealed: Vec<u8> = serde_json::from_value(wire["target_secrets"].clone()).unwrap();
        assert!(!sealed.windows(2).any(|w| w == b"pw"), "the secret travels sealed");
        let provider = nkeys::XKey::from_seed(json["provider_xkey_private_key"].as_str().unwrap()).unwrap();
        let host = nkeys::XKey::from_public_key(json["host_xkey_public_key"].as_str().unwrap()).unwrap();
        let opened: serde_json::Value = serde_json::from_slice(&provider.open(&sealed, &host).unwrap()).unwrap();
        assert_eq!(opened, serde_json::json!({"db-password": {"kind": "String", "value": "pw"}}));
        // Another process's keys cannot open them.
        assert!(Keys::new().provider.open(&sealed, &host).is_err());
    }

    #[test]
    fn providers_get_the_hosts_exports() {
        let mut settings = trellis_telemetry::Settings::logs_only("debug");
        settings.traces = Some(trellis_telemetry::Export {
            protocol: trellis_telemetry::Protocol::Grpc,
            endpoint: Some("http://collector:4317".into()),
            timeout: std::time::Duration::from_secs(5),
        });
        let json = serde_json::to_value(OtelConfig::of_host(Some(&settings))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "enable_observability": true, "enable_traces": true, "enable_metrics": false, "enable_logs": false,
                "traces_endpoint": "http://collector:4317", "metrics_endpoint": null, "logs_endpoint": null, "protocol": "Grpc",
            })
        );
        assert_eq!(provider_log_level(Some(&settings)), "debug");
        settings.log_filter = "info,trellis=debug".into();
        assert_eq!(provider_log_level(Some(&settings)), "info");
    }
}
