//! A lattice over a real `nats-server`: `trellis host` and `trellis manager` processes, the
//! CLI over NATS, and wasmCloud's own clients (`wasmcloud-control-interface`, `wadm-client`)
//! as conformance checks.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{Nats, Up, app, component, guests, manifest, trellis, until, until_async};

/// Heartbeat interval of these tests' hosts and managers, in seconds.
const HEARTBEAT: &str = "0.5";

/// A `trellis host` or `trellis manager` process, killed (SIGKILL) when dropped.
pub(crate) struct Node {
    child: Child,
    /// The first line it printed (the host's says its id).
    greeting: String,
    _dir: tempfile::TempDir,
}

impl Node {
    pub(crate) fn start(nats: &Nats, mode: &str, args: &[&str]) -> Node {
        Node::start_env(nats, mode, args, &[])
    }

    /// As [`Node::start`], with these environment variables.
    pub(crate) fn start_env(nats: &Nats, mode: &str, args: &[&str], env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut command = trellis();
        command.args(["--nats", &nats.url, mode, "--heartbeat-interval", HEARTBEAT]);
        // A manager on NATS keeps its state in JetStream; hosts keep their compiled cache here.
        if mode == "host" {
            command.arg("--state-dir").arg(dir.path());
        }
        let mut child = command
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let greeting = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("trellis {mode} {args:?} never said it started"));
        Node { child, greeting, _dir: dir }
    }

    pub(crate) fn host_id(&self) -> String {
        self.greeting.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// SIGTERM, then waits for the exit (up to `within`); the exit status, or None if it hung.
    pub(crate) fn terminate(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `trellis` client command over NATS; stdout as JSON.
pub(crate) fn cli_json(nats: &Nats, args: &[&str]) -> serde_json::Value {
    let out = trellis().args(["--nats", &nats.url]).args(args).output().unwrap();
    assert!(out.status.success(), "trellis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}


/// host id → (region label, component id → max instances) for every host of the lattice.
fn placement(nats: &Nats) -> BTreeMap<String, (String, BTreeMap<String, u64>)> {
    placement_of(&cli_json(nats, &["get", "hosts", "-o", "json"]))
}

fn placement_of(hosts: &serde_json::Value) -> BTreeMap<String, (String, BTreeMap<String, u64>)> {
    hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let components = h["components"].as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().to_owned(), c["max_instances"].as_u64().unwrap()));
            (h["host_id"].as_str().unwrap().to_owned(), (h["labels"]["region"].as_str().unwrap_or_default().to_owned(), components.collect()))
        })
        .collect()
}

fn instances_in(placed: &BTreeMap<String, (String, BTreeMap<String, u64>)>, region: &str, component: &str) -> u64 {
    placed.values().filter(|(r, _)| r == region).filter_map(|(_, c)| c.get(component)).sum()
}

