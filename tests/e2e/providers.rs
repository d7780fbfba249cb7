//! External providers: a provider archive built with wasmCloud's own provider SDK runs as a
//! process beside the host on a real NATS lattice. A component calls it over wRPC, it calls a
//! component back, and it gets its config and links as wasmCloud hosts hand them over. It is
//! restarted when it dies, and shut down when its application goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use provider_archive::ProviderArchive;

use crate::util::until;
use crate::oci::{Registry, trellis_ok};
use crate::secrets::with_policy;
use crate::secrets_nats::{Backend, PREFIX};
use crate::util::{Nats, Up, app, component, free_port, get, guests, http_server, manifest, trellis, try_get};

const SETTLE: Duration = Duration::from_secs(60);
const TOKEN: &str = "tok-for-the-provider-only-93e1";
const PASSWORD: &str = "pw-sealed-to-one-process-5d07";

/// The fixture provider packed as `wash` packs one: a signed `.par.gz` holding the executable
/// for this machine; and its public key.
fn echo_archive(dir: &Path) -> (PathBuf, String) {
    archive_of(dir, "echo-provider", guests::ECHO_PROVIDER)
}

/// Provider executable `executable` packed as `wash` packs one: a signed `.par.gz` for this
/// machine; and its public key.
pub(crate) fn archive_of(dir: &Path, name: &str, executable: &str) -> (PathBuf, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut archive = ProviderArchive::new(name, "trellis", Some(1), Some("0.1.0".into()));
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    archive.add_library(&target, &std::fs::read(executable).unwrap()).unwrap();
    let path = dir.join(format!("{name}.par.gz"));
    let (account, service) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_service());
    runtime.block_on(archive.write(&path, &account, &service, true)).unwrap();
    (path, service.public_key())
}

/// A component importing `wasi:keyvalue` (store, atomics, batch) linked to a keyvalue provider
/// process that exports wasmCloud's resource-free `wrpc:keyvalue`: the host keeps each bucket
/// resource and forwards every operation, as wasmCloud hosts do, so the provider's values are the
/// component's.
#[test]
fn a_component_stores_through_a_keyvalue_provider_process_bridged_from_wasi_keyvalue() {
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_of(dir.path(), "keyvalue-provider", guests::KEYVALUE_PROVIDER);
    let port = free_port();
    let kv = component("counter", guests::KV, 1, "")
        + "        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics, batch]\n            target:\n              name: kvstore\n";
    let store = format!("    - name: kvstore\n      type: capability\n      properties:\n        image: {}\n", archive.display());
    let http = http_server("http", &[], &[("counter", &[("address", &format!("127.0.0.1:{port}"))])]);
    let m = manifest(&app("bridged", &[kv, store, http]));
    let up = Up::start(&[], &["--nats", &nats.url, "--heartbeat-interval", "0.3"]).unwrap();
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    until("the component to store through the provider", SETTLE, || (try_get(&url("set/greeting/hi"))? == 200).then_some(()));
    assert_eq!(get(&url("get/greeting"), None).body, "hi");
    assert_eq!(get(&url("exists/greeting"), None).body, "true");
    assert_eq!(get(&url("incr/hits"), None).body, "1");
    assert_eq!(get(&url("incr/hits"), None).body, "2");
    // The values live in the provider: it counts the calls it served in a bucket of its own.
    let served: u64 = get(&url("in/provider-stats/get/calls"), None).body.parse().expect("the provider counts its calls");
    assert!(served >= 5, "the provider served {served} calls");
    assert_eq!(get(&url("batch"), None).body, "b1=1,b2=2,- exists(b1)=false");
    assert_eq!(get(&url("keys"), None).body, "b2,greeting,hits");
    assert_eq!(get(&url("del/greeting"), None).body, "ok");
    assert_eq!(get(&url("exists/greeting"), None).body, "false");
}

