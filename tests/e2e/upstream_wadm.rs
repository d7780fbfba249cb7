//! Upstream wadm managing Trellis hosts, with no Trellis manager on the lattice: the `wadm` 0.21
//! library runs in this test process against a real `nats-server`, and `trellis host`
//! processes answer it as wasmCloud hosts would (`component.scale`, `provider.start`,
//! `config.*` and `link.*` in their queue groups, heartbeats and events).

use std::time::Duration;

use wadm_types::api::StatusType;

use crate::lattice::{Node, cli_json};
use crate::util::{Nats, guests, manifest, until, until_async};

/// wasmCloud's hello-world application as its README deploys it: a component, the http-server
/// provider with no scaler of its own, and a link from the provider whose address is config the
/// manifest defines.
fn hello_world(port: u16) -> String {
    format!(
        r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: rust-hello-world
  annotations:
    version: v0.0.1
    description: "HTTP hello world demo in Rust, using the WebAssembly Component Model and WebAssembly Interfaces Types (WIT)"
spec:
  components:
    - name: http-component
      type: component
      properties:
        image: file://{image}
      traits:
        - type: spreadscaler
          properties:
            instances: 2
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.23.2
      traits:
        - type: link
          properties:
            target:
              name: http-component
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: default-http
                  properties:
                    address: 127.0.0.1:{port}
"#,
        image = guests::HELLO
    )
}

async fn status(client: &wadm_client::Client, name: &str, want: StatusType, within: Duration) -> wadm_types::api::Status {
    until_async(&format!("{name} to become {want:?}"), within, || async {
        let status = client.get_manifest_status(name).await.expect("wadm answers for the application");
        (status.info.status_type == want).then_some(status)
    })
    .await
}

#[test]
fn upstream_wadm_deploys_serves_and_undeploys_on_trellis_hosts() {
    let nats = Nats::start_jetstream();
    let _hosts = [Node::start(&nats, "host", &[]), Node::start(&nats, "host", &[])];
    let port = crate::util::free_port();
    let file = manifest(&hello_world(port));
    let url = format!("http://127.0.0.1:{port}/");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // wadm's tasks run on `runtime` until it is dropped, between the steps below too.
    let config = wadm::config::WadmConfig { nats_server: nats.url.clone(), cleanup_interval: 5, ..Default::default() };
    let _wadm = runtime.block_on(wadm::start_wadm(config)).expect("wadm starts against the lattice");
    runtime.block_on(async {
        let options = wadm_client::ClientConnectOptions { url: Some(nats.url.clone()), ..Default::default() };
        let client = wadm_client::Client::new("default", None, options).await.unwrap();
        let (name, version) = client.put_and_deploy_manifest(file.path.as_path()).await.expect("wadm takes wasmCloud's hello-world manifest");
        assert_eq!((name.as_str(), version.as_str()), ("rust-hello-world", "v0.0.1"));
        let deployed = status(&client, &name, StatusType::Deployed, Duration::from_secs(90)).await;
        assert!(deployed.scalers.iter().all(|s| s.info.status_type == StatusType::Deployed), "{deployed:?}");
    });

    // What wadm asked for is what runs: the component on the hosts, the provider on one, and the
    // link and config in the lattice data the hosts keep.
    let hosts = cli_json(&nats, &["get", "hosts", "-o", "json"]);
    let instances: u64 = hosts.as_array().unwrap().iter().flat_map(|h| h["components"].as_array().unwrap().clone()).filter(|c| c["id"] == "rust_hello_world-http_component").map(|c| c["max_instances"].as_u64().unwrap()).sum();
    assert_eq!(instances, 2, "{hosts}");
    let links = cli_json(&nats, &["link", "get", "-o", "json"]);
    let link = links.as_array().unwrap().iter().find(|l| l["source_id"] == "rust_hello_world-httpserver").unwrap_or_else(|| panic!("wadm's link is listed: {links}"));
    assert_eq!((link["target"].as_str(), link["source_config"][0].as_str()), (Some("rust_hello_world-http_component"), Some("rust_hello_world-default_http")));
    let config = cli_json(&nats, &["config", "get", "rust_hello_world-default_http", "-o", "json"]);
    assert_eq!(config["address"], format!("127.0.0.1:{port}"), "{config}");
    let body = until("wadm's application to serve", Duration::from_secs(30), || {
        (crate::util::try_get(&url)? == 200).then(|| crate::util::get(&url, None).body)
    });
    assert_eq!(body, "Hello from Trellis!\n");

    runtime.block_on(async {
        let options = wadm_client::ClientConnectOptions { url: Some(nats.url.clone()), ..Default::default() };
        let client = wadm_client::Client::new("default", None, options).await.unwrap();
        client.undeploy_manifest("rust-hello-world").await.expect("wadm undeploys");
        status(&client, "rust-hello-world", StatusType::Undeployed, Duration::from_secs(60)).await;
    });
    until("the listener to close", Duration::from_secs(60), || crate::util::try_get(&url).is_none().then_some(()));
    until("the hosts to run nothing of the application", Duration::from_secs(60), || {
        let hosts = cli_json(&nats, &["get", "hosts", "-o", "json"]);
        hosts.as_array().unwrap().iter().all(|h| h["components"].as_array().unwrap().is_empty() && h["providers"].as_array().unwrap().is_empty()).then_some(())
    });
    until("wadm to delete its link and config", Duration::from_secs(60), || {
        let links = cli_json(&nats, &["link", "get", "-o", "json"]);
        let config = trellis_get_config(&nats, "rust_hello_world-default_http");
        (links.as_array().unwrap().is_empty() && config.is_none()).then_some(())
    });
}

/// The values of named config `name`, or `None` when the lattice has no such config.
fn trellis_get_config(nats: &Nats, name: &str) -> Option<serde_json::Value> {
    let out = crate::util::trellis().args(["--nats", &nats.url, "config", "get", name, "-o", "json"]).output().unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}
