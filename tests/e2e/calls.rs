//! Calls from one component to another through their links: in one process, across hosts
//! over wRPC on a real `nats-server`, through the loss of a host, from wRPC's own client, and
//! from `trellis call`.

use std::time::{Duration, Instant};

use crate::lattice::{Node, cli_json};
use crate::util::until;
use crate::util::{Nats, Up, app, component, free_port, get, guests, http_server, manifest, trellis};

/// A link trait from the enclosing component to `target` for `package`'s `interfaces`.
fn link(target: &str, package: &str, interfaces: &[&str], name: Option<&str>) -> String {
    let (ns, pkg) = package.split_once(':').unwrap();
    let name = name.map(|n| format!("            name: {n}\n")).unwrap_or_default();
    format!(
        "        - type: link\n          properties:\n            namespace: {ns}\n            package: {pkg}\n            interfaces: [{}]\n{name}            target:\n              name: {target}\n",
        interfaces.join(", ")
    )
}

/// The caller linked to `callee` for both custom interfaces, plus a second greeter link
/// named `other`; `extra` goes into its spreadscaler properties.
pub(crate) fn caller(instances: u32, extra: &str) -> String {
    let mut c = component("caller", guests::CALLER, instances, "").replace(&format!("            instances: {instances}\n"), &format!("            instances: {instances}\n{extra}"));
    c += &link("callee", "trellis:calls", &["greeter"], None);
    c += &link("callee", "trellis:plain", &["echo"], None);
    c += &link("callee", "trellis:calls", &["greeter"], Some("other"));
    c
}

