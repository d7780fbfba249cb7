//! An HTTP component: answers every request with a greeting.
//!
//! It exports `wasi:http/incoming-handler`, so any WASI 0.2 HTTP host runs it: Trellis,
//! wasmCloud, `wasmtime serve`, Spin.

use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Component;

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())]).unwrap();
        let response = OutgoingResponse::new(headers);
        let body = response.body().unwrap();
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().unwrap();
        stream.blocking_write_and_flush(b"Hello from Rust!\n").unwrap();
        drop(stream);
        OutgoingBody::finish(body, None).unwrap();
    }
}

wasip2::http::proxy::export!(Component);
