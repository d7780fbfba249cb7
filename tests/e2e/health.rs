//! Capability health: a backend that stops answering makes its application `unhealthy`, naming
//! the capability and the error, until it answers again; on NATS, hosts publish wasmCloud's
//! `health_check_*` events and answer a provider's health requests.

use std::time::Duration;

use async_nats_wasmcloud as nats;
use futures::StreamExt as _;

use crate::capabilities::kv_app;
use crate::util::*;

const SETTLE: Duration = Duration::from_secs(30);

#[test]
fn a_backend_that_stops_answering_makes_the_app_unhealthy_until_it_answers_again() {
    let mut redis = Redis::start();
    let port = free_port();
    let m = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[("URL", &redis.url)], port);
    let up = Up::start(&[&m.path], &["--heartbeat-interval", "0.3"]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/incr/hits"), None).body, "1");

    redis.kill();
    let status = up.wait_for_status("counter", SETTLE, |s| s["status"]["type"] == "unhealthy");
    let message = status["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("capability `kv` failed its health check: redis keyvalue store redis://127.0.0.1:"), "{message}");
    assert!(message.ends_with("(spec.components[1], line 33)"), "{message}");
    up.wait_for_log(&["health check failed", "counter-kv"]);

    redis.restart();
    up.wait_for_status("counter", SETTLE, |s| s["status"]["type"] == "deployed");
    up.wait_for_log(&["health check passed", "counter-kv"]);
    assert_eq!(get(&format!("http://127.0.0.1:{port}/incr/hits"), None).status, 200);
}

#[test]
fn on_nats_hosts_report_health_as_wasmclouds_do() {
    let nats_server = Nats::start_jetstream();
    let up = Up::start(&[], &["--nats", &nats_server.url, "--heartbeat-interval", "0.3"]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = runtime.block_on(nats::connect(&nats_server.url)).unwrap();
    let mut events = runtime.block_on(client.subscribe("wasmbus.evt.default.>")).unwrap();

    let started = up.cli(&["start", "provider", "ghcr.io/wasmcloud/keyvalue-redis:0.28.1", "cache"]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));

    runtime.block_on(async move {
        // The first check passes, the next ones report the same state.
        let mut seen = Vec::new();
        while !seen.iter().any(|t: &String| t.ends_with("health_check_status")) {
            let message = tokio::time::timeout(SETTLE, events.next()).await.expect("health events").unwrap();
            let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            if event["type"].as_str().unwrap().contains("health_check") && event["data"]["provider_id"] == "cache" {
                seen.push(event["type"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(seen[0], "com.wasmcloud.lattice.health_check_passed", "{seen:?}");

        let reply = client.request("wasmbus.rpc.default.cache.health", "".into()).await.unwrap();
        let health: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(health, serde_json::json!({"healthy": true}));
        // A provider that runs nowhere gets no answer.
        let nobody = tokio::time::timeout(Duration::from_secs(2), client.request("wasmbus.rpc.default.absent.health", "".into())).await;
        assert!(!matches!(nobody, Ok(Ok(_))), "answered for a provider that does not run");
    });

    // The manager learns of a failing backend from the hosts' heartbeats.
    let mut redis = Redis::start();
    let port = free_port();
    let m = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[("URL", &redis.url)], port);
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    redis.kill();
    let status = up.wait_for_status("counter", SETTLE, |s| s["status"]["type"] == "unhealthy");
    assert!(status["status"]["message"].as_str().unwrap().contains("capability `kv` failed its health check"), "{status}");
    redis.restart();
    up.wait_for_status("counter", SETTLE, |s| s["status"]["type"] == "deployed");
}