#[test]
fn components_call_each_other_through_links_in_one_process() {
    let (port, lonely_port) = (free_port(), free_port());
    let lonely = component("lonely", guests::CALLER, 1, "");
    let file = manifest(&app(
        "calls",
        &[
            component("callee", guests::CALLEE, 2, ""),
            caller(2, ""),
            lonely,
            http_server("http", &[], &[("caller", &[("address", &format!("127.0.0.1:{port}"))]), ("lonely", &[("address", &format!("127.0.0.1:{lonely_port}"))])]),
        ],
    ));
    let up = Up::start(&[&file.path], &[]).unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");

    assert_eq!(get(&url("greet/Ann/3"), None).body, "Hello, Ann! Hello, Ann! Hello, Ann! (3 times, loud: true)");
    let described = get(&url("describe/happy"), None);
    assert_eq!((described.status, described.body.as_str()), (200, "square(7,-9000000000) [a,ü] 513 bold|underline λ -5 18446744073709551615 -300 1.5"));
    let grumpy = get(&url("describe/grumpy"), None);
    assert_eq!((grumpy.status, grumpy.body.as_str()), (409, "err: grumpy about a+ü"));
    assert_eq!(get(&url("echo/abc"), None).body, "cba", "an unversioned interface links too");
    assert_eq!(get(&url("link/other/greet/Bo"), None).body, "Hello, Bo! (1 times, loud: false)");
    let missing = get(&url("link/nope/greet/Bo"), None);
    assert_eq!(missing.status, 404, "wasmcloud:bus refuses a link name the component does not have: {}", missing.body);

    // A trap in the callee fails the caller's request, naming the callee, and nothing else.
    let failed = get(&url("fail"), None);
    assert_eq!(failed.status, 500, "{}", failed.body);
    up.wait_for_log(&["calls-callee", "trellis:calls/greeter@0.1.0.fail"]);
    assert_eq!(get(&url("greet/Cy/1"), None).status, 200, "the caller and callee still serve");

    // A component that imports the interface with no link starts, and only the call fails.
    let lonely = get(&format!("http://127.0.0.1:{lonely_port}/greet/Di/1"), None);
    assert_eq!(lonely.status, 500, "{}", lonely.body);
    up.wait_for_log(&["component `calls-lonely` called `trellis:calls/greeter@0.1.0#greet`, but it has no link named `default` for `trellis:calls/greeter`"]);

    // `trellis call`: JSON in, JSON out, through the embedded instance's API.
    let called = up.cli_json(&["call", "calls-callee", "trellis:calls/greeter.greet", "Ed", "2", "-o", "json"]);
    assert_eq!(called["results"], serde_json::json!([{"text": "Hello, Ed! Hello, Ed!", "count": 2, "loud": false}]), "{called}");
    let text = up.cli(&["call", "calls-callee", "trellis:calls/greeter@0.1.0.describe", "happy", r#"{"circle": 2.5}"#, r#"["x"]"#, "null", r#"["italic"]"#, "z", "1", "2", "-3", "0.5"]);
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    assert_eq!(String::from_utf8_lossy(&text.stdout).trim(), r#"{"ok":"circle(2.5) [x] none italic z 1 2 -3 0.5"}"#);
    let wrong = up.cli(&["call", "calls-callee", "trellis:calls/greeter.greet", "Ed", "many"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("argument 2: expected an integer"), "{}", String::from_utf8_lossy(&wrong.stderr));
    // Every export with plain values is callable, in any namespace (wasmCloud's examples export
    // `wasmcloud:examples/invoke`).
    let invoked = up.cli_json(&["call", "calls-callee", "wasmcloud:examples/invoke.call", "-o", "json"]);
    assert_eq!(invoked["results"], serde_json::json!(["invoked"]), "{invoked}");
    let unknown = up.cli(&["call", "calls-callee", "nope"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not export `nope`; it exports: trellis:calls/greeter@0.1.0.greet"), "{}", String::from_utf8_lossy(&unknown.stderr));
}

/// Calls `trellis:plain/echo.echo` of `target` with wRPC's own NATS client: the wire format
/// as wasmCloud's hosts and providers speak it.
pub(crate) async fn wrpc_echo(nats: &async_nats_wrpc::Client, lattice: &str, target: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    wrpc_echo_from(nats, lattice, target, data, None).await
}

/// [`wrpc_echo`] as component `source` calls (its `source-id` header, as wasmCloud hosts set it).
pub(crate) async fn wrpc_echo_from(nats: &async_nats_wrpc::Client, lattice: &str, target: &str, data: &[u8], source: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let out = wrpc_invoke(nats, lattice, target, ("trellis:plain/echo", "echo"), &wrpc_bytes(data), source).await?;
    anyhow::ensure!(out.first().map(|&n| usize::from(n)) == Some(out.len() - 1), "a list<u8> result: {out:?}");
    Ok(out[1..].to_vec())
}

/// A short `list<u8>` or `string` as wRPC encodes it: its LEB128 length (one byte below 128)
/// and the bytes.
pub(crate) fn wrpc_bytes(data: &[u8]) -> Vec<u8> {
    let mut encoded = vec![u8::try_from(data.len()).ok().filter(|&n| n < 128).unwrap()];
    encoded.extend_from_slice(data);
    encoded
}

/// Calls `instance.func` of `target` with wRPC's own NATS client and the encoded `params`, as
/// component `source` (its `source-id` header, as wasmCloud hosts set it); the encoded results.
pub(crate) async fn wrpc_invoke(
    nats: &async_nats_wrpc::Client,
    lattice: &str,
    target: &str,
    (instance, func): (&str, &str),
    params: &[u8],
    source: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use wrpc_transport::Invoke as _;
    let prefix = format!("{lattice}.{target}");
    let client = wrpc_transport_nats::Client::new(nats.clone(), prefix, None).await?;
    let no_paths: [&[Option<usize>]; 0] = [];
    let headers = source.map(|source| {
        let mut headers = async_nats_wrpc::HeaderMap::new();
        headers.insert("source-id", source);
        headers
    });
    let (mut tx, mut rx) = client.invoke(headers, instance, func, bytes::Bytes::copy_from_slice(params), no_paths).await?;
    tx.shutdown().await?;
    let mut out = Vec::new();
    rx.read_to_end(&mut out).await?;
    Ok(out)
}

#[test]
fn calls_cross_hosts_over_wrpc_and_survive_the_loss_of_a_host() {
    let nats = Nats::start_jetstream();
    let _front = Node::start(&nats, "host", &["--label", "role=front"]);
    let back_a = Node::start(&nats, "host", &["--label", "role=back"]);
    let back_b = Node::start(&nats, "host", &["--label", "role=back"]);
    let _manager = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);

    let port = free_port();
    let only = |role: &str| format!("            spread:\n              - name: {role}\n                requirements:\n                  role: {role}\n");
    let callee = component("callee", guests::CALLEE, 1, "").replace("spreadscaler", "daemonscaler").replace("            instances: 1\n", &format!("            instances: 1\n{}", only("back")));
    let file = manifest(&app(
        "calls",
        &[callee, caller(1, &only("front")), http_server("http", &[], &[("caller", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    until("the caller to serve on the front host", Duration::from_secs(30), || (crate::util::try_get(&url("echo/x")) == Some(200)).then_some(()));

    // The caller runs on the front host only; every call crosses to a back host over wRPC.
    assert_eq!(get(&url("greet/Ann/3"), None).body, "Hello, Ann! Hello, Ann! Hello, Ann! (3 times, loud: true)");
    assert_eq!(
        get(&url("describe/happy"), None).body,
        "square(7,-9000000000) [a,ü] 513 bold|underline λ -5 18446744073709551615 -300 1.5",
        "every kind of value survives the wire"
    );
    assert_eq!(get(&url("describe/grumpy"), None).body, "err: grumpy about a+ü");
    assert_eq!(get(&url("echo/abc"), None).body, "cba");
    assert_eq!(get(&url("fail"), None).status, 500, "a remote trap fails the call");
    assert_eq!(get(&url("greet/Bo/1"), None).status, 200);
    let called = cli_json(&nats, &["call", "calls-callee", "trellis:calls/greeter.greet", "Ed", "1", "-o", "json"]);
    assert_eq!(called["results"][0]["text"], "Hello, Ed!", "{called}");

    // wRPC's own client reaches the same export on the lattice.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let echoed = runtime.block_on(async {
        let nats = async_nats_wrpc::connect(nats.url.as_str()).await.unwrap();
        let echoed = wrpc_echo(&nats, "default", "calls-callee", b"wrpc").await.unwrap();
        // An export in the `wasmcloud:` namespace is served as any other (wasmCloud's examples
        // export `wasmcloud:examples/invoke`).
        let invoked = wrpc_invoke(&nats, "default", "calls-callee", ("wasmcloud:examples/invoke", "call"), &[], None).await.unwrap();
        assert_eq!(invoked, wrpc_bytes(b"invoked"));
        echoed
    });
    assert_eq!(echoed, b"cprw");
    let invoked = cli_json(&nats, &["call", "calls-callee", "wasmcloud:examples/invoke.call", "-o", "json"]);
    assert_eq!(invoked["results"], serde_json::json!(["invoked"]), "{invoked}");

    // A steady stream of calls through the loss of one of the two back hosts.
    let (total, kill_at) = (3000, 1000);
    let mut failures = Vec::new();
    let mut back_a = Some(back_a);
    let started = Instant::now();
    for i in 0..total {
        if i == kill_at {
            back_a.take().unwrap().kill();
        }
        let reply = get(&url(&format!("echo/{i}")), None);
        if reply.status != 200 || reply.body != i.to_string().chars().rev().collect::<String>() {
            failures.push(format!("#{i}: {} {}", reply.status, reply.body));
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{total} calls across hosts in {} ms, one back host killed after {kill_at}: {} failed {failures:?}", elapsed.as_millis(), failures.len());
    assert!(failures.len() * 1000 <= total, "at most 0.1% of calls may fail through the loss of a host: {failures:?}");

    // With no host left running the callee, a call fails at once, saying so.
    back_b.kill();
    until("calls to fail naming the missing callee", Duration::from_secs(10), || {
        let reply = get(&url("echo/x"), None);
        (reply.status == 500 && reply.body.contains("component `calls-callee` is not running on any host of the lattice")).then_some(())
    });
}

/// The http-server placed by its own scaler on a front host, its component on a back host:
/// each request crosses as `wrpc:http/incoming-handler@0.1.0.handle`, bodies streaming both ways.
#[test]
fn the_http_server_reaches_a_component_on_another_host() {
    let nats = Nats::start_jetstream();
    let _front = Node::start(&nats, "host", &["--label", "role=front"]);
    let _back = Node::start(&nats, "host", &["--label", "role=back"]);
    let _manager = Node::start(&nats, "manager", &[]);
    let port = free_port();
    let only = |role: &str| format!("            instances: 1\n            spread:\n              - name: {role}\n                requirements:\n                  role: {role}\n");
    let faults = component("faults", guests::FAULTS, 1, "").replace("            instances: 1\n", &only("back"));
    let server = http_server("http", &[], &[("faults", &[("address", &format!("127.0.0.1:{port}"))])])
        .replace("      traits:\n", &format!("      traits:\n        - type: spreadscaler\n          properties:\n{}", only("front")));
    let file = manifest(&app("edge", &[faults, server]));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The component runs on the back host only, the listener on the front one.
    let hosts = cli_json(&nats, &["get", "hosts", "-o", "json"]);
    let runs_faults = |role: &str| {
        let host = hosts.as_array().unwrap().iter().find(|h| h["labels"]["role"] == role).unwrap();
        host["components"].as_array().unwrap().iter().any(|c| c["id"] == "edge-faults")
    };
    assert!(runs_faults("back") && !runs_faults("front"), "{hosts}");
    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    let ok = until("the front host to serve", Duration::from_secs(30), || {
        let reply = get(&url("hello"), None);
        (reply.status == 200).then_some(reply.body)
    });
    assert_eq!(ok, "faults ok");
    let upload = crate::util::post_zeros(&url("upload"), 3 * 1024 * 1024 + 7);
    assert_eq!((upload.status, upload.body.as_str()), (200, "3145735"), "the request body streams across whole");
    let trap = get(&url("trap"), None);
    assert_eq!(trap.status, 500, "a trap on the back host is the front's 500: {}", trap.body);
    assert!(trap.body.contains("edge-faults"), "{}", trap.body);
    let status = cli_json(&nats, &["app", "status", "edge", "-o", "json"]);
    assert_eq!(status["status"]["type"], "deployed", "{status}");
}
