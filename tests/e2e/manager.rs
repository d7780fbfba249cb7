//! The deployment manager through the real binary: the `trellis app` commands, placement on
//! labelled hosts, status with reasons, cross-app checks, upgrades under load, restarts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::util::*;

const SETTLE: Duration = Duration::from_secs(60);

fn hello_app(name: &str, version: &str, port: u16) -> String {
    app(
        name,
        &[component("hello", guests::HELLO, 4, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])],
    )
    .replace("version: v0.1.0", &format!("version: {version}"))
}

fn status_type(status: &serde_json::Value) -> &str {
    status["status"]["type"].as_str().unwrap_or_default()
}

fn message(status: &serde_json::Value) -> String {
    status["status"]["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn app_commands_put_deploy_upgrade_and_roll_back_without_dropping_a_request() {
    let up = Up::start(&[], &[]).unwrap();
    let port = free_port();
    let v1 = manifest(&hello_app("shop", "v1", port));
    let v2 = manifest(&hello_app("shop", "v2", port).replace("instances: 4", "instances: 8"));

    let put = up.cli_json(&["app", "put", v1.path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(put["version"], "v1");
    let again = up.cli(&["app", "put", v1.path.to_str().unwrap()]);
    assert!(!again.status.success(), "putting an existing version must fail");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has version `v1`"));
    let missing = up.cli(&["app", "deploy", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no application named `nope`"));

    let deployed = up.cli(&["app", "deploy", "shop", "v1", "--wait"]);
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&url, None).body, "Hello from Trellis!\n");

    // Load through an upgrade to v2 and a rollback to v1: not one request may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let counter = match try_get(&url) {
                        Some(200) => &ok,
                        _ => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let upgrade = up.cli(&["app", "deploy", v2.path.to_str().unwrap(), "--wait"]);
    assert!(upgrade.status.success(), "{}", String::from_utf8_lossy(&upgrade.stderr));
    let versions = up.cli_json(&["app", "versions", "shop", "-o", "json"]);
    assert_eq!(versions, serde_json::json!([{"version": "v1", "deployed": false}, {"version": "v2", "deployed": true}]));
    let rollback = up.cli(&["app", "deploy", "shop", "v1", "--wait"]);
    assert!(rollback.status.success(), "{}", String::from_utf8_lossy(&rollback.stderr));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 100, "too little load to mean anything: {ok}");
    assert_eq!(failed, 0, "{failed} of {} requests failed during upgrade and rollback", ok + failed);

    let list = up.cli_json(&["app", "list", "-o", "json"]);
    assert_eq!(list[0]["deployed_version"], "v1");
    assert_eq!(list[0]["detailed_status"]["status"]["type"], "deployed");

    assert!(up.cli(&["app", "undeploy", "shop"]).status.success());
    up.wait_for_status("shop", SETTLE, |s| status_type(s) == "undeployed");
    until("the undeployed app to stop being served", SETTLE, || (try_get(&url) != Some(200)).then_some(()));
    let deleted = up.cli_json(&["app", "delete", "shop", "-o", "json"]);
    assert_eq!(deleted["result"], "deleted");
    assert!(!up.cli(&["app", "status", "shop"]).status.success());
}

#[test]
fn placement_follows_labels_and_status_follows_hosts() {
    let up = Up::start(&[], &["--host", "region=eu,zone=a", "--host", "region=eu,zone=b", "--host", "region=us", "--resync-interval-ms", "500"])
        .unwrap();
    let hosts = up.cli_json(&["get", "hosts", "-o", "json"]);
    assert_eq!(hosts.as_array().unwrap().len(), 3);

    let spread = |name: &str, region: &str| {
        app(name, &[component("hello", guests::HELLO, 3, "")]).replace(
            "            instances: 3\n",
            &format!("            instances: 3\n            spread:\n              - name: {region}\n                requirements:\n                  region: {region}\n"),
        )
    };
    let eu = manifest(&spread("in-eu", "eu"));
    assert!(up.cli(&["app", "deploy", eu.path.to_str().unwrap(), "--wait"]).status.success());
    let running_on = |app: &str| -> Vec<(String, String)> {
        let hosts = up.cli_json(&["get", "hosts", "-o", "json"]);
        hosts
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["trellis_apps"].get(app).is_some())
            .map(|h| (h["host_id"].as_str().unwrap().to_owned(), h["labels"]["region"].as_str().unwrap_or_default().to_owned()))
            .collect()
    };
    let placed = running_on("in-eu");
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].1, "eu");

    // Nobody matches: waiting, with the requirement named.
    let ap = manifest(&spread("in-ap", "ap"));
    let out = up.cli(&["app", "deploy", ap.path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success(), "a waiting app is not deployed");
    let status = up.cli_json(&["app", "status", "in-ap", "-o", "json"]);
    assert_eq!(status_type(&status), "waiting");
    assert!(message(&status).contains("no host matches region=ap"), "{status}");

    // A host leaves: the status changes within a resync and the app moves to the other eu host.
    let lost = placed[0].0.clone();
    assert!(up.cli(&["stop", "host", &lost]).status.success());
    up.wait_for_status("in-eu", SETTLE, |s| status_type(s) == "deployed" && {
        let now = running_on("in-eu");
        now.len() == 1 && now[0].0 != lost && now[0].1 == "eu"
    });

    // A label changes: the waiting app finds its host.
    let us = running_on_label(&up, "us");
    assert!(up.cli(&["label", &us, "region=ap"]).status.success());
    up.wait_for_status("in-ap", SETTLE, |s| status_type(s) == "deployed");
    assert_eq!(running_on("in-ap"), vec![(us, "ap".to_owned())]);
}

