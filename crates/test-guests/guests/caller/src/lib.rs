//! Calls `callee` through its imports, as its links say: `/greet/<name>/<times>`,
//! `/describe/<mood>`, `/echo/<text>` (the callee reverses it), `/fail`, `/spin`, and
//! `/link/<name>/greet/<who>` (the same through the greeter link named `name`).

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

wasip2::http::proxy::export!(Caller);
