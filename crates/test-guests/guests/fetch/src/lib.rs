//! Fetches `<scheme>://<authority>/<path>` for a request to `/<scheme>/<authority>/<path>` and
//! answers `upstream <status>: <body>`, or 502 with the error code when the host refuses.

use std::io::Read;

use wasip2::http::outgoing_handler;
use common::respond;
use wasip2::http::types::{Fields, IncomingRequest, OutgoingRequest, ResponseOutparam, Scheme};

struct Fetch;


fn fetch(scheme: &str, authority: &str, path: &str) -> Result<String, String> {
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    request.set_scheme(Some(&scheme)).map_err(|_| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|_| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|_| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending.get().ok_or("no response")?.map_err(|_| "response taken")?.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|_| "no body")?;
    let mut stream = body.stream().map_err(|_| "no body stream")?;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    Ok(format!("upstream {status}: {text}"))
}

impl wasip2::exports::http::incoming_handler::Guest for Fetch {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (scheme, authority, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        match fetch(scheme, authority, &format!("/{rest}")) {
            Ok(text) => respond(out, 200, &text),
            Err(e) => respond(out, 502, &format!("error: {e}")),
        }
    }
}

wasip2::http::proxy::export!(Fetch);