fn running_on_label(up: &Up, region: &str) -> String {
    let hosts = up.cli_json(&["get", "hosts", "-o", "json"]);
    hosts.as_array().unwrap().iter().find(|h| h["labels"]["region"] == region).unwrap()["host_id"].as_str().unwrap().to_owned()
}

#[test]
fn deploys_that_take_from_another_app_are_refused_naming_both() {
    let up = Up::start(&[], &[]).unwrap();
    let port = free_port();
    let first = manifest(&hello_app("first", "v1", port));
    assert!(up.cli(&["app", "deploy", first.path.to_str().unwrap(), "--wait"]).status.success());

    let second = manifest(&hello_app("second", "v1", port));
    let out = up.cli(&["app", "deploy", second.path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("HTTP address 127.0.0.1:{port}")) && err.contains("`first`") && err.contains("second"), "{err}");
    assert!(err.contains("spec.components[1].traits[0]"), "{err}");

    let same_id = manifest(&app("third", &[component("hello", guests::HELLO, 1, "")]).replace("image:", "id: first-hello\n        image:"));
    let out = up.cli(&["app", "deploy", same_id.path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("component id `first-hello`") && err.contains("deployed app `first`"), "{err}");

    // A config named but not defined is refused until it is put.
    let needs_config = manifest(
        &app("configured", &[component("hello", guests::HELLO, 1, "")]).replace("image:", "config:\n          - name: greeting\n        image:"),
    );
    let out = up.cli(&["app", "deploy", needs_config.path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config `greeting` is not defined") && err.contains("properties.config[0].name"), "{err}");
    assert!(up.cli(&["config", "put", "greeting", "text=hi"]).status.success());
    let ok = up.cli(&["app", "deploy", "configured", "--wait"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // The first app never stopped serving.
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Trellis!\n");
}

#[test]
fn a_failed_deploy_says_which_field_and_line() {
    let up = Up::start(&[], &[]).unwrap();
    let m = manifest(&app("broken", &[component("hello", "/nonexistent/hello.wasm", 1, "")]));
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success());
    let status = up.cli_json(&["app", "status", "broken", "-o", "json"]);
    assert_eq!(status_type(&status), "failed");
    let text = message(&status);
    assert!(text.contains("/nonexistent/hello.wasm") && text.contains("(spec.components[0].properties.image, line 12)"), "{text}");
}

#[test]
fn kill_9_and_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let m = manifest(
        &hello_app("durable", "v1", port).replace("        image:", "        config:\n          - name: greeting\n        image:"),
    );
    {
        let up = Up::start_in(&[], &state, &[]).unwrap();
        assert!(up.cli(&["config", "put", "greeting", "text=hi"]).status.success());
        assert!(up.cli(&["app", "put", m.path.to_str().unwrap()]).status.success());
        let v2 = manifest(&std::fs::read_to_string(&m.path).unwrap().replace("version: v1", "version: v2"));
        assert!(up.cli(&["app", "deploy", v2.path.to_str().unwrap(), "--wait"]).status.success());
        assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).status, 200);
        // Dropping `up` sends SIGKILL: no shutdown path runs.
    }
    let up = Up::start_in(&[], &state, &[]).unwrap();
    up.wait_for_status("durable", SETTLE, |s| status_type(s) == "deployed");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Trellis!\n");
    let versions = up.cli_json(&["app", "versions", "durable", "-o", "json"]);
    assert_eq!(versions, serde_json::json!([{"version": "v1", "deployed": false}, {"version": "v2", "deployed": true}]));
    assert_eq!(up.cli_json(&["config", "get", "greeting", "-o", "json"]), serde_json::json!({"text": "hi"}));
}

/// The same manifest deployed again from another directory (a moved project) loads its
/// relative images from there, not from where it was first put.
#[test]
fn the_same_manifest_from_a_moved_directory_loads_its_images_from_there() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let project = |dir: &std::path::Path| {
        std::fs::copy(guests::HELLO_WORLD_EXAMPLE, dir.join("app.wasm")).unwrap();
        let yaml = app("moved", &[component("hello", "./app.wasm", 1, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])]);
        std::fs::write(dir.join("wadm.yaml"), yaml).unwrap();
        dir.join("wadm.yaml")
    };
    let first_dir = tempfile::tempdir().unwrap();
    let first = Up::start_in(&[&project(first_dir.path())], &state.path().join("state"), &[]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");
    assert!(first.terminate().success());
    drop(first_dir);

    let second_dir = tempfile::tempdir().unwrap();
    let _second = Up::start_in(&[&project(second_dir.path())], &state.path().join("state"), &[]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");
}
