//! What every test guest does the same way: answer with a status and a text body.

use std::io::Write;

use wasip2::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// Sets the response to `status` with `body`, written through the body stream.
pub fn respond(out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).unwrap();
    let out_body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let mut stream = out_body.write().unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    stream.flush().unwrap();
    drop(stream);
    OutgoingBody::finish(out_body, None).unwrap();
}
