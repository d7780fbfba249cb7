//! Links on the control interface of a NATS lattice, checked with wasmCloud's own client:
//! `link.get` lists what deployed manifests declare; `link.put`/`link.del` store links of
//! components outside manifests in `LATTICEDATA_<lattice>`, announce them (`linkdef_set`,
//! `linkdef_deleted`), and the host running the source applies them, so calls cross hosts.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;

use crate::lattice::{Node, cli_json};
use crate::util::{Nats, guests, manifest, trellis, until, until_async};

#[test]
fn links_on_the_control_interface_of_a_nats_lattice() {
    let nats = Nats::start_jetstream();
    let _front = Node::start(&nats, "host", &["--label", "role=front"]);
    let _back = Node::start(&nats, "host", &["--label", "role=back"]);
    let _manager = Node::start(&nats, "manager", &[]);
    let yaml = format!(
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: linked\n  annotations:\n    version: v1\nspec:\n  components:\n    - name: counter\n      type: component\n      properties:\n        image: file://{}\n      traits:\n        - type: spreadscaler\n          properties:\n            instances: 1\n        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics]\n            target:\n              name: kv\n              config:\n                - name: counter-kv\n                  properties:\n                    bucket: b\n    - name: kv\n      type: capability\n      properties:\n        image: wasmcloud+builtin://keyvalue-memory\n",
        guests::KV
    );
    let file = manifest(&yaml);
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let relay = || trellis().args(["--nats", &nats.url, "call", "caller-x", "trellis:plain/relay.greet", "Ed", "1"]).output().unwrap();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let nats_client = async_nats_wasmcloud::connect(&nats.url).await.unwrap();
        let client = wasmcloud_control_interface::ClientBuilder::new(nats_client.clone()).build();
        let links = client.get_links().await.unwrap();
        assert!(links.succeeded(), "{}", links.message());
        let links = links.data().unwrap();
        assert_eq!(links.len(), 1, "{links:?}");
        let link = &links[0];
        assert_eq!((link.source_id(), link.target(), link.name()), ("linked-counter", "linked-kv", "default"));
        assert_eq!((link.wit_namespace(), link.wit_package()), ("wasi", "keyvalue"));
        assert_eq!(link.interfaces(), &vec!["store".to_owned(), "atomics".to_owned()]);
        assert_eq!(link.target_config(), &vec!["counter-kv".to_owned()]);
        let refused = client.put_link(link.clone()).await.unwrap();
        assert!(!refused.succeeded() && refused.message().contains("manifest"), "{}", refused.message());

        // The caller on the front host, the callee on the back one, outside any manifest.
        let hosts = client.get_hosts().await.unwrap();
        let host_with = |role: &str| {
            let host = hosts.iter().filter_map(|h| h.data()).find(|h| h.labels().get("role").map(String::as_str) == Some(role)).expect("both hosts answer");
            host.id().to_owned()
        };
        for (role, image, id) in [("front", guests::CALLER, "caller-x"), ("back", guests::CALLEE, "callee-x")] {
            let scaled = client.scale_component(&host_with(role), &format!("file://{image}"), id, 1, None, vec![], false).await.unwrap();
            assert!(scaled.succeeded(), "{}", scaled.message());
        }
        until("caller-x to answer", Duration::from_secs(30), || {
            let out = relay();
            String::from_utf8_lossy(&out.stderr).contains("trellis:calls/greeter").then_some(())
        });

        let mut events = nats_client.subscribe("wasmbus.evt.default.*").await.unwrap();
        let link = wasmcloud_control_interface::Link::builder()
            .source_id("caller-x")
            .name("default")
            .target("callee-x")
            .wit_namespace("trellis")
            .wit_package("calls")
            .interfaces(vec!["greeter".into()])
            .build()
            .unwrap();
        let put = client.put_link(link).await.unwrap();
        assert!(put.succeeded(), "{}", put.message());
        let event = next_event(&mut events, "linkdef_set").await;
        assert_eq!(event["type"], "com.wasmcloud.lattice.linkdef_set");
        assert_eq!((event["data"]["source_id"].as_str(), event["data"]["target"].as_str()), (Some("caller-x"), Some("callee-x")));

        // Stored where and as wasmCloud hosts keep links.
        let bucket = async_nats_wasmcloud::jetstream::new(nats_client.clone()).get_key_value("LATTICEDATA_default").await.unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&bucket.get("COMPONENT_caller-x").await.unwrap().expect("the link is stored")).unwrap();
        assert_eq!(stored["links"][0]["target"], "callee-x", "{stored}");
        assert!(stored.get("url").is_some(), "{stored}");

        let greeted = until("the call to cross to the back host", Duration::from_secs(30), || {
            let out = relay();
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        });
        assert!(greeted.contains("Hello, Ed! (1 times"), "{greeted}");

        let listed: BTreeMap<String, String> = client
            .get_links()
            .await
            .unwrap()
            .data()
            .unwrap()
            .iter()
            .map(|l| (l.source_id().to_owned(), l.target().to_owned()))
            .collect();
        assert_eq!(listed.get("caller-x").map(String::as_str), Some("callee-x"), "{listed:?}");

        let failed = client
            .put_link(
                wasmcloud_control_interface::Link::builder()
                    .source_id("caller-x")
                    .name("default")
            .name("default")
                    .target("callee-x")
                    .wit_namespace("trellis")
                    .wit_package("plain")
                    .interfaces(vec!["echo".into()])
                    .source_config(vec!["no-such-config".into()])
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(!failed.succeeded() && failed.message().contains("no-such-config"), "{}", failed.message());
        let event = next_event(&mut events, "linkdef_set_failed").await;
        assert_eq!(event["type"], "com.wasmcloud.lattice.linkdef_set_failed");
        assert!(event["data"]["error"].as_str().unwrap().contains("no-such-config"), "{event}");

        let deleted = client.delete_link("caller-x", "default", "trellis", "calls").await.unwrap();
        assert!(deleted.succeeded(), "{}", deleted.message());
        let event = next_event(&mut events, "linkdef_deleted").await;
        assert_eq!(event["type"], "com.wasmcloud.lattice.linkdef_deleted");
        assert_eq!((event["data"]["target"].as_str(), event["data"]["interfaces"][0].as_str()), (Some("callee-x"), Some("greeter")), "{event}");
        assert!(bucket.get("COMPONENT_caller-x").await.unwrap().is_none(), "no links left, no record");
        until("the link to go", Duration::from_secs(30), || (!relay().status.success()).then_some(()));
    });
    let listed = cli_json(&nats, &["get", "links", "-o", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// The next `linkdef_*` CloudEvent (others are skipped), which should be `what`.
async fn next_event(events: &mut async_nats_wasmcloud::Subscriber, what: &str) -> serde_json::Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap_or_else(|_| panic!("no {what} within 10 s")).unwrap();
        if message.subject.contains(".linkdef_") {
            return serde_json::from_slice(&message.payload).unwrap();
        }
    }
}

