//! An HTTP counter: each request increments the count of its path in a keyvalue store and
//! answers with it.
//!
//! The store is whatever the manifest links `wasi:keyvalue` to: the embedded one, Redis, NATS
//! JetStream KV or PostgreSQL, with no change here.

wit_bindgen::generate!({ path: "wit", world: "counter", generate_all });

use wasi::keyvalue::{atomics, store};
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Component;

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let key = match path.trim_start_matches('/').split('?').next() {
            Some("") | None => "default".to_owned(),
            Some(key) => key.to_owned(),
        };
        let (status, text) = match count(&key) {
            Ok(n) => (200, format!("Counter {key}: {n}\n")),
            Err(e) => (500, format!("keyvalue: {e}\n")),
        };
        respond(out, status, &text);
    }
}

/// Adds one to `key` in the bucket the `default` link opens, atomically.
fn count(key: &str) -> Result<u64, String> {
    let bucket = store::open("default").map_err(describe)?;
    atomics::increment(&bucket, key, 1).map_err(describe)
}

fn describe(e: store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(m) => m,
    }
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())]).unwrap();
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).unwrap();
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().unwrap();
    stream.blocking_write_and_flush(text.as_bytes()).unwrap();
    drop(stream);
    OutgoingBody::finish(body, None).unwrap();
}

wasip2::http::proxy::export!(Component);
