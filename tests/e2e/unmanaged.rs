//! Components outside manifests (`trellis start|scale|stop component`), on an embedded instance:
//! the same control-interface requests `wash` sends to wasmCloud hosts.

use std::time::Duration;

use crate::util::until;
use crate::util::{Up, app, component, guests, manifest};

#[test]
fn components_outside_manifests_start_scale_and_stop() {
    let file = manifest(&app("managed", &[component("hello", guests::HELLO, 1, "")]));
    let up = Up::start(&[&file.path], &["--resync-interval-ms", "200"]).unwrap();
    let started = up.cli(&["start", "component", guests::CALLEE, "callee-1", "--count", "2"]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    assert!(String::from_utf8_lossy(&started.stdout).contains("up to 2 instances"));
    let called = up.cli_json(&["call", "callee-1", "trellis:calls/greeter.greet", "Ed", "1", "-o", "json"]);
    assert!(called.to_string().contains("Ed"), "{called}");

    let host = up.cli_json(&["get", "hosts", "-o", "json"])[0]["host_id"].as_str().unwrap().to_owned();
    let rescaled = up.cli(&["scale", "component", &host, "callee-1", guests::CALLEE, "--count", "3"]);
    assert!(rescaled.status.success(), "{}", String::from_utf8_lossy(&rescaled.stderr));
    let max_instances = |up: &Up| {
        let inventory = up.cli_json(&["get", "inventory", "-o", "json"]);
        inventory[0]["components"].as_array().unwrap().iter().find(|c| c["id"] == "callee-1").map(|c| c["max_instances"].as_u64().unwrap())
    };
    assert_eq!(max_instances(&up), Some(3));

    // The manager leaves it alone: a redeploy (a full reconcile pass) does not remove it.
    let next = manifest(&app("managed", &[component("hello", guests::HELLO, 2, "")]).replace("v0.1.0", "v0.2.0"));
    let deployed = up.cli(&["app", "deploy", next.path.to_str().unwrap(), "--wait"]);
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    assert_eq!(max_instances(&up), Some(3));

    let missing = up.cli(&["start", "component", guests::CALLEE, "callee-2", "--config", "absent"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("config `absent` is not defined") && stderr.contains("callee-2"), "{stderr}");

    let managed = up.cli(&["scale", "component", &host, "managed-hello", guests::HELLO, "--count", "5"]);
    assert!(!managed.status.success());
    let stderr = String::from_utf8_lossy(&managed.stderr);
    assert!(stderr.contains("belongs to application `managed`"), "{stderr}");

    let provider = up.cli(&["start", "provider", "ghcr.io/wasmcloud/keyvalue-vault:0.7.0", "db"]);
    assert!(!provider.status.success());
    let stderr = String::from_utf8_lossy(&provider.stderr);
    assert!(stderr.contains("no built-in capability") && stderr.contains("--nats") && stderr.contains("http-server"), "{stderr}");

    let stopped = up.cli(&["stop", "component", "callee-1"]);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert_eq!(max_instances(&up), None);
    let again = up.cli(&["stop", "component", "callee-1"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("runs on no host"));
}

/// `trellis link put|del` (wasmCloud's `link.put`/`link.del`) on components outside manifests:
/// the host running the source applies each change, and calls follow it.
#[test]
fn links_put_through_the_control_interface_bind_and_unbind_imports() {
    let file = manifest(&app("managed", &[component("hello", guests::HELLO, 1, "")]));
    let up = Up::start(&[&file.path], &[]).unwrap();
    for (image, id) in [(guests::CALLEE, "callee-1"), (guests::CALLER, "caller-1")] {
        let started = up.cli(&["start", "component", image, id]);
        assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    }
    let relay = |up: &Up| up.cli(&["call", "caller-1", "trellis:plain/relay.greet", "Ed", "2"]);
    let unlinked = relay(&up);
    assert!(!unlinked.status.success());
    let stderr = String::from_utf8_lossy(&unlinked.stderr);
    assert!(stderr.contains("caller-1") && stderr.contains("trellis:calls/greeter"), "the failed call names component and interface: {stderr}");

    let put = up.cli(&["link", "put", "caller-1", "callee-1", "trellis", "calls", "--interface", "greeter"]);
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    let greeted = until("the link to apply", Duration::from_secs(30), || {
        let out = relay(&up);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert!(greeted.contains("Hello, Ed! Hello, Ed! (2 times"), "{greeted}");
    let links = up.cli_json(&["link", "get", "-o", "json"]);
    let put_link = links.as_array().unwrap().iter().find(|l| l["source_id"] == "caller-1").expect("the link is listed");
    assert_eq!((put_link["target"].as_str(), put_link["interfaces"][0].as_str()), (Some("callee-1"), Some("greeter")));

    // wasmCloud's rules: one import, one target; every named config must exist.
    let clash = up.cli(&["link", "put", "caller-1", "other", "trellis", "calls", "-i", "greeter"]);
    assert!(!clash.status.success() && String::from_utf8_lossy(&clash.stderr).contains("different target (callee-1)"));
    let unconfigured = up.cli(&["link", "put", "caller-1", "callee-1", "trellis", "plain", "-i", "echo", "--target-config", "absent"]);
    assert!(!unconfigured.status.success() && String::from_utf8_lossy(&unconfigured.stderr).contains("configuration `absent` not found"));
    let managed = up.cli(&["link", "put", "managed-hello", "callee-1", "trellis", "calls", "-i", "greeter"]);
    assert!(!managed.status.success() && String::from_utf8_lossy(&managed.stderr).contains("of application `managed`"));

    let deleted = up.cli(&["link", "del", "caller-1", "trellis", "calls"]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    until("the link to go", Duration::from_secs(30), || (!relay(&up).status.success()).then_some(()));
    assert!(!up.cli_json(&["get", "links", "-o", "json"]).to_string().contains("caller-1"));
}

/// `wash`'s first steps, unchanged: start a component, start the http-server provider, link
/// them with the address in named config, and the component answers; unlink and it stops.
#[test]
fn the_http_server_provider_serves_a_component_linked_through_the_control_interface() {
    let up = Up::start(&[], &[]).unwrap();
    let port = crate::util::free_port();
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(up.cli(&["start", "component", guests::HELLO, "hello-1"]));
    ok(up.cli(&["config", "put", "default-http", &format!("address=127.0.0.1:{port}")]));
    ok(up.cli(&["start", "provider", "ghcr.io/wasmcloud/http-server:0.23.2", "http-server"]));
    let inventory = up.cli_json(&["get", "inventory", "-o", "json"]);
    let providers = &inventory[0]["providers"];
    assert_eq!((providers[0]["id"].as_str(), providers[0]["image_ref"].as_str()), (Some("http-server"), Some("ghcr.io/wasmcloud/http-server:0.23.2")), "{inventory}");
    ok(up.cli(&["link", "put", "http-server", "hello-1", "wasi", "http", "--interface", "incoming-handler", "--source-config", "default-http"]));
    let url = format!("http://127.0.0.1:{port}/");
    let body = until("the provider to serve hello-1", Duration::from_secs(30), || {
        let reply = crate::util::try_get(&url)?;
        (reply == 200).then(|| crate::util::get(&url, None).body)
    });
    assert_eq!(body, "Hello from Trellis!\n");

    // A change to the named config the link names moves the listener, as `config.update` would.
    let moved = crate::util::free_port();
    ok(up.cli(&["config", "put", "default-http", &format!("address=127.0.0.1:{moved}")]));
    let url = format!("http://127.0.0.1:{moved}/");
    until("the listener to move", Duration::from_secs(30), || (crate::util::try_get(&url) == Some(200)).then_some(()));
    until("the old listener to close", Duration::from_secs(30), || crate::util::try_get(&format!("http://127.0.0.1:{port}/")).is_none().then_some(()));

    ok(up.cli(&["link", "del", "http-server", "wasi", "http"]));
    until("the listener to close", Duration::from_secs(30), || crate::util::try_get(&url).is_none().then_some(()));
    ok(up.cli(&["stop", "provider", "http-server"]));
    let inventory = up.cli_json(&["get", "inventory", "-o", "json"]);
    assert!(inventory[0]["providers"].as_array().unwrap().is_empty(), "{inventory}");
    let again = up.cli(&["stop", "provider", "http-server"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("runs on no host"));
}

/// A component linked through the control interface to a keyvalue provider gets that built-in
/// capability, with the link's target config, as a manifest link would give it.
#[test]
fn a_component_linked_to_a_keyvalue_provider_stores_through_it() {
    let up = Up::start(&[], &[]).unwrap();
    let port = crate::util::free_port();
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(up.cli(&["start", "component", guests::KV, "kv-1"]));
    // The link may come first: the provider's start re-applies it.
    ok(up.cli(&["link", "put", "kv-1", "kvstore", "wasi", "keyvalue", "-i", "store", "-i", "atomics", "-i", "batch"]));
    ok(up.cli(&["start", "provider", "wasmcloud+builtin://keyvalue-memory", "kvstore"]));
    ok(up.cli(&["config", "put", "kv-address", &format!("address=127.0.0.1:{port}")]));
    ok(up.cli(&["start", "provider", "ghcr.io/wasmcloud/http-server:0.24.0", "http"]));
    ok(up.cli(&["link", "put", "http", "kv-1", "wasi", "http", "-i", "incoming-handler", "--source-config", "kv-address"]));
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    until("kv-1 to store through kvstore", Duration::from_secs(30), || (crate::util::try_get(&url("set/greeting/hi"))? == 200).then_some(()));
    assert_eq!(crate::util::get(&url("get/greeting"), None).body, "hi");
    assert_eq!(crate::util::get(&url("incr/hits"), None).body, "1");
    assert_eq!(crate::util::get(&url("incr/hits"), None).body, "2");
}