#[test]
fn three_hosts_and_a_manager_place_by_labels_and_replace_a_lost_host() {
    let nats = Nats::start_jetstream();
    let eu_a = Node::start(&nats, "host", &["--label", "region=eu", "--label", "zone=a"]);
    let eu_b = Node::start(&nats, "host", &["--label", "region=eu", "--label", "zone=b"]);
    let us = Node::start(&nats, "host", &["--label", "region=us"]);
    let _manager = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);

    let hosts = cli_json(&nats, &["get", "hosts", "-o", "json"]);
    assert_eq!(hosts.as_array().unwrap().len(), 3, "{hosts}");
    assert!(hosts.as_array().unwrap().iter().all(|h| h["labels"]["hostcore.os"] == std::env::consts::OS), "{hosts}");

    let weighted = component("hello", guests::HELLO, 4, "").replace(
        "            instances: 4\n",
        "            instances: 4\n            spread:\n              - name: eu\n                weight: 75\n                requirements:\n                  region: eu\n              - name: us\n                weight: 25\n                requirements:\n                  region: us\n",
    );
    let daemon = component("edge", guests::HELLO, 2, "").replace("spreadscaler", "daemonscaler").replace(
        "            instances: 2\n",
        "            instances: 2\n            spread:\n              - name: eu\n                requirements:\n                  region: eu\n",
    );
    let file = manifest(&app("shop", &[weighted, daemon]));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let placed = placement(&nats);
    assert_eq!(instances_in(&placed, "eu", "shop-hello"), 3, "{placed:?}");
    assert_eq!(instances_in(&placed, "us", "shop-hello"), 1, "{placed:?}");
    for (region, components) in placed.values() {
        let edge = components.get("shop-edge").copied();
        assert_eq!(edge, (region == "eu").then_some(2), "a daemon runs on each eu host, none elsewhere: {placed:?}");
    }

    // kill -9 of the eu host that runs hello: its share moves to the other eu host within two
    // heartbeat intervals (plus the apply).
    let runs_hello = |node: &Node| placed.get(&node.host_id()).is_some_and(|(_, c)| c.contains_key("shop-hello"));
    let (doomed, survivor) = if runs_hello(&eu_a) { (eu_a, eu_b) } else { (eu_b, eu_a) };
    let (lost, survivor) = (doomed.host_id(), survivor.host_id());
    let killed = Instant::now();
    doomed.kill();
    until("the lost host's share to move", Duration::from_secs(30), || {
        let placed = placement(&nats);
        let moved = !placed.contains_key(&lost) && placed.get(&survivor).is_some_and(|(_, c)| c.get("shop-hello") == Some(&3));
        moved.then_some(())
    });
    eprintln!("re-placed {} ms after kill -9", killed.elapsed().as_millis());
    let status = cli_json(&nats, &["app", "status", "shop", "-o", "json"]);
    assert_eq!(status["status"]["type"], "deployed", "{status}");

    // A label change over NATS moves the us share: no host matches any more, and the status says so.
    let out = trellis().args(["--nats", &nats.url, "label", &us.host_id(), "region=ap"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    until("the status to name the unmatched requirement", Duration::from_secs(30), || {
        let status = cli_json(&nats, &["app", "status", "shop", "-o", "json"]);
        status.to_string().contains("region=us").then_some(())
    });
}

#[test]
fn wasmcloud_control_interface_client_conforms() {
    use wasmcloud_control_interface::ClientBuilder;
    let nats = Nats::start();
    let host = Node::start(&nats, "host", &["--label", "role=conformance"]);
    let id = host.host_id();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let connection = async_nats_wasmcloud::connect(&nats.url).await.unwrap();
        let client = ClientBuilder::new(connection).auction_timeout(Duration::from_millis(500)).timeout(Duration::from_secs(5)).build();

        let hosts = client.get_hosts().await.unwrap();
        assert_eq!(hosts.len(), 1);
        let info = hosts[0].data().unwrap();
        assert_eq!((info.id(), info.lattice()), (id.as_str(), "default"));
        assert_eq!(info.labels().get("role").map(String::as_str), Some("conformance"));
        assert!(!info.friendly_name().is_empty());

        let inventory = client.get_host_inventory(&id).await.unwrap();
        assert!(inventory.succeeded(), "{}", inventory.message());
        let inventory = inventory.data().unwrap();
        assert_eq!(inventory.host_id(), id);
        assert!(inventory.components().is_empty());

        let put = client.put_label(&id, "zone", "b").await.unwrap();
        assert!(put.succeeded(), "{}", put.message());
        let labels = client.get_host_inventory(&id).await.unwrap().data().unwrap().labels().clone();
        assert_eq!(labels.get("zone").map(String::as_str), Some("b"));
        let refused = client.put_label(&id, "hostcore.os", "plan9").await.unwrap();
        assert!(!refused.succeeded());
        let del = client.delete_label(&id, "zone").await.unwrap();
        assert!(del.succeeded(), "{}", del.message());
        assert!(!client.get_host_inventory(&id).await.unwrap().data().unwrap().labels().contains_key("zone"));

        let bids =
            client.perform_component_auction("file:///hello.wasm", "hello", BTreeMap::from([("role".to_owned(), "conformance".to_owned())])).await.unwrap();
        assert_eq!(bids.len(), 1);
        assert_eq!(bids[0].data().unwrap().host_id(), id);
        let none = client.perform_component_auction("file:///hello.wasm", "hello", BTreeMap::from([("role".to_owned(), "other".to_owned())])).await.unwrap();
        assert!(none.is_empty(), "a host whose labels do not match does not bid");

        // Components outside manifests, as `wash` and wadm start them: accepted at once, then
        // `component_scaled` once the host runs them.
        let mut scaled = client.events_receiver(vec!["component_scaled".into()]).await.unwrap();
        let image = format!("file://{}", guests::CALLEE);
        let annotations = BTreeMap::from([("owner".to_owned(), "conformance".to_owned())]);
        let scale = client.scale_component(&id, &image, "callee-1", 2, Some(annotations), vec![], false).await.unwrap();
        assert!(scale.succeeded(), "{}", scale.message());
        let event = tokio::time::timeout(Duration::from_secs(30), scaled.recv()).await.expect("component_scaled arrives").unwrap();
        let data = match cloudevents::AttributesReader::ty(&event) {
            "com.wasmcloud.lattice.component_scaled" => match cloudevents::event::Event::data(&event) {
                Some(cloudevents::Data::Json(v)) => v.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("unexpected event {other}"),
        };
        assert_eq!((data["component_id"].as_str(), data["max_instances"].as_u64()), (Some("callee-1"), Some(2)), "{data}");
        assert_eq!(data["annotations"]["owner"], "conformance");
        let running = client.get_host_inventory(&id).await.unwrap().data().unwrap().components().clone();
        let callee = running.iter().find(|c| c.id() == "callee-1").expect("callee-1 runs");
        assert_eq!((callee.max_instances(), callee.image_ref()), (2, image.as_str()));
        let update = client.update_component(&id, "callee-1", guests::CALLER, None).await.unwrap();
        assert!(update.succeeded(), "{}", update.message());
        until("callee-1 to run the new image", Duration::from_secs(30), || {
            let inventory = cli_json(&nats, &["get", "inventory", &id, "-o", "json"]);
            let image = inventory[0]["components"].as_array()?.iter().find(|c| c["id"] == "callee-1")?["image_ref"].as_str()?.to_owned();
            (image == guests::CALLER).then_some(())
        });
        let stop = client.scale_component(&id, &image, "callee-1", 0, None, vec![], false).await.unwrap();
        assert!(stop.succeeded(), "{}", stop.message());
        until("callee-1 to stop", Duration::from_secs(30), || {
            let inventory = cli_json(&nats, &["get", "inventory", &id, "-o", "json"]);
            (!inventory.to_string().contains("callee-1")).then_some(())
        });
        let claims = client.get_claims().await.unwrap();
        assert!(claims.succeeded() && claims.data().is_some_and(Vec::is_empty), "the fixture components are unsigned: {claims:?}");
        let provider_bids =
            client.perform_provider_auction("ghcr.io/wasmcloud/http-server:0.23.2", "http", BTreeMap::from([("role".to_owned(), "conformance".to_owned())])).await.unwrap();
        assert_eq!(provider_bids.len(), 1);
        assert_eq!(provider_bids[0].data().unwrap().host_id(), id);
        // A provider archive runs as a process on a host joined to NATS: it bids for one.
        let custom = client.perform_provider_auction("127.0.0.1:1/acme/custom-provider:1.0.0", "custom", BTreeMap::new()).await.unwrap();
        assert_eq!(custom.len(), 1);
        // The well-known provider images are served by the host itself, under the id given.
        let provider = client.start_provider(&id, "ghcr.io/wasmcloud/http-server:0.23.2", "http", None, vec![]).await.unwrap();
        assert!(provider.succeeded(), "{}", provider.message());
        let providers = client.get_host_inventory(&id).await.unwrap().data().unwrap().providers().clone();
        assert_eq!(providers.iter().map(|p| p.id()).collect::<Vec<_>>(), ["http"]);
        let stopped = client.stop_provider(&id, "http").await.unwrap();
        assert!(stopped.succeeded(), "{}", stopped.message());
        assert!(client.get_host_inventory(&id).await.unwrap().data().unwrap().providers().is_empty());
        // One whose archive cannot be fetched fails, naming the image (a registry on a closed port).
        let external = client.start_provider(&id, "127.0.0.1:1/acme/custom-provider:1.0.0", "custom", None, vec![]).await.unwrap();
        assert!(!external.succeeded() && external.message().contains("cannot load image `127.0.0.1:1/acme/custom-provider:1.0.0`"), "{}", external.message());
        let registries = HashMap::from([("ghcr.io".to_owned(), wasmcloud_control_interface::RegistryCredential::from_username_password("u", "p", "oci"))]);
        client.put_registries(registries).await.unwrap();

        let stopped = client.stop_host(&id, Some(5000)).await.unwrap();
        assert!(stopped.succeeded(), "{}", stopped.message());
    });
    let mut host = host;
    let status = until("the host to exit after host.stop", Duration::from_secs(20), || host.child.try_wait().unwrap());
    assert!(status.success(), "{status}");
}

