//! wasmcloud:secrets: values put in the local encrypted store reach exactly the components whose
//! manifest entries reference them, and appear nowhere else.

use std::io::Write as _;
use std::process::Stdio;

use crate::util::*;

/// `trellis secret put KEY` with `value` on standard input.
fn put_secret(up: &Up, key: &str, value: &[u8], extra: &[&str]) {
    let mut child = trellis()
        .args(["secret", "put", key])
        .args(extra)
        .env("TRELLIS_API", &up.api)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(value).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "secret put {key}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The kv guest with `secrets` (name, key, optional field) under policy `vault` (a policy
/// written for wasmCloud's NATS KV backend: embedded mode answers it from the local store).
fn with_secrets(name: &str, secrets: &[(&str, &str, Option<&str>)]) -> String {
    with_secrets_from(name, guests::KV, secrets)
}

/// As [`with_secrets`], with the kv guest at `image`.
pub(crate) fn with_secrets_from(name: &str, image: &str, secrets: &[(&str, &str, Option<&str>)]) -> String {
    let mut out = format!("    - name: {name}\n      type: component\n      properties:\n        image: file://{image}\n");
    if !secrets.is_empty() {
        out += "        secrets:\n";
        for (secret, key, field) in secrets {
            out += &format!("          - name: {secret}\n            properties:\n              policy: vault\n              key: {key}\n");
            if let Some(f) = field {
                out += &format!("              field: {f}\n");
            }
        }
    }
    out + "      traits:\n        - type: spreadscaler\n          properties:\n            instances: 2\n"
}

pub(crate) fn with_policy(app: String) -> String {
    app.replace("spec:\n", "spec:\n  policies:\n    - name: vault\n      type: policy.secret.wasmcloud.dev/v1alpha1\n      properties:\n        backend: nats-kv\n")
}

const API_KEY: &str = "sk-live-4f9a-only-for-owner";
const DB_PASSWORD: &str = "pw-never-in-logs-71c2";

#[test]
fn secrets_reach_only_the_components_that_reference_them_and_never_leak() {
    let up = Up::start(&[], &[]).unwrap();
    put_secret(&up, "api-key", format!("{API_KEY}\n").as_bytes(), &[]);
    put_secret(&up, "db", format!(r#"{{"user":"app","password":"{DB_PASSWORD}"}}"#).as_bytes(), &[]);
    put_secret(&up, "signing-key", &[0xde, 0xad, 0xbe, 0xef], &["--binary"]);
    // A second put is a new version.
    put_secret(&up, "api-key", API_KEY.as_bytes(), &[]);

    let listed = up.cli_json(&["secret", "list", "-o", "json"]);
    assert_eq!(listed[0], serde_json::json!({"key": "api-key", "version": 2, "kind": "String"}), "{listed}");
    assert_eq!(listed[2]["kind"], "Bytes", "{listed}");

    let (owner_port, other_port) = (free_port(), free_port());
    let m = manifest(&with_policy(app(
        "vaulted",
        &[
            with_secrets("owner", &[("api", "api-key", None), ("db-password", "db", Some("password")), ("signing", "signing-key", None)]),
            with_secrets("other", &[]),
            http_server(
                "http",
                &[],
                &[("owner", &[("address", &format!("127.0.0.1:{owner_port}"))]), ("other", &[("address", &format!("127.0.0.1:{other_port}"))])],
            ),
        ],
    )));
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), up.log());

    let owner = |path: &str| get(&format!("http://127.0.0.1:{owner_port}/{path}"), None);
    assert_eq!(owner("secret/api").body, API_KEY);
    assert_eq!(owner("secret/db-password").body, DB_PASSWORD);
    assert_eq!(owner("secret/signing").body, "bytes:deadbeef");
    // Names are the manifest's, not the store's keys.
    assert_eq!(owner("secret/api-key").status, 404);
    // The other component of the same app has no references, so it reaches nothing.
    let other = get(&format!("http://127.0.0.1:{other_port}/secret/api"), None);
    assert_eq!((other.status, other.body.as_str()), (404, "not-found"));

    // The values appear in no output of Trellis: not the log, status, manifest, hosts or listing.
    let mut seen = up.log();
    for args in [
        &["app", "status", "vaulted", "-o", "json"][..],
        &["app", "get", "vaulted", "-o", "json"],
        &["get", "hosts", "-o", "json"],
        &["secret", "list", "-o", "json"],
    ] {
        seen += &String::from_utf8_lossy(&up.cli(args).stdout);
    }
    for value in [API_KEY, DB_PASSWORD, "deadbeef"] {
        assert!(!seen.contains(value), "`{value}` leaked:\n{seen}");
    }
}

#[test]
fn a_missing_secret_fails_the_deploy_naming_field_line_and_key() {
    let up = Up::start(&[], &[]).unwrap();
    let m = manifest(&with_policy(app("needy", &[with_secrets("needy", &[("token", "not-put-yet", None)])])));
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success());
    let status = up.cli_json(&["app", "status", "needy", "-o", "json"]);
    let text = status["status"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(status["status"]["type"], "failed", "{status}");
    assert!(
        text.contains("secret `token`: secret `not-put-yet` is not in the local secret store")
            && text.contains("(spec.components[0].properties.secrets[0], line 19)"),
        "{text}"
    );
    // Putting it lets the next retry succeed: the reconciler keeps trying with backoff.
    put_secret(&up, "not-put-yet", b"now-here", &[]);
    up.wait_for_status("needy", std::time::Duration::from_secs(30), |s| s["status"]["type"] == "deployed");
}

#[test]
fn link_secrets_configure_a_capability_and_connection_errors_hide_passwords() {
    let redis = Redis::start();
    let up = Up::start(&[], &[]).unwrap();
    let closed = free_port();
    put_secret(&up, "redis-url", redis.url.as_bytes(), &[]);
    put_secret(&up, "bad-redis-url", format!("redis://app:{DB_PASSWORD}@127.0.0.1:{closed}/").as_bytes(), &[]);
    let kv_app = |name: &str, key: &str, port: u16| {
        let component = with_secrets(name, &[]) + &format!(
            "        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics]\n            target:\n              name: store\n              secrets:\n                - name: URL\n                  properties:\n                    policy: vault\n                    key: {key}\n"
        );
        let capability = "    - name: store\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n".to_owned();
        manifest(&with_policy(app(name, &[component, capability, http_server("http", &[], &[(name, &[("address", &format!("127.0.0.1:{port}"))])])])))
    };
    let port = free_port();
    let good = kv_app("cache", "redis-url", port);
    let out = up.cli(&["app", "deploy", good.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), up.log());
    assert_eq!(get(&format!("http://127.0.0.1:{port}/incr/hits"), None).body, "1");

    let bad = kv_app("leaky", "bad-redis-url", free_port());
    assert!(!up.cli(&["app", "deploy", bad.path.to_str().unwrap(), "--wait"]).status.success());
    let status = up.cli_json(&["app", "status", "leaky", "-o", "json"]);
    let text = status.to_string();
    assert!(text.contains("cannot connect to Redis at `redis://app:***@127.0.0.1"), "{text}");
    assert!(!text.contains(DB_PASSWORD) && !up.log().contains(DB_PASSWORD), "password leaked:\n{text}\n{}", up.log());
}
