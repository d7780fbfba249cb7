//! Capabilities granted by links: wasi:keyvalue on every backend, swapped without a rebuild;
//! wasi:config and wasi:logging; and nothing reached without a link.

use crate::util::*;

/// A keyvalue capability entry with the given image and config lines.
fn kv_capability(name: &str, image: &str) -> String {
    format!("    - name: {name}\n      type: capability\n      properties:\n        image: {image}\n")
}

/// The kv guest, linked to capability `kv_target` (if any) with `target_config` pairs.
fn kv_component(name: &str, kv_target: Option<&str>, target_config: &[(&str, &str)]) -> String {
    let mut out = format!(
        "    - name: {name}\n      type: component\n      properties:\n        image: file://{}\n        config:\n          - name: {name}-settings\n            properties:\n              greeting: hello\n              lang: en\n      traits:\n        - type: spreadscaler\n          properties:\n            instances: 4\n",
        guests::KV
    );
    if let Some(target) = kv_target {
        out += &format!("        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics, batch]\n            target:\n              name: {target}\n");
        if !target_config.is_empty() {
            out += &format!("              config:\n                - name: {name}-{target}-link\n                  properties:\n");
            for (k, v) in target_config {
                out += &format!("                    {k}: \"{v}\"\n");
            }
        }
    }
    out
}

pub(crate) fn kv_app(image: &str, target_config: &[(&str, &str)], port: u16) -> ManifestFile {
    manifest(&app(
        "counter",
        &[
            kv_component("counter", Some("kv"), target_config),
            kv_capability("kv", image),
            http_server("http", &[], &[("counter", &[("address", &format!("127.0.0.1:{port}"))])]),
        ],
    ))
}

pub(crate) fn body(base: &str, path: &str) -> String {
    let r = get(&format!("{base}/{path}"), None);
    assert!(r.status == 200 || r.status == 404, "{path}: {} {}", r.status, r.body);
    r.body
}

/// The same assertions against any backend.
pub(crate) fn exercise(base: &str, buckets_are_namespaces: bool) {
    assert_eq!(body(base, "incr/hits"), "1");
    assert_eq!(body(base, "incr/hits"), "2");
    assert_eq!(body(base, "get/hits"), "2");
    assert_eq!(body(base, "set/greeting/hi"), "ok");
    assert_eq!(body(base, "get/greeting"), "hi");
    assert_eq!(body(base, "exists/greeting"), "true");
    assert_eq!(body(base, "del/greeting"), "ok");
    assert_eq!(body(base, "exists/greeting"), "false");
    assert_eq!(body(base, "batch"), "b1=1,b2=2,- exists(b1)=false");
    assert_eq!(body(base, "keys"), "b2,hits");
    body(base, "in/other/set/x/1");
    let expected = if buckets_are_namespaces { "(none)" } else { "1" };
    assert_eq!(body(base, "get/x"), expected, "bucket isolation");
}

#[test]
fn keyvalue_in_memory() {
    let port = free_port();
    let m = kv_app("wasmcloud+builtin://keyvalue-memory", &[], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    exercise(&format!("http://127.0.0.1:{port}"), true);
}

#[test]
fn keyvalue_in_redb_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = kv_app("wasmcloud+builtin://keyvalue", &[], port);
    let base = format!("http://127.0.0.1:{port}");
    let up = Up::start_in(&[&m.path], state.path(), &[]).unwrap();
    exercise(&base, true);
    assert!(up.terminate().success());
    let _up = Up::start_in(&[&m.path], state.path(), &[]).unwrap();
    assert_eq!(body(&base, "incr/hits"), "3");
}

#[test]
fn keyvalue_in_redis_as_wasmclouds_provider_configures_it() {
    let redis = Redis::start();
    let port = free_port();
    let m = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[("URL", &redis.url)], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    // Redis keys are not prefixed by bucket, as with wasmCloud's provider.
    exercise(&format!("http://127.0.0.1:{port}"), false);
}

