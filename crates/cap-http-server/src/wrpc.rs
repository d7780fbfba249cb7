//! `wrpc:http/incoming-handler@0.1.0` over wRPC: how an HTTP request reaches a component on
//! another host, in the shape wasmCloud's http-server provider sends it. The body and trailers
//! stream both ways as they come; nothing is buffered whole.

use bytes::Bytes;
use futures::{FutureExt as _, StreamExt as _};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use tokio::task::JoinHandle;
use trellis_runtime::wasmtime_wasi_http::Error as BodyError;

use crate::invoke::{self, Body, HttpTarget};

#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated")]
pub(crate) mod bindings {
    wit_bindgen_wrpc::generate!({ world: "interfaces", path: "wit", generate_all });
}

use bindings::wasi::http::types::{ErrorCode, Method, Scheme};
use bindings::wrpc::http::types::{Fields, Request, Response};

/// The wRPC instance and function the HTTP server calls, as wasmCloud names them.
pub(crate) const HANDLE: &str = "wrpc:http/incoming-handler@0.1.0.handle";

/// Serves `target` as `wrpc:http/incoming-handler@0.1.0` on `client` (the component's own
/// subjects, so every host running it shares the requests) until the task is aborted.
pub async fn serve_wrpc(client: &wrpc_transport_nats::Client, target: HttpTarget) -> anyhow::Result<JoinHandle<()>> {
    let id = target.id().to_owned();
    let served = bindings::exports::wrpc::http::incoming_handler::serve_interface(client, Handler(target)).await?;
    Ok(trellis_rpc::answer_all(&id, served))
}

#[derive(Clone)]
struct Handler(HttpTarget);

impl<Ctx: Send> bindings::exports::wrpc::http::incoming_handler::Handler<Ctx> for Handler {
    async fn handle(&self, _cx: Ctx, request: Request) -> anyhow::Result<Result<Response, ErrorCode>> {
        let request = match into_http(request) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(component = self.0.id(), "{HANDLE}: refused a request that is not valid HTTP: {e:#}");
                return Ok(Err(ErrorCode::HttpRequestUriInvalid));
            }
        };
        let response = crate::telemetry::traced(crate::telemetry::Arrival::Forwarded, request, |r| invoke::handle(&self.0, r)).await;
        Ok(Ok(from_http(response)))
    }
}

/// Sends `request` to whichever host runs the component `client` names, and streams the answer.
pub(crate) async fn forward<B>(client: &wrpc_transport_nats::Client, id: &str, request: hyper::Request<B>) -> hyper::Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let (mut parts, body) = request.into_parts();
    // The host that runs the component continues this request's trace.
    trellis_telemetry::propagation::inject_http(&tracing::Span::current(), &mut parts.headers);
    let owner = id.to_owned();
    let (body, trailers) = split(body, move |e| tracing::debug!(component = %owner, "reading the request body: {e}"));
    let request = Request {
        body: Box::pin(body),
        trailers: Box::pin(trailers),
        method: method(&parts.method),
        path_with_query: parts.uri.path_and_query().map(ToString::to_string),
        scheme: Some(match parts.uri.scheme_str() {
            Some("https") => Scheme::Https,
            Some(other) if other != "http" => Scheme::Other(other.to_owned()),
            _ => Scheme::Http,
        }),
        authority: parts.uri.authority().map(ToString::to_string).or_else(|| parts.headers.get(http::header::HOST)?.to_str().ok().map(str::to_owned)),
        headers: fields(&parts.headers),
    };
    let (answer, io) = match bindings::wrpc::http::incoming_handler::handle(client, None, request).await {
        Ok(answer) => answer,
        Err(e) => return invoke::text_response(502, format!("component `{id}` on another host: {e:#}\n")),
    };
    if let Some(io) = io {
        // Streams the request body out while the response comes back.
        let id = id.to_owned();
        tokio::spawn(io.map(move |r| {
            if let Err(e) = r {
                tracing::debug!(component = %id, "{HANDLE}: {e:#}");
            }
        }));
    }
    match answer {
        Ok(response) => match into_http_response(response) {
            Ok(r) => r,
            Err(e) => invoke::text_response(502, format!("component `{id}` on another host answered with an invalid response: {e:#}\n")),
        },
        Err(code) => invoke::text_response(500, format!("component `{id}` answered with an error: {code:?}\n")),
    }
}

