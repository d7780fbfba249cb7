//! Exercises the capabilities a link or the host grants: `wasi:keyvalue` (bucket `default`
//! unless `/in/<bucket>/...`), `wasi:config`, `wasi:logging`, `wasmcloud:secrets`.
//!
//! `/incr/k`, `/get/k`, `/set/k/v`, `/del/k`, `/exists/k`, `/keys`, `/batch`,
//! `/in/<bucket>/set/k/v`, `/in/<bucket>/get/k`, `/config/k`, `/config-all`, `/log`,
//! `/bench/<n>` (n set+get pairs, timed inside the component), `/link/<name>/<kv route>` (the
//! same through the keyvalue link named `name`, chosen with `wasmcloud:bus/lattice`),
//! `/open-then-link/<name>/<kv route>` (the bucket opened first, the link chosen after),
//! As a `wasi:keyvalue/watcher`, it records each change it is told of in the same bucket:
//! `seen-<key>` = the new value, `deleted-<key>` = `1` (`-`, not `:`, so NATS KV takes the keys).
//! `/secret/<name>` (the revealed value of the secret the manifest names `name`; bytes are
//! shown as `bytes:<hex>`).

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/kv", generate_all });

use wasi::keyvalue::{atomics, batch, store};
use common::respond;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Kv;


fn kv_error(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(m) => m,
    }
}

fn run(bucket_name: &str, parts: &[&str]) -> Result<(u16, String), String> {
    let bucket = store::open(bucket_name).map_err(kv_error)?;
    run_in(&bucket, parts)
}

fn run_in(bucket: &store::Bucket, parts: &[&str]) -> Result<(u16, String), String> {
    Ok(match parts {
        ["incr", key] => (200, atomics::increment(bucket, key, 1).map_err(kv_error)?.to_string()),
        ["get", key] => match bucket.get(key).map_err(kv_error)? {
            Some(v) => (200, String::from_utf8_lossy(&v).into_owned()),
            None => (404, "(none)".into()),
        },
        ["set", key, value] => {
            bucket.set(key, value.as_bytes()).map_err(kv_error)?;
            (200, "ok".into())
        }
        ["del", key] => {
            bucket.delete(key).map_err(kv_error)?;
            (200, "ok".into())
        }
        ["exists", key] => (200, bucket.exists(key).map_err(kv_error)?.to_string()),
        ["keys"] => {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = bucket.list_keys(cursor).map_err(kv_error)?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            keys.sort();
            (200, keys.join(","))
        }
        ["batch"] => {
            batch::set_many(bucket, &[("b1".into(), b"1".to_vec()), ("b2".into(), b"2".to_vec())]).map_err(kv_error)?;
            let got = batch::get_many(bucket, &["b1".into(), "b2".into(), "b3".into()]).map_err(kv_error)?;
            batch::delete_many(bucket, &["b1".into()]).map_err(kv_error)?;
            let shown: Vec<String> = got
                .into_iter()
                .map(|e| e.map_or("-".into(), |(k, v)| format!("{k}={}", String::from_utf8_lossy(&v))))
                .collect();
            (200, format!("{} exists(b1)={}", shown.join(","), bucket.exists("b1").map_err(kv_error)?))
        }
        ["bench", n] => {
            // n set+get round trips, timed inside the component.
            let n: u32 = n.parse().map_err(|_| "bench count must be a number".to_string())?;
            let value = vec![b'v'; 64];
            let start = wasip2::clocks::monotonic_clock::now();
            for i in 0..n {
                let key = format!("bench-{}", i % 100);
                bucket.set(&key, &value).map_err(kv_error)?;
                bucket.get(&key).map_err(kv_error)?;
            }
            let elapsed_ns = wasip2::clocks::monotonic_clock::now() - start;
            (200, format!("round_trips={} elapsed_ns={elapsed_ns}", 2 * n))
        }
        _ => (404, "unknown route".into()),
    })
}

/// Makes every keyvalue interface use the link named `name`.
fn select_link(name: &str) -> Result<(), String> {
    use wasmcloud::bus::lattice::{CallTargetInterface, set_link_name};
    let targets = ["store", "atomics", "batch"].map(|i| CallTargetInterface::new("wasi", "keyvalue", i));
    set_link_name(name, targets.into())
}

impl wasip2::exports::http::incoming_handler::Guest for Kv {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
        let (status, body) = match parts.as_slice() {
            ["config", key] => match wasi::config::runtime::get(key) {
                Ok(Some(v)) => (200, v),
                Ok(None) => (404, "(none)".into()),
                Err(_) => (500, "config error".into()),
            },
            ["config-all"] => match wasi::config::store::get_all() {
                Ok(mut all) => {
                    all.sort();
                    (200, all.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
                }
                Err(_) => (500, "config error".into()),
            },
            ["log"] => {
                wasi::logging::logging::log(wasi::logging::logging::Level::Warn, "kv-guest", "hello from wasi:logging");
                (200, "logged".into())
            }
            ["secret", name] => {
                use wasmcloud::secrets::{reveal, store};
                match store::get(name) {
                    Ok(secret) => match reveal::reveal(&secret) {
                        store::SecretValue::String(text) => (200, text),
                        store::SecretValue::Bytes(bytes) => (200, format!("bytes:{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())),
                    },
                    Err(store::SecretsError::NotFound) => (404, "not-found".into()),
                    Err(store::SecretsError::Upstream(e) | store::SecretsError::Io(e)) => (500, e),
                }
            }
            ["in", bucket, rest @ ..] => run(bucket, rest).unwrap_or_else(|e| (500, e)),
            ["link", name, rest @ ..] => match select_link(name) {
                Ok(()) => run("default", rest).unwrap_or_else(|e| (500, e)),
                Err(e) => (400, e),
            },
            // As wasmCloud's examples do: open the bucket first, choose the link afterwards;
            // the operations go to the link chosen last.
            ["open-then-link", name, rest @ ..] => match store::open("default") {
                Ok(bucket) => match select_link(name) {
                    Ok(()) => run_in(&bucket, rest).unwrap_or_else(|e| (500, e)),
                    Err(e) => (400, e),
                },
                Err(e) => (500, kv_error(e)),
            },
            rest => run("default", rest).unwrap_or_else(|e| (500, e)),
        };
        respond(out, status, &body);
    }
}

impl exports::wasi::keyvalue::watcher::Guest for Kv {
    fn on_set(bucket: store::Bucket, key: String, value: Vec<u8>) {
        let _ = bucket.set(&format!("seen-{key}"), &value);
    }

    fn on_delete(bucket: store::Bucket, key: String) {
        let _ = bucket.set(&format!("deleted-{key}"), b"1");
    }
}

wasip2::http::proxy::export!(Kv);
export!(Kv);
