//! Misbehaves on request, one fault per path, so tests can prove the host contains each:
//! `/trap`, `/loop`, `/grow`, `/stack`, `/stream` (100 MB response), `/upload` (counts the
//! request body), `/slow` (waits 500 ms), `/print` (writes to stdout and stderr); anything else answers `faults ok`.

use std::hint::black_box;
use std::io::{Read, Write};

use wasip2::http::types::{Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Faults;

const STREAM_BYTES: usize = 100 * 1024 * 1024;

fn respond(out: ResponseOutparam, status: u16, write: impl FnOnce(&mut wasip2::io::streams::OutputStream)) {
    let headers = Fields::new();
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).unwrap();
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().unwrap();
    write(&mut stream);
    stream.flush().unwrap();
    drop(stream);
    OutgoingBody::finish(body, None).unwrap();
}

/// Recurses through wasm locals only (no shadow-stack frame in linear memory), so it is the
/// engine's wasm stack limit that stops it.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX { depth } else { recurse(depth + 1).wrapping_add(depth) }
}

impl wasip2::exports::http::incoming_handler::Guest for Faults {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        match path.as_str() {
            "/trap" => panic!("fault fixture asked to trap"),
            "/loop" => loop {
                black_box(0);
            },
            "/grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "/stack" => {
                let depth = recurse(0);
                respond(out, 200, |s| s.write_all(depth.to_string().as_bytes()).unwrap());
            }
            "/stream" => {
                let chunk = vec![b'x'; 64 * 1024];
                respond(out, 200, |s| {
                    for _ in 0..STREAM_BYTES / chunk.len() {
                        s.write_all(&chunk).unwrap();
                    }
                });
            }
            "/upload" => {
                let body = request.consume().unwrap();
                let mut stream = body.stream().unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0usize;
                loop {
                    match Read::read(&mut stream, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(_) => break,
                    }
                }
                drop(stream);
                IncomingBody::finish(body);
                respond(out, 200, |s| s.write_all(total.to_string().as_bytes()).unwrap());
            }
            "/slow" => {
                // Half a second in a host timer, for tests of graceful shutdown; the line tells
                // the test the request is inside the guest.
                println!("slow request started");
                wasip2::clocks::monotonic_clock::subscribe_duration(500_000_000).block();
                respond(out, 200, |s| s.write_all(b"slow done").unwrap());
            }
            "/print" => {
                println!("hello on stdout");
                eprintln!("hello on stderr");
                respond(out, 200, |s| s.write_all(b"printed").unwrap());
            }
            _ => respond(out, 200, |s| s.write_all(b"faults ok").unwrap()),
        }
    }
}

wasip2::http::proxy::export!(Faults);