fn method(m: &http::Method) -> Method {
    match *m {
        http::Method::GET => Method::Get,
        http::Method::HEAD => Method::Head,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::CONNECT => Method::Connect,
        http::Method::OPTIONS => Method::Options,
        http::Method::TRACE => Method::Trace,
        http::Method::PATCH => Method::Patch,
        ref other => Method::Other(other.as_str().to_owned()),
    }
}

fn http_method(m: &Method) -> anyhow::Result<http::Method> {
    Ok(match m {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Connect => http::Method::CONNECT,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
        Method::Patch => http::Method::PATCH,
        Method::Other(name) => http::Method::from_bytes(name.as_bytes())?,
    })
}

/// Header map → wRPC fields: each name once, with all its values in order.
fn fields(headers: &http::HeaderMap) -> Fields {
    headers.keys().map(|name| (name.as_str().to_owned(), headers.get_all(name).iter().map(|v| Bytes::copy_from_slice(v.as_bytes())).collect())).collect()
}

fn header_map(fields: Fields) -> anyhow::Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::with_capacity(fields.len());
    for (name, values) in fields {
        let name = http::HeaderName::try_from(name)?;
        for value in values {
            headers.append(name.clone(), http::HeaderValue::from_maybe_shared(value)?);
        }
    }
    Ok(headers)
}

/// An HTTP body as wRPC carries it: a stream of chunks, then maybe trailers.
fn split<B>(body: B, on_error: impl Fn(&B::Error) + Send + 'static) -> (impl futures::Stream<Item = Bytes> + Send, impl Future<Output = Option<Fields>> + Send)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
{
    let (trailers_tx, trailers_rx) = tokio::sync::oneshot::channel();
    let mut trailers_tx = Some(trailers_tx);
    let chunks = http_body_util::BodyStream::new(body).filter_map(move |frame| {
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Some(data),
                Err(frame) => {
                    if let (Ok(trailers), Some(tx)) = (frame.into_trailers(), trailers_tx.take()) {
                        let _ = tx.send(fields(&trailers));
                    }
                    None
                }
            },
            Err(e) => {
                // The stream ends here; the receiver sees a shorter body.
                on_error(&e);
                None
            }
        };
        std::future::ready(chunk)
    });
    (chunks, trailers_rx.map(Result::ok))
}

/// wRPC chunks and trailers → an HTTP body.
fn join(body: std::pin::Pin<Box<dyn futures::Stream<Item = Bytes> + Send>>, trailers: std::pin::Pin<Box<dyn Future<Output = Option<Fields>> + Send>>) -> Body {
    let data = body.map(|chunk| Ok::<_, BodyError>(Frame::data(chunk)));
    let trailers = trailers
        .map(|t| match t.map(header_map) {
            Some(Ok(map)) => Some(Ok(Frame::trailers(map))),
            Some(Err(e)) => Some(Err(BodyError::InternalError(Some(format!("invalid trailers: {e}"))))),
            None => None,
        })
        .into_stream()
        .filter_map(std::future::ready);
    StreamBody::new(data.chain(trailers)).boxed_unsync()
}

fn into_http(request: Request) -> anyhow::Result<hyper::Request<Body>> {
    let Request { body, trailers, method, path_with_query, scheme, authority, headers } = request;
    let mut uri = http::Uri::builder().path_and_query(path_with_query.as_deref().unwrap_or("/"));
    if let Some(authority) = authority {
        let scheme = match scheme {
            Some(Scheme::Https) => "https".to_owned(),
            Some(Scheme::Other(s)) => s,
            _ => "http".to_owned(),
        };
        uri = uri.authority(authority).scheme(scheme.as_str());
    }
    let mut request = hyper::Request::builder().method(http_method(&method)?).uri(uri.build()?).body(join(body, trailers))?;
    *request.headers_mut() = header_map(headers)?;
    Ok(request)
}

fn from_http(response: hyper::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let (body, trailers) = split(body, |e| tracing::debug!("the component's response body broke off: {e}"));
    Response { body: Box::pin(body), trailers: Box::pin(trailers), status: parts.status.as_u16(), headers: fields(&parts.headers) }
}

fn into_http_response(response: Response) -> anyhow::Result<hyper::Response<Body>> {
    let Response { body, trailers, status, headers } = response;
    let mut out = hyper::Response::builder().status(status).body(join(body, trailers))?;
    *out.headers_mut() = header_map(headers)?;
    Ok(out)
}
