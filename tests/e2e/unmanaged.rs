//! Components outside manifests (`trellis start|scale|stop component`), on an embedded instance:
//! the same control-interface requests `wash` sends to wasmCloud hosts.

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

    let managed = up.cli(&["scale", "component", &host, "managed_hello", guests::HELLO, "--count", "5"]);
    assert!(!managed.status.success());
    let stderr = String::from_utf8_lossy(&managed.stderr);
    assert!(stderr.contains("belongs to application `managed`"), "{stderr}");

    let provider = up.cli(&["start", "provider", "ghcr.io/wasmcloud/http-server:0.23.2", "http"]);
    assert!(!provider.status.success());

    let stopped = up.cli(&["stop", "component", "callee-1"]);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert_eq!(max_instances(&up), None);
    let again = up.cli(&["stop", "component", "callee-1"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("runs on no host"));
}
