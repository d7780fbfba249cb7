//! Calls `callee` through its imports, as its links say: `/greet/<name>/<times>`,
//! `/describe/<mood>`, `/echo/<text>` (the callee reverses it), `/fail`, `/spin`, and
//! `/link/<name>/greet/<who>` (the same through the greeter link named `name`), and
//! `/bench/<n>`: n echo calls of 16 bytes, each timed inside the component, answered as
//! `p50_ns p99_ns total_ns`. It also exports `trellis:plain/relay.greet`, the same greeting for
//! callers that are not HTTP clients.

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/caller", generate_all });

use common::respond;
use trellis::calls::greeter;
use trellis::calls::types::{Mood, Shape, Style};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};
use wasmcloud::bus::lattice::{CallTargetInterface, set_link_name};

struct Caller;

fn greet(who: &str, times: u32) -> String {
    let g = greeter::greet(who, times);
    format!("{} ({} times, loud: {})", g.text, g.count, g.loud)
}

fn bench(n: usize) -> String {
    use wasip2::clocks::monotonic_clock::now;
    let payload = [7u8; 16];
    let mut took = Vec::with_capacity(n);
    let start = now();
    for _ in 0..n {
        let t = now();
        let back = trellis::plain::echo::echo(&payload);
        took.push(now() - t);
        assert_eq!(back.len(), payload.len());
    }
    let total = now() - start;
    took.sort_unstable();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    format!("{} {} {total}", at(0.50), at(0.99))
}

impl wasip2::exports::http::incoming_handler::Guest for Caller {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (status, body) = match parts.as_slice() {
            ["greet", who, times] => (200, greet(who, times.parse().unwrap_or(1))),
            ["describe", mood] => {
                let mood = if *mood == "grumpy" { Mood::Grumpy } else { Mood::Happy };
                let tags = vec!["a".to_string(), "ü".to_string()];
                match greeter::describe(mood, Shape::Square((7, -9_000_000_000)), &tags, Some(513), Style::BOLD | Style::UNDERLINE, 'λ', -5, u64::MAX, -300, 1.5) {
                    Ok(text) => (200, text),
                    Err(e) => (409, format!("err: {e}")),
                }
            }
            ["echo", text] => (200, String::from_utf8_lossy(&trellis::plain::echo::echo(text.as_bytes())).into_owned()),
            ["bench", n] => (200, bench(n.parse().unwrap_or(1000))),
            ["fail"] => (200, greeter::fail()),
            ["spin"] => (200, greeter::spin().to_string()),
            ["link", name, "greet", who] => {
                let greeter = CallTargetInterface::new("trellis", "calls", "greeter");
                match set_link_name(name, vec![greeter]) {
                    Ok(()) => (200, greet(who, 1)),
                    Err(e) => (404, format!("no link: {e}")),
                }
            }
            _ => (404, "unknown route".into()),
        };
        respond(out, status, &body);
    }
}

impl exports::trellis::plain::relay::Guest for Caller {
    fn greet(who: String, times: u32) -> String {
        greet(&who, times)
    }
}

wasip2::http::proxy::export!(Caller);
export!(Caller);