/// Named config is the manager's (a queue group): wasmCloud's client and the CLI reach it over NATS.
#[test]
fn named_config_over_nats() {
    let nats = Nats::start_jetstream();
    let _manager = Node::start(&nats, "manager", &[]);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let connection = async_nats_wasmcloud::connect(&nats.url).await.unwrap();
        let client = wasmcloud_control_interface::ClientBuilder::new(connection.clone()).build();
        let mut events = client.events_receiver(vec!["config_set".into(), "config_deleted".into()]).await.unwrap();
        let put = client.put_config("greeting", std::collections::HashMap::from([("lang".to_owned(), "en".to_owned())])).await.unwrap();
        assert!(put.succeeded(), "{}", put.message());
        let got = client.get_config("greeting").await.unwrap();
        assert_eq!(got.data().and_then(|c| c.get("lang")).map(String::as_str), Some("en"));
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("config_set arrives").unwrap();
        use cloudevents::AttributesReader as _;
        assert_eq!(event.ty(), "com.wasmcloud.lattice.config_set");
        assert!(matches!(event.data(), Some(cloudevents::Data::Json(v)) if v["config_name"] == "greeting"), "{event:?}");
        // Where wasmCloud hosts keep named config, in their format.
        let bucket = async_nats_wasmcloud::jetstream::new(connection).get_key_value("CONFIGDATA_default").await.unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&bucket.get("greeting").await.unwrap().expect("config in CONFIGDATA_default")).unwrap();
        assert_eq!(stored, serde_json::json!({"lang": "en"}));
    });
    let got = cli_json(&nats, &["config", "get", "greeting", "-o", "json"]);
    assert_eq!(got["lang"], "en");
    let out = trellis().args(["--nats", &nats.url, "config", "del", "greeting"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = trellis().args(["--nats", &nats.url, "config", "get", "greeting"]).output().unwrap();
    assert!(!out.status.success(), "deleted config is gone");
}

#[test]
fn wadm_client_conforms() {
    let nats = Nats::start_jetstream();
    let _host = Node::start(&nats, "host", &[]);
    let _manager = Node::start(&nats, "manager", &[]);
    let file = manifest(&app("greeter", &[component("hello", guests::HELLO, 1, "")]));
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let options = wadm_client::ClientConnectOptions { url: Some(nats.url.clone()), ..Default::default() };
        let client = wadm_client::Client::new("default", None, options).await.unwrap();
        let (name, version) = client.put_manifest(file.path.as_path()).await.unwrap();
        assert_eq!((name.as_str(), version.as_str()), ("greeter", "v0.1.0"));
        let listed = client.list_manifests().await.unwrap();
        assert_eq!(listed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["greeter"]);
        let got = client.get_manifest("greeter", None).await.unwrap();
        assert_eq!(got.metadata.name, "greeter");
        assert_eq!(client.list_versions("greeter").await.unwrap().len(), 1);
        let mut updates = client.subscribe_to_status("greeter").await.unwrap();
        let ctl = wasmcloud_control_interface::ClientBuilder::new(async_nats_wasmcloud::connect(&nats.url).await.unwrap()).build();
        let mut events = ctl.events_receiver(vec!["component_scaled".into(), "host_heartbeat".into()]).await.unwrap();
        let (deployed, at) = client.deploy_manifest("greeter", None).await.unwrap();
        assert_eq!((deployed.as_str(), at.as_deref()), ("greeter", Some("v0.1.0")));
        let status = until_async("greeter to be deployed", Duration::from_secs(60), || async {
            let status = client.get_manifest_status("greeter").await.unwrap();
            (status.info.status_type == wadm_types::api::StatusType::Deployed).then_some(status)
        })
        .await;
        assert!(!status.scalers.is_empty());
        let update = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut updates)).await.unwrap().unwrap();
        let update: serde_json::Value = serde_json::from_slice(&update.payload).expect("status updates are JSON");
        assert!(update.is_object(), "{update}");
        // wasmCloud's client reads the hosts' CloudEvents: the scale of greeter's component, heartbeats.
        let (mut scaled, mut heartbeat) = (None, false);
        while scaled.is_none() || !heartbeat {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("events arrive").unwrap();
            use cloudevents::AttributesReader as _;
            let data = match event.data() {
                Some(cloudevents::Data::Json(v)) => v.clone(),
                other => panic!("event data is not JSON: {other:?}"),
            };
            match event.ty() {
                "com.wasmcloud.lattice.component_scaled" => scaled = Some(data),
                "com.wasmcloud.lattice.host_heartbeat" => heartbeat = data["host_id"] == *event.source(),
                other => panic!("unexpected event {other}"),
            }
        }
        let scaled = scaled.unwrap();
        assert_eq!((scaled["component_id"].as_str(), scaled["max_instances"].as_u64()), (Some("greeter-hello"), Some(1)), "{scaled}");
        assert_eq!(scaled["annotations"]["wasmcloud.dev/appspec"], "greeter");
        client.undeploy_manifest("greeter").await.unwrap();
        assert!(client.delete_manifest("greeter", None).await.unwrap());
        assert!(client.list_manifests().await.unwrap().is_empty());
    });
}