/// wasmCloud's client starts the http-server provider on one host and a component on another,
/// and links them: requests reach the component over `wrpc:http/incoming-handler`.
#[test]
fn a_provider_started_and_linked_by_wasmclouds_client_serves_across_hosts() {
    let nats = Nats::start_jetstream();
    let _front = Node::start(&nats, "host", &["--label", "role=front"]);
    let _back = Node::start(&nats, "host", &["--label", "role=back"]);
    let _manager = Node::start(&nats, "manager", &[]);
    let port = crate::util::free_port();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let client = wasmcloud_control_interface::ClientBuilder::new(async_nats_wasmcloud::connect(&nats.url).await.unwrap()).build();
        let hosts = client.get_hosts().await.unwrap();
        let host_with = |role: &str| {
            let host = hosts.iter().filter_map(|h| h.data()).find(|h| h.labels().get("role").map(String::as_str) == Some(role)).expect("both hosts answer");
            host.id().to_owned()
        };
        let scaled = client.scale_component(&host_with("back"), &format!("file://{}", guests::HELLO), "hello-x", 2, None, vec![], false).await.unwrap();
        assert!(scaled.succeeded(), "{}", scaled.message());
        let config = client.put_config("hello-address", std::collections::HashMap::from([("address".to_owned(), format!("127.0.0.1:{port}"))])).await.unwrap();
        assert!(config.succeeded(), "{}", config.message());
        let started = client.start_provider(&host_with("front"), "ghcr.io/wasmcloud/http-server:0.23.2", "edge-http", None, vec![]).await.unwrap();
        assert!(started.succeeded(), "{}", started.message());
        let link = wasmcloud_control_interface::Link::builder()
            .source_id("edge-http")
            .target("hello-x")
            .name("default")
            .wit_namespace("wasi")
            .wit_package("http")
            .interfaces(vec!["incoming-handler".into()])
            .source_config(vec!["hello-address".into()])
            .build()
            .unwrap();
        let put = client.put_link(link).await.unwrap();
        assert!(put.succeeded(), "{}", put.message());
    });
    let url = format!("http://127.0.0.1:{port}/");
    let body = until("the front host to serve hello-x from the back host", Duration::from_secs(30), || {
        (crate::util::try_get(&url) == Some(200)).then(|| crate::util::get(&url, None).body)
    });
    assert_eq!(body, "Hello from Trellis!\n");
}

/// `wash`'s messaging steps: the messaging-nats provider on one host subscribes and hands each
/// message to a component on another host over wRPC; the component answers through its own
/// link to the provider.
#[test]
fn a_messaging_provider_delivers_to_a_component_on_another_host() {
    let nats = Nats::start_jetstream();
    let _front = Node::start(&nats, "host", &["--label", "role=front"]);
    let _back = Node::start(&nats, "host", &["--label", "role=back"]);
    let _manager = Node::start(&nats, "manager", &[]);
    let hosts = cli_json(&nats, &["get", "hosts", "-o", "json"]);
    let host_with = |role: &str| hosts.as_array().unwrap().iter().find(|h| h["labels"]["role"] == role).unwrap()["host_id"].as_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let out = trellis().arg("--nats").arg(&nats.url).args(args).output().unwrap();
        assert!(out.status.success(), "trellis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["config", "put", "broker", &format!("cluster_uris={}", nats.url)]);
    run(&["config", "put", "orders", "SUBSCRIPTIONS=orders.>"]);
    run(&["start", "component", guests::MESSENGER, "messenger-x", "--host", &host_with("back")]);
    run(&["start", "provider", "wasmcloud+builtin://messaging-nats", "bus", "--host", &host_with("front"), "--config", "broker"]);
    run(&["link", "put", "bus", "messenger-x", "wasmcloud", "messaging", "-i", "handler", "--source-config", "orders"]);
    run(&["link", "put", "messenger-x", "bus", "wasmcloud", "messaging", "-i", "consumer", "--target-config", "broker"]);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let client = async_nats_wasmcloud::connect(&nats.url).await.unwrap();
        // No responders until the links are applied.
        let reply = until_async("an answer through the provider on the front host", Duration::from_secs(30), || async {
            tokio::time::timeout(Duration::from_secs(2), client.request("orders.new", "hi".into())).await.ok()?.ok()
        })
        .await;
        assert_eq!(&reply.payload[..], b"echo: hi");
    });
}