/// The same bridge when the component, the provider and the link come through the control
/// interface, as `wash` and upstream wadm start them.
#[test]
fn a_component_linked_through_the_control_interface_to_a_keyvalue_provider_process_stores_through_it() {
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = archive_of(dir.path(), "keyvalue-provider", guests::KEYVALUE_PROVIDER);
    let up = Up::start(&[], &["--nats", &nats.url, "--heartbeat-interval", "0.3"]).unwrap();
    let port = free_port();
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(up.cli(&["start", "provider", archive.to_str().unwrap(), "kvp-1"]));
    ok(up.cli(&["start", "component", guests::KV, "kv-1"]));
    ok(up.cli(&["link", "put", "kv-1", "kvp-1", "wasi", "keyvalue", "-i", "store", "-i", "atomics"]));
    ok(up.cli(&["config", "put", "kv-address", &format!("address=127.0.0.1:{port}")]));
    ok(up.cli(&["start", "provider", "ghcr.io/wasmcloud/http-server:0.24.0", "http"]));
    ok(up.cli(&["link", "put", "http", "kv-1", "wasi", "http", "-i", "incoming-handler", "--source-config", "kv-address"]));
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    until("kv-1 to store through kvp-1", SETTLE, || (try_get(&url("set/greeting/hi"))? == 200).then_some(()));
    assert_eq!(get(&url("get/greeting"), None).body, "hi");
    assert_eq!(get(&url("incr/hits"), None).body, "1");
    let served: u64 = get(&url("in/provider-stats/get/calls"), None).body.parse().expect("the provider counts its calls");
    assert!(served >= 3, "the provider served {served} calls");
}

/// `caller` (HTTP) → the `echo` provider (config `greeting`, link config `prefix`) → `callee`.
/// The provider has a secret of its own (`token`, key `echo-token`) and the caller's link one
/// for it (`password`, key `echo-db`).
fn relay_app(archive: &str, port: u16) -> String {
    let link = |target: &str, config: &str| {
        format!(
            "        - type: link\n          properties:\n            namespace: trellis\n            package: plain\n            interfaces: [echo]\n            target:\n              name: {target}\n{config}"
        )
    };
    let secret = |indent: &str, name: &str, key: &str| {
        format!("{indent}- name: {name}\n{indent}  properties:\n{indent}    policy: vault\n{indent}    key: {key}\n")
    };
    let prefix = "              config:\n                - name: echo-prefix\n                  properties:\n                    prefix: \">>\"\n".to_owned()
        + "              secrets:\n"
        + &secret("                ", "password", "echo-db");
    let caller = component("caller", guests::CALLER, 1, "") + &link("echo", &prefix);
    let echo = format!(
        "    - name: echo\n      type: capability\n      properties:\n        image: {archive}\n        config:\n          - name: echo-config\n            properties:\n              greeting: hi\n        secrets:\n{}      traits:\n        - type: spreadscaler\n          properties:\n            instances: 1\n{}",
        secret("          ", "token", "echo-token"),
        link("callee", "")
    );
    let http = http_server("http", &[], &[("caller", &[("address", &format!("127.0.0.1:{port}"))])]);
    with_policy(app("relay", &[caller, component("callee", guests::CALLEE, 1, ""), echo, http]))
}

/// The provider's answer to `/echo/<text>`, split: greeting, prefix, text, relayed, pid, secrets.
fn echo(port: u16, text: &str) -> Option<Vec<String>> {
    if try_get(&format!("http://127.0.0.1:{port}/echo/{text}")) != Some(200) {
        return None;
    }
    let body = get(&format!("http://127.0.0.1:{port}/echo/{text}"), None).body;
    let parts: Vec<String> = body.split('|').map(str::to_owned).collect();
    (parts.len() == 6).then_some(parts)
}

/// wasmCloud's own NATS KV secrets backend on `nats`, holding the provider's `echo-token` and
/// `echo-db` and giving them only to the signed provider `provider_key`.
fn secrets_for(nats: &Nats, provider_key: &str) -> Backend {
    let backend = Backend::start(nats);
    backend.put("echo-token", TOKEN);
    backend.put("echo-db", PASSWORD);
    backend.map(provider_key, &["echo-token", "echo-db"]);
    backend
}

