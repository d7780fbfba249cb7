// The `blobs` guest's routes, shared by `blobs` (wasmCloud's shape of `wasi:blobstore`) and
// `blobs-draft` (the upstream draft's), which differ only in the WIT they bind.

use common::respond;
use wasi::blobstore::{blobstore, types};
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

struct Blobs;

/// Copies everything from `from` to `to`; returns the bytes copied.
fn pump(from: &InputStream, to: &OutputStream) -> Result<u64, String> {
    let mut total = 0;
    loop {
        match to.blocking_splice(from, 1 << 20) {
            Ok(n) => total += n,
            Err(StreamError::Closed) => return Ok(total),
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
}

fn put(request: IncomingRequest, container: &str, object: &str, buffered: bool) -> Result<String, String> {
    let container = blobstore::get_container(container)?;
    let value = types::OutgoingValue::new_outgoing_value();
    let sink = value.outgoing_value_write_body().map_err(|_| "no body stream".to_string())?;
    if !buffered {
        container.write_data(object, &value)?;
    }
    let body = request.consume().map_err(|_| "no request body")?;
    let source = body.stream().map_err(|_| "no request body stream")?;
    let written = pump(&source, &sink).and_then(|n| sink.blocking_flush().map(|()| n).map_err(|e| format!("{e:?}")));
    drop((source, sink));
    if buffered && written.is_ok() {
        container.write_data(object, &value)?;
    }
    // A write the backend gave up on fails the stream; `finish` says why.
    types::OutgoingValue::finish(value)?;
    Ok(format!("stored {}", written?))
}

/// Answers with the object's bytes, streamed.
fn get(out: ResponseOutparam, container: &str, object: &str, start: u64, end: u64) {
    let value = match blobstore::get_container(container).and_then(|c| c.get_data(object, start, end)) {
        Ok(v) => v,
        Err(e) => return respond(out, 404, &e),
    };
    let size = value.size();
    let source = match types::IncomingValue::incoming_value_consume_async(value) {
        Ok(s) => s,
        Err(e) => return respond(out, 500, &e),
    };
    let headers = Fields::new();
    let _ = headers.set("content-length", &[size.to_string().into_bytes()]);
    let response = OutgoingResponse::new(headers);
    let body = response.body().unwrap();
    ResponseOutparam::set(out, Ok(response));
    let sink = body.write().unwrap();
    let _ = pump(&source, &sink);
    drop((source, sink));
    OutgoingBody::finish(body, None).unwrap();
}

fn query(path: &str, key: &str) -> Option<u64> {
    let (_, q) = path.split_once('?')?;
    q.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn other(method: &Method, parts: &[&str]) -> Result<(u16, String), String> {
    let joined = |rest: &[&str]| rest.join("/");
    Ok(match (method, parts) {
        (Method::Get, ["sync", c, rest @ ..]) => {
            let value = blobstore::get_container(c)?.get_data(&joined(rest), 0, u64::MAX)?;
            let bytes = types::IncomingValue::incoming_value_consume_sync(value)?;
            (200, String::from_utf8_lossy(&bytes).into_owned())
        }
        (Method::Get, ["info", c, rest @ ..]) => {
            let info = blobstore::get_container(c)?.object_info(&joined(rest))?;
            (200, format!("{}/{} size={}", info.container, info.name, info.size))
        }
        (Method::Get, ["has", c, rest @ ..]) => (200, blobstore::get_container(c)?.has_object(&joined(rest))?.to_string()),
        (Method::Get, ["list", c]) => {
            let names = blobstore::get_container(c)?.list_objects()?;
            let mut all = Vec::new();
            loop {
                let (page, done) = names.read_stream_object_names(2)?;
                all.extend(page);
                if done {
                    break;
                }
            }
            all.sort();
            (200, all.join(","))
        }
        (Method::Get, ["exists", c]) => (200, blobstore::container_exists(c)?.to_string()),
        (Method::Get, ["container-info", c]) => {
            let container = blobstore::get_container(c)?;
            let info = container.info()?;
            (200, format!("{} created={}", info.name, info.created_at > 0))
        }
        (Method::Delete, ["o", c, rest @ ..]) => {
            blobstore::get_container(c)?.delete_object(&joined(rest))?;
            (200, "deleted".into())
        }
        (Method::Post, ["create", c]) => {
            blobstore::create_container(c)?;
            (200, "created".into())
        }
        (Method::Post, ["clear", c]) => {
            blobstore::get_container(c)?.clear()?;
            (200, "cleared".into())
        }
        (Method::Post, ["delete-container", c]) => {
            blobstore::delete_container(c)?;
            (200, "deleted".into())
        }
        (Method::Post, [op @ ("copy" | "move"), c, o, c2, o2]) => {
            let (src, dest) = (types::ObjectId { container: c.to_string(), object: o.to_string() }, types::ObjectId { container: c2.to_string(), object: o2.to_string() });
            if *op == "copy" { blobstore::copy_object(&src, &dest)? } else { blobstore::move_object(&src, &dest)? }
            (200, format!("{op} done"))
        }
        _ => (404, "unknown route".into()),
    })
}

impl wasip2::exports::http::incoming_handler::Guest for Blobs {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let route = path.split('?').next().unwrap_or_default();
        let parts: Vec<&str> = route.trim_start_matches('/').split('/').filter(|p| !p.is_empty()).collect();
        let method = request.method();
        match (&method, parts.as_slice()) {
            (Method::Put, [kind @ ("o" | "buffered"), c, rest @ ..]) => {
                let (kind, c, object) = (kind.to_string(), c.to_string(), rest.join("/"));
                match put(request, &c, &object, kind == "buffered") {
                    Ok(text) => respond(out, 200, &text),
                    Err(e) => respond(out, 500, &e),
                }
            }
            (Method::Get, ["o", c, rest @ ..]) => {
                get(out, c, &rest.join("/"), query(&path, "start").unwrap_or(0), query(&path, "end").unwrap_or(u64::MAX))
            }
            _ => match other(&method, &parts) {
                Ok((status, body)) => respond(out, status, &body),
                Err(e) => respond(out, 500, &e),
            },
        }
    }
}

wasip2::http::proxy::export!(Blobs);
