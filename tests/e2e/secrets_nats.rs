//! Secrets from wasmCloud's own NATS KV backend (`secrets-nats-kv`, run here from wasmCloud's
//! crate as its binary runs it) through `--secrets-topic`: a signed component mapped to a
//! secret gets it; unsigned and unmapped components are refused, saying why; a signed one says
//! who it is in its `component_scaled` event.

use std::time::{Duration, Instant};

use async_nats_wasmcloud as nats;
use nkeys::XKey;

use crate::secrets::{with_policy, with_secrets_from};
use crate::util::*;

pub(crate) const PREFIX: &str = "wasmcloud.secrets";
const API_KEY: &str = "sk-from-nats-kv-5d1e";
const DB_PASSWORD: &str = "pw-from-nats-kv-93b0";

/// `secrets-nats-kv` serving `<PREFIX>.v1alpha1.nats-kv.*` on `nats`, with its client.
pub(crate) struct Backend {
    runtime: tokio::runtime::Runtime,
    client: nats::Client,
    transit: XKey,
}

impl Backend {
    pub(crate) fn start(nats: &Nats) -> Backend {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let client = runtime.block_on(nats::connect(&nats.url)).unwrap();
        let transit = XKey::new();
        let api = secrets_nats_kv::Api::new(
            XKey::from_seed(&transit.seed().unwrap()).unwrap(),
            XKey::new(),
            client.clone(),
            PREFIX.into(),
            "nats-kv".into(),
            "WASMCLOUD_SECRETS".into(),
            64,
            "wasmcloud_secrets".into(),
            "v1alpha1".into(),
        );
        runtime.spawn(async move { api.run().await });
        Backend { runtime, client, transit }
    }

    /// Puts `key` as `secrets-nats-kv put` does, retrying until the backend is up.
    pub(crate) fn put(&self, key: &str, value: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let request = secrets_nats_kv::PutSecretRequest { key: key.into(), string_secret: Some(value.into()), ..Default::default() };
            match self.runtime.block_on(secrets_nats_kv::client::put_secret(&self.client, PREFIX, &self.transit, request)) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("secrets-nats-kv put {key}: {e:#}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Lets the component (or provider) `subject` have `keys`, as `secrets-nats-kv add-mapping`
    /// does.
    pub(crate) fn map(&self, subject: &str, keys: &[&str]) {
        let subject = format!("{PREFIX}.v1alpha1.nats-kv.add_mapping.{subject}");
        let reply = self.runtime.block_on(self.client.request(subject, serde_json::to_vec(keys).unwrap().into())).unwrap();
        assert_eq!(&reply.payload[..], b"ok", "{}", String::from_utf8_lossy(&reply.payload));
    }
}

/// The kv guest signed by a fresh account and module key, written into `dir`; and its key.
fn signed_kv(dir: &std::path::Path, name: &str) -> (String, String) {
    let (account, module) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_module());
    let bytes = std::fs::read(guests::KV).unwrap();
    let signed = wascap::wasm::sign_buffer_with_claims(name.into(), bytes, &module, &account, None, None, vec![], false, None, None, None).unwrap();
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, signed).unwrap();
    (path.to_str().unwrap().to_owned(), module.public_key())
}

fn deploy_failure(up: &Up, app_name: &str, component: String) -> String {
    let m = manifest(&with_policy(app(app_name, &[component])));
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success(), "{app_name} deployed");
    let status = up.cli_json(&["app", "status", app_name, "-o", "json"]);
    assert_eq!(status["status"]["type"], "failed", "{status}");
    status["status"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn secrets_from_wasmclouds_nats_kv_backend_reach_signed_mapped_components_only() {
    let nats = Nats::start_jetstream();
    let backend = Backend::start(&nats);
    backend.put("api-key", API_KEY);
    backend.put("db", &format!(r#"{{"user":"app","password":"{DB_PASSWORD}"}}"#));
    let dir = tempfile::tempdir().unwrap();
    let (owner_wasm, owner_key) = signed_kv(dir.path(), "owner");
    let (stranger_wasm, stranger_key) = signed_kv(dir.path(), "stranger");
    backend.map(&owner_key, &["api-key", "db"]);

    let up = Up::start(&[], &["--nats", &nats.url, "--secrets-topic", PREFIX]).unwrap();
    let mut scaled = backend.runtime.block_on(backend.client.subscribe("wasmbus.evt.default.component_scaled")).unwrap();
    let port = free_port();
    let owner = with_secrets_from("owner", &owner_wasm, &[("api", "api-key", None), ("db-password", "db", Some("password"))]);
    let m = manifest(&with_policy(app("vaulted", &[owner, http_server("http", &[], &[("owner", &[("address", &format!("127.0.0.1:{port}"))])])])));
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), up.log());
    assert_eq!(get(&format!("http://127.0.0.1:{port}/secret/api"), None).body, API_KEY);
    // secrets-nats-kv ignores `field` and answers with the whole object; the host takes it.
    assert_eq!(get(&format!("http://127.0.0.1:{port}/secret/db-password"), None).body, DB_PASSWORD);
    up.wait_for_log(&["component started", &owner_key]);
    // Its `component_scaled` event says who it is, as a wasmCloud host's does.
    // (Moved in: a subscription is dropped inside the runtime.)
    let event: serde_json::Value = backend.runtime.block_on(async move {
        use futures::StreamExt as _;
        let message = tokio::time::timeout(Duration::from_secs(10), scaled.next()).await.expect("a component_scaled event").unwrap();
        serde_json::from_slice(&message.payload).unwrap()
    });
    assert_eq!(event["data"]["public_key"], owner_key.as_str(), "{event}");
    assert_eq!((&event["data"]["claims"]["name"], &event["data"]["claims"]["expires_human"]), (&"owner".into(), &"never".into()), "{event}");
    // And wasmCloud's control client lists its claims.
    let ctl = wasmcloud_control_interface::ClientBuilder::new(backend.client.clone()).build();
    let claims = backend.runtime.block_on(ctl.get_claims()).unwrap();
    let listed = claims.data().expect("claims");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["sub"].as_str(), listed[0]["subject"].as_str(), listed[0]["name"].as_str()), (owner_key.as_str(), owner_key.as_str(), "owner"));

    let unsigned = deploy_failure(&up, "unsigned", with_secrets_from("plain", guests::KV, &[("api", "api-key", None)]));
    assert!(unsigned.contains("properties.secrets[0]") && unsigned.contains("not signed"), "{unsigned}");
    let unmapped = deploy_failure(&up, "unmapped", with_secrets_from("stranger", &stranger_wasm, &[("api", "api-key", None)]));
    assert!(unmapped.contains("secrets backend `nats-kv`") && unmapped.contains(&stranger_key), "{unmapped}");

    // The first app kept running through the others' failures, and no value was ever shown.
    assert_eq!(get(&format!("http://127.0.0.1:{port}/secret/api"), None).body, API_KEY);
    let mut seen = up.log();
    for args in [&["app", "status", "vaulted", "-o", "json"][..], &["app", "status", "unmapped", "-o", "json"], &["get", "hosts", "-o", "json"]] {
        seen += &String::from_utf8_lossy(&up.cli(args).stdout);
    }
    for value in [API_KEY, DB_PASSWORD] {
        assert!(!seen.contains(value), "`{value}` leaked:\n{seen}");
    }
}

#[test]
fn a_secrets_topic_without_a_nats_lattice_is_refused() {
    let Err(err) = Up::start(&[], &["--secrets-topic", PREFIX]) else { panic!("started") };
    assert!(err.contains("--secrets-topic") && err.contains("--nats"), "{err}");
}