/// Debian ships nats-server 2.9.10: hosts, a manager and the CLI work on it too.
#[test]
fn debian_nats_2_9_smoke() {
    let nats = Nats::start_debian();
    let host = Node::start(&nats, "host", &["--label", "distro=debian"]);
    let _manager = Node::start(&nats, "manager", &[]);
    let file = manifest(&app("smoke", &[component("hello", guests::HELLO, 2, "")]));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let placed = placement(&nats);
    assert_eq!(placed.get(&host.host_id()).and_then(|(_, c)| c.get("smoke-hello")), Some(&2), "{placed:?}");
}

/// `trellis up --nats` is one node of a lattice: its manager places on hosts of other processes,
/// and its API reaches them.
#[test]
fn up_joined_to_nats_places_on_a_separate_host() {
    let nats = Nats::start_jetstream();
    let up = Up::start(&[], &["--nats", &nats.url, "--host", "region=a", "--heartbeat-interval", HEARTBEAT]).unwrap();
    let remote = Node::start(&nats, "host", &["--label", "region=b"]);
    let only_b = component("hello", guests::HELLO, 2, "").replace(
        "            instances: 2\n",
        "            instances: 2\n            spread:\n              - name: b\n                requirements:\n                  region: b\n",
    );
    let file = manifest(&app("remote", &[only_b]));
    let out = up.cli(&["app", "deploy", file.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), up.log());
    let hosts = up.cli_json(&["get", "hosts", "-o", "json"]);
    let ran: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["components"].as_array().unwrap().iter().any(|c| c["id"] == "remote-hello"))
        .map(|h| h["host_id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, vec![remote.host_id().as_str()], "{hosts}");
}

/// nats-server restarted under a running lattice: hosts and manager reconnect, nothing is
/// lost, and the status converges to deployed again.
#[test]
fn a_nats_restart_loses_nothing() {
    let mut nats = Nats::start_jetstream();
    let host = Node::start(&nats, "host", &[]);
    let _manager = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);
    let file = manifest(&app("steady", &[component("hello", guests::HELLO, 2, "")]));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = placement(&nats);

    nats.restart();
    let after = until("the lattice to answer again with the same placement", Duration::from_secs(30), || {
        let out = trellis().args(["--nats", &nats.url, "get", "hosts", "-o", "json"]).output().unwrap();
        let placed = placement_of(&serde_json::from_slice(&out.stdout).ok()?);
        (placed == before).then_some(placed)
    });
    assert_eq!(after.get(&host.host_id()).and_then(|(_, c)| c.get("steady-hello")), Some(&2));
    until("the status to be deployed again", Duration::from_secs(30), || {
        let status = cli_json(&nats, &["app", "status", "steady", "-o", "json"]);
        (status["status"]["type"] == "deployed").then_some(())
    });
}

