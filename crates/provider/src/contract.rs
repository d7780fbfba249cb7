//! wasmCloud's launch contract, as `wasmcloud-provider-sdk` reads it: the HostData a provider
//! finds on its stdin, the link definitions it is sent, and the subjects it listens on.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

/// One link a provider is the source or the target of, as wasmCloud's
/// `InterfaceLinkDefinition` carries it. Config is resolved to values before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
}

impl LinkDefinition {
    /// Whether `other` is the same link, whatever its config: what a delete names.
    pub(crate) fn same_link(&self, other: &LinkDefinition) -> bool {
        (&self.source_id, &self.target, &self.name, &self.wit_namespace, &self.wit_package)
            == (&other.source_id, &other.target, &other.name, &other.wit_namespace, &other.wit_package)
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
    pub(crate) link_definitions: &'a [LinkDefinition],
    pub(crate) cluster_issuers: [&'static str; 0],
    pub(crate) config: &'a BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) host_xkey_public_key: String,
    pub(crate) provider_xkey_private_key: String,
    pub(crate) default_rpc_timeout_ms: u64,
    pub(crate) structured_logging: bool,
    pub(crate) log_level: &'static str,
    pub(crate) otel_config: OtelConfig,
}

/// Telemetry export is off: Trellis exports none yet.
#[derive(Serialize, Default)]
pub(crate) struct OtelConfig {
    enable_observability: bool,
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
        };
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
            link_definitions: std::slice::from_ref(&link),
            cluster_issuers: [],
            config: &config,
            secrets: BTreeMap::new(),
            host_xkey_public_key: String::new(),
            provider_xkey_private_key: String::new(),
            default_rpc_timeout_ms: 2000,
            structured_logging: false,
            log_level: "info",
            otel_config: OtelConfig::default(),
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
    }
}
