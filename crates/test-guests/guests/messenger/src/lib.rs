//! Sends and receives `wasmcloud:messaging@0.2.0` messages.
//!
//! HTTP: `/publish/<subject>/<body>` publishes; `/request/<subject>/<body>` requests and
//! answers `reply: <body>`. Handler: a message with a reply subject is answered with
//! `echo: <body>`; any other is printed as `handled <subject>: <body>`.

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/messenger", generate_all });

use exports::wasmcloud::messaging0_2_0::handler::Guest as Handler;
use wasmcloud::messaging0_2_0::consumer;
use wasmcloud::messaging0_2_0::types::BrokerMessage;
use common::respond;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Messenger;

impl Handler for Messenger {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        let body = String::from_utf8_lossy(&msg.body).into_owned();
        match msg.reply_to {
            Some(reply_to) => consumer::publish(&BrokerMessage { subject: reply_to, body: format!("echo: {body}").into_bytes(), reply_to: None }),
            None if body == "fail" => Err("asked to fail".into()),
            None => {
                println!("handled {}: {body}", msg.subject);
                Ok(())
            }
        }
    }
}


impl wasip2::exports::http::incoming_handler::Guest for Messenger {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        let (status, body) = match parts.as_slice() {
            ["publish", subject, body] => {
                match consumer::publish(&BrokerMessage { subject: subject.to_string(), body: body.as_bytes().to_vec(), reply_to: None }) {
                    Ok(()) => (200, "published".to_string()),
                    Err(e) => (502, format!("error: {e}")),
                }
            }
            ["request", subject, body] => match consumer::request(subject, body.as_bytes(), 2000) {
                Ok(reply) => (200, format!("reply: {}", String::from_utf8_lossy(&reply.body))),
                Err(e) => (502, format!("error: {e}")),
            },
            _ => (404, "unknown route".to_string()),
        };
        respond(out, status, &body);
    }
}

export!(Messenger);
wasip2::http::proxy::export!(Messenger);
