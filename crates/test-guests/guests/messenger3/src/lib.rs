//! Sends and receives `wasmcloud:messaging@0.3.0` messages.
//!
//! HTTP: `/publish/<subject>/<body>` sends; `/request/<subject>/<body>` requests and answers
//! `reply: <body>`. Handler: a request is answered through `request-reply.reply` with
//! `echo3: <body>`; any other message is printed as `handled3 <topic>: <body>`, and one whose
//! body is `fail` is refused.

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/messenger3", generate_all });

use common::respond;
use exports::wasmcloud::messaging0_3_0::incoming_handler::Guest as Handler;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};
use wasmcloud::messaging0_3_0::types::{Client, Error, Message};
use wasmcloud::messaging0_3_0::{producer, request_reply};

struct Messenger;

impl Handler for Messenger {
    fn handle(message: Message) -> Result<(), Error> {
        let body = String::from_utf8_lossy(&message.data()).into_owned();
        let topic = message.topic().unwrap_or_default();
        if body == "fail" {
            return Err(Error::Other("asked to fail".into()));
        }
        if topic.ends_with(".echo") {
            let answer = Message::new(format!("echo3: {body}").as_bytes());
            return request_reply::reply(&message, answer);
        }
        println!("handled3 {topic}: {body}");
        Ok(())
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Messenger {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
        let client = match Client::connect("default") {
            Ok(client) => client,
            Err(e) => return respond(out, 502, &format!("error: {e:?}")),
        };
        let (status, body) = match parts.as_slice() {
            ["publish", subject, body] => {
                let message = Message::new(body.as_bytes());
                message.set_content_type("text/plain");
                message.add_metadata("sender", "messenger3");
                match producer::send(&client, subject, message) {
                    Ok(()) => (200, "published".to_string()),
                    Err(e) => (502, format!("error: {e:?}")),
                }
            }
            ["request", subject, body] => {
                let options = request_reply::RequestOptions::new();
                options.set_timeout_ms(2000);
                match request_reply::request(&client, subject, &Message::new(body.as_bytes()), Some(options)) {
                    Ok(replies) => {
                        let texts: Vec<String> = replies.iter().map(|r| String::from_utf8_lossy(&r.data()).into_owned()).collect();
                        (200, format!("reply: {}", texts.join(", ")))
                    }
                    Err(e) => (502, format!("error: {e:?}")),
                }
            }
            _ => (404, "unknown route".to_string()),
        };
        respond(out, status, &body);
    }
}

export!(Messenger);
wasip2::http::proxy::export!(Messenger);