/// The same .wasm, first on redb, then (a new manifest changing only the capability) on Redis.
#[test]
fn swapping_the_backend_needs_no_rebuild() {
    let redis = Redis::start();
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let on_redb = kv_app("wasmcloud+builtin://keyvalue", &[], port);
    let up = Up::start_in(&[&on_redb.path], state.path(), &[]).unwrap();
    assert_eq!(body(&base, "incr/hits"), "1");
    assert!(up.terminate().success());

    let on_redis = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[("URL", &redis.url)], port);
    // A new version of the app that changes only the capability.
    let text = std::fs::read_to_string(&on_redis.path).unwrap().replace("version: v0.1.0", "version: v0.2.0");
    std::fs::write(&on_redis.path, text).unwrap();
    let _up = Up::start_in(&[&on_redis.path], state.path(), &[]).unwrap();
    assert_eq!(body(&base, "incr/hits"), "1", "a fresh Redis starts from zero");
    assert_eq!(body(&base, "incr/hits"), "2");
}

/// A reaches its own store; B, linked to another, does not see A's keys; C, with no link,
/// reaches no store at all, and its call fails naming the import.
#[test]
fn links_grant_and_nothing_else_does() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let m = manifest(&app(
        "tenants",
        &[
            kv_component("a", Some("kv-a"), &[]),
            kv_component("b", Some("kv-b"), &[]),
            kv_component("c", None, &[]),
            kv_capability("kv-a", "wasmcloud+builtin://keyvalue"),
            kv_capability("kv-b", "wasmcloud+builtin://keyvalue"),
            http_server(
                "http",
                &[],
                &[
                    ("a", &[("address", &format!("127.0.0.1:{pa}"))]),
                    ("b", &[("address", &format!("127.0.0.1:{pb}"))]),
                    ("c", &[("address", &format!("127.0.0.1:{pc}"))]),
                ],
            ),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    assert_eq!(body(&format!("http://127.0.0.1:{pa}"), "set/secret/a-only"), "ok");
    assert_eq!(body(&format!("http://127.0.0.1:{pb}"), "get/secret"), "(none)");
    let c = get(&format!("http://127.0.0.1:{pc}/get/secret"), None);
    assert_eq!(c.status, 500);
    assert!(
        c.body.contains("called `wasi:keyvalue/store@0.2.0-draft#open`, but it has no link named `default` for `wasi:keyvalue/store`"),
        "{}",
        c.body
    );
}

#[test]
fn bad_backend_config_fails_the_deploy_naming_link_field_and_backend() {
    let port = free_port();
    let missing_url = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[], port);
    let err = Up::start(&[&missing_url.path], &[]).unwrap_err();
    assert!(err.contains("spec.components[0].traits[1]: link from `counter` to `kv` on wasi:keyvalue/store,atomics,batch: redis backend of `kv`: no `URL`"), "{err}");

    let dead = format!("redis://127.0.0.1:{}/", free_port());
    let unreachable = kv_app("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", &[("URL", &dead)], port);
    let err = Up::start(&[&unreachable.path], &[]).unwrap_err();
    assert!(err.contains(&format!("redis backend of `kv`: cannot connect to Redis at `{dead}`")), "{err}");
}

#[test]
fn config_and_logging_reach_every_component() {
    let port = free_port();
    let m = manifest(&app(
        "settings",
        &[kv_component("reader", None, &[]), http_server("http", &[], &[("reader", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(body(&base, "config/greeting"), "hello");
    assert_eq!(body(&base, "config/missing"), "(none)");
    assert_eq!(body(&base, "config-all"), "greeting=hello,lang=en");
    assert_eq!(body(&base, "log"), "logged");
    let log = up.log();
    assert!(
        log.lines().any(|l| l.contains("WARN guest: hello from wasi:logging") && l.contains("component=\"settings-reader\"") && l.contains("context=\"kv-guest\"")),
        "{log}"
    );
}

#[test]
fn keyvalue_in_nats_jetstream_as_wasmclouds_provider_configures_it() {
    let nats = Nats::start_jetstream();
    let port = free_port();
    let m = kv_app(
        "ghcr.io/wasmcloud/keyvalue-nats:0.3.1",
        &[("cluster_uri", &nats.url), ("bucket", "counters"), ("enable_bucket_auto_create", "true")],
        port,
    );
    let _up = Up::start(&[&m.path], &[]).unwrap();
    exercise(&format!("http://127.0.0.1:{port}"), false);
}

#[test]
fn an_unknown_nats_bucket_fails_the_deploy() {
    let nats = Nats::start_jetstream();
    let m = kv_app("ghcr.io/wasmcloud/keyvalue-nats:0.3.1", &[("cluster_uri", &nats.url), ("bucket", "missing")], free_port());
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(err.contains("nats backend of `kv`: KV bucket `missing` is not available"), "{err}");
    assert!(err.contains("set enable_bucket_auto_create"), "{err}");
}

/// Increments counter `key` of the kv app at `base` `each` times from each of four threads at
/// once, every request answered 200.
pub(crate) fn increment_from_four_threads(base: &str, key: &str, each: usize) {
    let url = format!("{base}/incr/{key}");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || (0..each).for_each(|_| assert_eq!(get(&url, None).status, 200)))
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
}

/// Many instances incrementing one counter at once lose no update, on every backend that
/// shares state across instances.
#[test]
fn concurrent_increments_are_atomic() {
    let nats = Nats::start_jetstream();
    let redis = Redis::start();
    for (image, config) in [
        ("wasmcloud+builtin://keyvalue", vec![]),
        ("ghcr.io/wasmcloud/keyvalue-redis:0.28.1", vec![("URL", redis.url.as_str())]),
        ("ghcr.io/wasmcloud/keyvalue-nats:0.3.1", vec![("cluster_uri", nats.url.as_str()), ("bucket", "race"), ("enable_bucket_auto_create", "true")]),
    ] {
        let port = free_port();
        let m = kv_app(image, &config, port);
        let _up = Up::start(&[&m.path], &[]).unwrap();
        increment_from_four_threads(&format!("http://127.0.0.1:{port}"), "race", 25);
        assert_eq!(body(&format!("http://127.0.0.1:{port}"), "get/race"), "100", "{image}");
    }
}

/// Two keyvalue links under different names: `wasmcloud:bus/lattice.set-link-name` picks
/// which store the next calls reach; a name with no link is refused (bus 2.0.0).
#[test]
fn link_names_choose_among_links_of_one_interface() {
    let port = free_port();
    let mut tenant = kv_component("app", Some("main-store"), &[]);
    tenant += "        - type: link\n          properties:\n            name: cache\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics, batch]\n            target:\n              name: cache-store\n";
    let m = manifest(&app(
        "named",
        &[
            tenant,
            kv_capability("main-store", "wasmcloud+builtin://keyvalue"),
            kv_capability("cache-store", "wasmcloud+builtin://keyvalue-memory"),
            http_server("http", &[], &[("app", &[("address", &format!("127.0.0.1:{port}"))])]),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(body(&base, "set/k/main"), "ok");
    assert_eq!(body(&base, "link/cache/get/k"), "(none)", "the cache link reaches another store");
    assert_eq!(body(&base, "link/cache/set/k/cached"), "ok");
    assert_eq!(body(&base, "link/default/get/k"), "main");
    assert_eq!(body(&base, "link/cache/get/k"), "cached");
    // Each invocation starts on `default` again.
    assert_eq!(body(&base, "get/k"), "main");
    let refused = get(&format!("{base}/link/nope/get/k"), None);
    assert_eq!((refused.status, refused.body.as_str()), (400, "no link named `nope` for wasi:keyvalue/store"));
}

/// As on wasmCloud, `store.open` only names a bucket and each operation goes to the link
/// selected when it runs: a component may open first and select afterwards, and one with only
/// named links opens without a `default` link (its first operation is what fails).
#[test]
fn keyvalue_link_names_are_chosen_per_call_not_at_open() {
    let port = free_port();
    let mut tenant = kv_component("app", Some("main-store"), &[]);
    tenant += "        - type: link\n          properties:\n            name: cache\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics, batch]\n            target:\n              name: cache-store\n";
    // Only a link named `cache`: no `default`.
    let solo = kv_component("solo", None, &[]) + "        - type: link\n          properties:\n            name: cache\n            namespace: wasi\n            package: keyvalue\n            interfaces: [store, atomics, batch]\n            target:\n              name: cache-store\n";
    let solo_port = free_port();
    let m = manifest(&app(
        "perop",
        &[
            tenant,
            solo,
            kv_capability("main-store", "wasmcloud+builtin://keyvalue"),
            kv_capability("cache-store", "wasmcloud+builtin://keyvalue-memory"),
            http_server("http", &[], &[("app", &[("address", &format!("127.0.0.1:{port}"))]), ("solo", &[("address", &format!("127.0.0.1:{solo_port}"))])]),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let (base, solo) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{solo_port}"));
    assert_eq!(body(&base, "set/k/main"), "ok");
    assert_eq!(body(&base, "open-then-link/cache/set/k/cached"), "ok", "the set after the selection goes to the cache");
    assert_eq!(body(&base, "open-then-link/cache/incr/n"), "1", "atomics follow the selection too");
    assert_eq!(body(&base, "open-then-link/cache/batch"), "b1=1,b2=2,- exists(b1)=false", "and batch");
    assert_eq!(body(&base, "get/k"), "main", "the default store kept its value");
    assert_eq!(body(&base, "link/cache/get/k"), "cached");

    assert_eq!(body(&solo, "open-then-link/cache/set/k/solo"), "ok", "a component with only named links opens and works");
    assert_eq!(body(&base, "link/cache/get/k"), "solo", "it shares the cache store");
    let unselected = get(&format!("{solo}/get/k"), None);
    assert_eq!((unselected.status, unselected.body.as_str()), (500, "no wasi:keyvalue link named `default` (for wasi:keyvalue/store)"));
}

/// Polls `path` until it answers `expected`.
fn eventually(base: &str, path: &str, expected: &str) {
    until(&format!("{path} to answer {expected:?}"), std::time::Duration::from_secs(5), || (body(base, path) == expected).then_some(()));
}

/// A component exporting wasi:keyvalue/watcher is told of the changes its link's WATCH list
/// selects, made by any component linked to the same capability.
#[test]
fn a_watcher_is_told_of_the_keys_it_watches() {
    let port = free_port();
    let watcher_link = "      traits:\n        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [watcher]\n            target:\n              name: counter\n            source:\n              config:\n                - name: watch-users\n                  properties:\n                    WATCH: \"user:*, DEL@session\"\n";
    let m = manifest(&app(
        "watched",
        &[
            kv_component("counter", Some("kv"), &[]),
            kv_capability("kv", "wasmcloud+builtin://keyvalue") + watcher_link,
            http_server("http", &[], &[("counter", &[("address", &format!("127.0.0.1:{port}"))])]),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(body(&base, "set/other/x"), "ok");
    assert_eq!(body(&base, "set/session/s1"), "ok");
    assert_eq!(body(&base, "set/user:1/alice"), "ok");
    eventually(&base, "get/seen-user:1", "alice");
    assert_eq!(body(&base, "incr/user:visits"), "1");
    eventually(&base, "get/seen-user:visits", "1");
    assert_eq!(body(&base, "del/user:1"), "ok");
    eventually(&base, "get/deleted-user:1", "1");
    assert_eq!(body(&base, "del/session"), "ok");
    eventually(&base, "get/deleted-session", "1");
    // Keys the list does not select were never reported (the filter runs in order, before the
    // later changes above were reported).
    assert_eq!(body(&base, "get/seen-other"), "(none)");
    assert_eq!(body(&base, "get/seen-session"), "(none)");
}

/// The link a keyvalue capability makes to a watcher: told of `WATCH`'s keys, the capability's
/// backend configured by the link's source config, as wasmCloud's providers read it.
fn watcher_link(target: &str, config: &[(&str, &str)]) -> String {
    let mut link = format!(
        "      traits:\n        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue\n            interfaces: [watcher]\n            target:\n              name: {target}\n            source:\n              config:\n                - name: {target}-watch\n                  properties:\n"
    );
    for (k, v) in config {
        link += &format!("                    {k}: \"{v}\"\n");
    }
    link
}

/// As with wasmCloud's keyvalue-redis: a watcher hears of every writer's changes (here
/// `redis-cli`, not Trellis) through keyspace notifications, and needs no link of its own to the
/// store: the bucket it is handed reaches the store the change happened in.
#[test]
fn a_watcher_hears_every_writer_of_redis_without_its_own_link() {
    let redis = Redis::start();
    let port = free_port();
    let m = manifest(&app(
        "redis-watched",
        &[
            kv_component("watcher", None, &[]),
            kv_capability("kv", "ghcr.io/wasmcloud/keyvalue-redis:0.28.1") + &watcher_link("watcher", &[("URL", &redis.url), ("WATCH", "user:*")]),
            http_server("http", &[], &[("watcher", &[("address", &format!("127.0.0.1:{port}"))])]),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    assert_eq!(redis.cli(&["SET", "user:1", "alice"]), "OK");
    redis.eventually("seen-user:1", "alice");
    assert_eq!(redis.cli(&["INCRBY", "user:visits", "3"]), "3");
    redis.eventually("seen-user:visits", "3");
    assert_eq!(redis.cli(&["DEL", "user:1"]), "1");
    redis.eventually("deleted-user:1", "1");
    // Keys the list does not select are not reported.
    assert_eq!(redis.cli(&["SET", "other", "x"]), "OK");
    assert_eq!(redis.cli(&["SET", "user:2", "bob"]), "OK");
    redis.eventually("seen-user:2", "bob");
    assert_eq!(redis.cli(&["GET", "seen-other"]), "");
}

/// As with wasmCloud's keyvalue-nats: every writer of the bucket is reported, through a watch.
#[test]
fn a_watcher_hears_every_writer_of_a_nats_kv_bucket() {
    let nats = Nats::start_jetstream();
    let port = free_port();
    let config = [("cluster_uri", nats.url.as_str()), ("bucket", "watched"), ("enable_bucket_auto_create", "true"), ("WATCH", "user.*")];
    let m = manifest(&app(
        "nats-watched",
        &[
            kv_component("watcher", None, &[]),
            kv_capability("kv", "ghcr.io/wasmcloud/keyvalue-nats:0.3.1") + &watcher_link("watcher", &config),
            http_server("http", &[], &[("watcher", &[("address", &format!("127.0.0.1:{port}"))])]),
        ],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let kv = runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url.as_str()).await.unwrap());
        let kv = js.get_key_value("watched").await.unwrap();
        kv.put("user.1", "alice".into()).await.unwrap();
        kv.put("other", "x".into()).await.unwrap();
        kv.delete("user.1").await.unwrap();
        kv
    });
    let value = |key: &str| runtime.block_on(kv.get(key)).unwrap().map(|v| String::from_utf8_lossy(&v).into_owned());
    let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        until("the watcher to be told of the set and the delete", std::time::Duration::from_secs(30), || {
            (value("seen-user.1").as_deref() == Some("alice") && value("deleted-user.1").as_deref() == Some("1")).then_some(())
        })
    }));
    assert!(told.is_ok(), "seen-user.1 = {:?}, deleted-user.1 = {:?}; the host logged:\n{}", value("seen-user.1"), value("deleted-user.1"), up.log());
    assert_eq!(value("seen-other"), None, "keys WATCH does not select are not reported");
}