/// `--host-seed` (`WASMCLOUD_HOST_SEED`) gives a host a stable id; a seed of the wrong kind is refused by name.
#[test]
fn a_host_seed_fixes_the_host_id() {
    let nats = Nats::start();
    let key = nkeys::KeyPair::new_server();
    let host = Node::start(&nats, "host", &["--host-seed", &key.seed().unwrap()]);
    assert_eq!(host.host_id(), key.public_key());

    let user = nkeys::KeyPair::new_user().seed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = trellis().args(["--nats", &nats.url, "host", "--state-dir"]).arg(dir.path()).env("WASMCLOUD_HOST_SEED", &user).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--host-seed") && stderr.contains("server nkey seed"), "{stderr}");
}

#[test]
fn a_host_stops_on_sigterm_even_with_its_nats_server_gone() {
    let nats = Nats::start();
    let host = Node::start(&nats, "host", &[]);
    drop(nats);
    let status = host.terminate(Duration::from_secs(20)).expect("the host exits on SIGTERM although it cannot flush its last events");
    assert!(status.success(), "{status}");
}

/// How many processes answer one request on `subject` within half a second.
async fn responders(url: &str, subject: &str) -> usize {
    let client = async_nats_wasmcloud::connect(url).await.unwrap();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client.publish_with_reply(subject.to_owned(), inbox, Vec::new().into()).await.unwrap();
    client.flush().await.unwrap();
    let mut count = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), futures::StreamExt::next(&mut replies)).await {
        count += 1;
    }
    count
}