fn runs(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

#[test]
fn a_provider_archive_runs_as_a_process_that_components_call_and_that_calls_them() {
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, provider_key) = echo_archive(dir.path());
    let _backend = secrets_for(&nats, &provider_key);
    let port = free_port();
    let m = manifest(&relay_app(archive.to_str().unwrap(), port));
    let up = Up::start(&[], &["--nats", &nats.url, "--heartbeat-interval", "0.3", "--secrets-topic", PREFIX]).unwrap();
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // The provider answers with its own config, the caller's link config, and what the callee
    // (reached through the provider's own link) made of the text: it reverses it.
    let first = until("the provider to answer", SETTLE, || echo(port, "hello"));
    assert_eq!(&first[..4], ["hi", ">>", "hello", "olleh"], "{first:?}");
    // Its own secret came in its HostData; the link's, sealed to this one process, came with
    // the link, and the SDK opened it.
    assert_eq!(first[5], format!("own.token={TOKEN},link.password={PASSWORD}"));
    assert!(!up.log().contains(TOKEN) && !up.log().contains(PASSWORD), "a secret reached the host's log");
    let pid = first[4].clone();
    assert!(runs(&pid));
    up.wait_for_log(&["provider process started", "relay-echo"]);
    // Health requests reach the process; the host reports it healthy.
    up.wait_for_log(&["health check passed", "relay-echo"]);

    // Killed, it is started again, with the same links and config.
    std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    up.wait_for_log(&["the provider process exited", "relay-echo"]);
    let again = until("the provider to be restarted", SETTLE, || echo(port, "again").filter(|p| p[4] != pid));
    assert_eq!(&again[..4], ["hi", ">>", "again", "niaga"], "{again:?}");
    assert_eq!(again[5], first[5], "a restarted provider is given its secrets again");

    // A new version that changes the provider's own config reaches the running process
    // (`config.update`); one that changes a link's config restarts it, as the SDK reads a link
    // only once.
    let deploy = |text: String| {
        let m = manifest(&text);
        let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
        assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    let v2 = relay_app(archive.to_str().unwrap(), port).replace("version: v0.1.0", "version: v0.2.0").replace("greeting: hi", "greeting: hey");
    deploy(v2.clone());
    let greeted = until("the new greeting", SETTLE, || echo(port, "v2").filter(|p| p[0] == "hey"));
    assert_eq!(greeted[4], again[4], "a config change keeps the process");
    deploy(v2.replace("version: v0.2.0", "version: v0.3.0").replace(r#"prefix: ">>""#, r#"prefix: "=>""#));
    let relinked = until("the new link config", SETTLE, || echo(port, "v3").filter(|p| p[1] == "=>"));
    assert_ne!(relinked[4], again[4], "a changed link restarts the process");
    assert_eq!(&relinked[..4], ["hey", "=>", "v3", "3v"], "{relinked:?}");
    assert_eq!(relinked[5], first[5]);
    up.wait_for_log(&["which reads it only at start", "link `default` from `relay-caller`"]);
    let again = relinked;

    // Deleting the application shuts the process down.
    let out = up.cli(&["app", "delete", "relay"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    until("the provider process to exit", SETTLE, || (!runs(&again[4])).then_some(()));
    up.wait_for_log(&["provider process stopped", "relay-echo"]);

    // An archive that is no archive fails that deploy only, naming the field.
    let junk = dir.path().join("junk.par.gz");
    std::fs::write(&junk, b"not an archive").unwrap();
    let broken = manifest(&relay_app(junk.to_str().unwrap(), free_port()).replace("name: relay", "name: broken"));
    let _ = up.cli(&["app", "deploy", broken.path.to_str().unwrap()]);
    let status = up.wait_for_status("broken", SETTLE, |s| s["status"]["type"] == "failed");
    let message = status["status"]["message"].as_str().unwrap();
    assert!(message.contains("spec.components[2].properties.image") && message.contains("not a provider archive"), "{message}");
}

#[test]
fn a_provider_started_through_the_control_interface_is_told_of_the_links_put_for_it() {
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, provider_key) = echo_archive(dir.path());
    let _backend = secrets_for(&nats, &provider_key);
    let up = Up::start(&[], &["--nats", &nats.url, "--secrets-topic", PREFIX]).unwrap();
    let run = |args: &[&str]| {
        let out = up.cli(args);
        assert!(out.status.success(), "{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    run(&["config", "put", "echo-config", "greeting=hey"]);
    run(&["config", "put", "echo-prefix", "prefix=>>"]);
    // Secret references as wadm and `wash secrets put` store them: `SECRET_<name>` config
    // entries, named where config goes.
    let policy = r#"policy={"type":"properties.secret.wasmcloud.dev/v1alpha1","properties":{}}"#;
    run(&["config", "put", "SECRET_token", "backend=nats-kv", "key=echo-token", policy]);
    run(&["config", "put", "SECRET_password", "backend=nats-kv", "key=echo-db", policy]);
    run(&["start", "component", guests::CALLEE, "callee-1"]);
    run(&["start", "provider", archive.to_str().unwrap(), "echo-1", "--config", "echo-config", "--config", "SECRET_token"]);
    let inventory = up.cli_json(&["get", "inventory", "-o", "json"]).to_string();
    assert!(inventory.contains("echo-1"), "{inventory}");

    // Links put after the start reach the running process: the one it calls out on, and the
    // one a caller (named by its `source-id`) calls it through, with that link's config.
    run(&["link", "put", "echo-1", "callee-1", "trellis", "plain", "-i", "echo"]);
    run(&["link", "put", "caller-1", "echo-1", "trellis", "plain", "-i", "echo", "--target-config", "echo-prefix", "--target-config", "SECRET_password"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = runtime.block_on(async_nats_wrpc::connect(nats.url.as_str())).unwrap();
    let answer = until("the provider to know both links", SETTLE, || {
        let back = runtime.block_on(crate::calls::wrpc_echo_from(&client, "default", "echo-1", b"ctl", Some("caller-1"))).ok()?;
        let text = String::from_utf8(back).unwrap();
        text.starts_with("hey|>>|ctl|ltc|").then_some(text)
    });
    let parts: Vec<&str> = answer.split('|').collect();
    assert_eq!(parts[5], format!("own.token={TOKEN},link.password={PASSWORD}"), "{answer}");
    let pid = parts[4].to_owned();

    // A change to its named config reaches the running process, as wasmCloud hosts send it.
    run(&["config", "put", "echo-config", "greeting=hello"]);
    let updated = until("the provider to see its new config", SETTLE, || {
        let back = runtime.block_on(crate::calls::wrpc_echo_from(&client, "default", "echo-1", b"ctl", Some("caller-1"))).ok()?;
        let text = String::from_utf8(back).unwrap();
        text.starts_with("hello|>>|ctl|ltc|").then_some(text)
    });
    assert_eq!(updated.split('|').nth(4), Some(pid.as_str()), "a config change keeps the process");

    run(&["stop", "provider", "echo-1"]);
    until("the provider process to exit", SETTLE, || (!runs(&pid)).then_some(()));
}

#[test]
fn a_provider_archive_pushed_to_a_registry_pulls_back_and_starts_by_reference() {
    let registry = Registry::start();
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = echo_archive(dir.path());
    let reference = format!("{}/trellis/echo-provider:0.1.0", registry.address);
    let pushed = trellis_ok(&["push", &reference, archive.to_str().unwrap(), "--insecure"]);
    assert!(pushed.contains("provider archive `echo-provider`") && pushed.contains(std::env::consts::OS), "{pushed}");
    // Pulled back, it is the same archive, named for what it is.
    let out = trellis().current_dir(dir.path()).args(["pull", &reference, "--insecure"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.path().join("echo-provider.par.gz")).unwrap(), std::fs::read(&archive).unwrap());
    // A file that is neither a component nor an archive is refused before anything is sent.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"not a provider").unwrap();
    let out = trellis().args(["push", &reference, junk.to_str().unwrap(), "--insecure"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("neither a WebAssembly component nor a provider archive"), "{err}");

    // A host pulls it by reference, as wasmCloud hosts pull `wash push`ed providers, and runs it.
    let up = Up::start(&[], &["--nats", &nats.url, "--allowed-insecure", &registry.address]).unwrap();
    let out = up.cli(&["start", "provider", &reference, "echo-1"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    up.wait_for_log(&["provider archive pulled", &reference]);
    up.wait_for_log(&["provider process started", "echo-1"]);
}
