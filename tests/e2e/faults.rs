//! Faults stay contained: each fault fails its own request with a status and a message naming
//! the component and the limit, and everything else keeps serving, during and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::*;

struct Abuse {
    up: Up,
    faults: String,
    hello: String,
}

const MEMORY_CAP: u64 = 32 << 20;

fn start() -> Abuse {
    start_with(&limits(1000, MEMORY_CAP))
}

/// As `start`, with the faults component under `limit_trait` (empty: the host's defaults).
fn start_with(limit_trait: &str) -> Abuse {
    let (f, h) = (free_port(), free_port());
    let m = manifest(&app(
        "abuse",
        &[
            component("faults", guests::FAULTS, 16, limit_trait),
            component("hello", guests::HELLO, 16, ""),
            http_server(
                "http",
                &[],
                &[("faults", &[("address", &format!("127.0.0.1:{f}"))]), ("hello", &[("address", &format!("127.0.0.1:{h}"))])],
            ),
        ],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    Abuse { up, faults: format!("http://127.0.0.1:{f}"), hello: format!("http://127.0.0.1:{h}/") }
}

#[test]
fn each_fault_fails_its_request_naming_component_and_limit() {
    let a = start();
    let handle = "in wasi:http/incoming-handler.handle";
    let cases = [
        ("/trap", 500, format!("component `abuse-faults` trapped {handle}: wasm trap: wasm `unreachable` instruction executed")),
        ("/loop", 504, format!("component `abuse-faults` exceeded its execution time limit of 1000 ms {handle} (max_execution_time_ms)")),
        ("/grow", 503, format!("component `abuse-faults` exceeded its memory limit of {MEMORY_CAP} bytes {handle} (max_linear_memory_bytes)")),
        ("/stack", 503, format!("component `abuse-faults` overflowed its stack {handle} (max_wasm_stack)")),
    ];
    for (path, status, message) in &cases {
        let reply = get(&format!("{}{path}", a.faults), None);
        assert_eq!(reply.status, *status, "{path}: {}", reply.body);
        assert_eq!(reply.body.trim_end(), message, "{path}");
        let hello = get(&a.hello, None);
        assert_eq!((hello.status, hello.body.as_str()), (200, "Hello from Trellis!\n"), "after {path}");
    }
    let log = a.up.log();
    for (path, _, message) in &cases {
        assert!(log.lines().any(|l| l.contains("WARN") && l.contains(message.as_str())), "no log line for {path} in:\n{log}");
    }
    // The faulty component itself still serves good requests.
    assert_eq!(get(&format!("{}/", a.faults), None).body, "faults ok");
}

#[test]
fn hello_answers_while_other_requests_loop_and_grow() {
    let a = start();
    let abusing = Arc::new(AtomicBool::new(true));
    let abusers: Vec<_> = ["/loop", "/loop", "/loop", "/grow", "/trap", "/stack"]
        .into_iter()
        .map(|path| {
            let url = format!("{}{path}", a.faults);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    assert_ne!(get(&url, None).status, 200, "{url} should fail");
                }
            })
        })
        .collect();
    let watcher = {
        let abusing = abusing.clone();
        let threads: Vec<_> = abusers;
        std::thread::spawn(move || {
            for t in threads {
                t.join().unwrap();
            }
            abusing.store(false, Ordering::SeqCst);
        })
    };
    // Three rounds of 1 s loops on 2 cores: hello must be answered many times before they end.
    let mut answered_during_abuse = 0;
    while abusing.load(Ordering::SeqCst) {
        let reply = get(&a.hello, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        if abusing.load(Ordering::SeqCst) {
            answered_during_abuse += 1;
        }
    }
    watcher.join().unwrap();
    assert!(answered_during_abuse >= 10, "hello answered only {answered_during_abuse} times during the abuse");
    assert_eq!(get(&a.hello, None).status, 200);
}

#[test]
fn hundred_megabyte_bodies_stream_both_ways() {
    // The host's default deadline: moving 200 MB must not race the 1 s one the faults use.
    let a = start_with("");
    let stream_url = format!("{}/stream", a.faults);
    let download = std::thread::spawn(move || get_len(&stream_url));
    let upload = post_zeros(&format!("{}/upload", a.faults), 100_000_000);
    assert_eq!((upload.status, upload.body.as_str()), (200, "100000000"));
    assert_eq!(download.join().unwrap(), (200, 100 * 1024 * 1024));
    assert_eq!(get(&a.hello, None).status, 200);
    // Streamed, not buffered: the host never held a whole body.
    let peak = a.up.peak_rss_bytes();
    assert!(peak < 100_000_000, "peak RSS {peak} bytes suggests a body was buffered whole");
}