/// Two managers on one lattice: one acts and answers, the other stands by. `kill -9` of the
/// acting one: the standby takes the lease over within about 1⅓ lease terms (3 heartbeats
/// each), finds every application in JetStream, and acts on the next change.
#[test]
fn a_standby_manager_takes_over_and_nothing_is_lost() {
    let nats = Nats::start_jetstream();
    let host = Node::start(&nats, "host", &[]);
    let first = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);
    assert!(first.greeting.starts_with("manager acting"), "{}", first.greeting);
    let second = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);
    assert!(second.greeting.contains("standing by"), "{}", second.greeting);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(runtime.block_on(responders(&nats.url, "wadm.api.default.model.list")), 1, "only the acting manager answers");

    let deploy = |instances: u32, version: &str| {
        let yaml = app("kept", &[component("hello", guests::HELLO, instances, "")]).replace("version: v0.1.0", &format!("version: {version}"));
        let file = manifest(&yaml);
        let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    deploy(2, "v1");
    let on_host = |nats: &Nats| placement(nats).get(&host.host_id()).and_then(|(_, c)| c.get("kept-hello").copied());
    assert_eq!(on_host(&nats), Some(2));

    first.kill();
    let killed = Instant::now();
    until("the standby to act", Duration::from_secs(30), || {
        let out = trellis().args(["--nats", &nats.url, "app", "status", "kept", "-o", "json"]).output().unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (status["status"]["type"] == "deployed").then_some(())
    });
    eprintln!("standby took over and reported `kept` deployed {} ms after kill -9", killed.elapsed().as_millis());
    assert_eq!(runtime.block_on(responders(&nats.url, "wadm.api.default.model.list")), 1);
    let versions = cli_json(&nats, &["app", "list", "-o", "json"]);
    assert!(versions.to_string().contains("kept"), "{versions}");
    assert_eq!(on_host(&nats), Some(2), "taking over did not disturb what runs");

    deploy(3, "v2");
    assert_eq!(on_host(&nats), Some(3), "the new manager acts on changes");
    let third = Node::start(&nats, "manager", &[]);
    assert!(third.greeting.contains("standing by"), "{}", third.greeting);
    drop(second);
}

/// A manager on NATS keeps its state in JetStream: against a server without it, it refuses to
/// start and says what it needs.
#[test]
fn a_manager_needs_jetstream() {
    let nats = Nats::start();
    let out = trellis().args(["--nats", &nats.url, "manager"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JetStream") && stderr.contains("-js"), "{stderr}");
}
