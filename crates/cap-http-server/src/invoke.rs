//! One request, one fresh instance: the request path from hyper into a guest and back.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;

use trellis_rpc::Calls;
use trellis_runtime::wasmtime_wasi_http::WasiHttpView;
use trellis_runtime::wasmtime_wasi_http::p2::bindings::ProxyPre;
use trellis_runtime::wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use trellis_runtime::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use trellis_runtime::{FailureKind, InvocationError, InvocationState, PreparedComponent};

/// The export every request calls; named in errors and logs.
const HANDLE: &str = "wasi:http/incoming-handler.handle";

/// A component that serves HTTP: it exports `wasi:http/incoming-handler@0.2.x`.
#[derive(Clone)]
pub struct HttpTarget(Target);

#[derive(Clone)]
enum Target {
    /// Runs on this host: a fresh instance per request.
    Here { component: PreparedComponent, proxy: ProxyPre<InvocationState> },
    /// Runs somewhere on the lattice: in this process if a host of it runs the component when
    /// the request comes, else on any host that does, over wRPC.
    Lattice { id: Arc<str>, calls: Calls },
}

impl HttpTarget {
    /// Checks the component exports the handler and binds to it.
    pub fn new(component: PreparedComponent) -> anyhow::Result<HttpTarget> {
        let proxy = ProxyPre::new(component.instance_pre().clone()).map_err(|e| {
            anyhow::anyhow!("component `{}` does not export wasi:http/incoming-handler@0.2.x: {e}", component.id())
        })?;
        Ok(HttpTarget(Target::Here { component, proxy }))
    }

    /// Component `id` wherever it runs, found again for every request.
    pub fn on_lattice(id: &str, calls: Calls) -> HttpTarget {
        HttpTarget(Target::Lattice { id: id.into(), calls })
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        match &self.0 {
            Target::Here { component, .. } => component.id(),
            Target::Lattice { id, .. } => id,
        }
    }
}

pub(crate) type Body = HyperOutgoingBody;

pub(crate) fn text_response(status: u16, text: String) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed_unsync())
        .expect("a static status and header are valid")
}

fn failure_response(error: &InvocationError) -> hyper::Response<Body> {
    let status = match error.kind() {
        FailureKind::Trap => 500,
        FailureKind::Deadline => 504,
        FailureKind::Memory | FailureKind::StackOverflow | FailureKind::Instantiation => 503,
    };
    text_response(status, format!("{error}\n"))
}

fn log_failure(error: &InvocationError) {
    tracing::warn!(kind = ?error.kind(), "{error}");
}

/// Serves `request` with a fresh instance of `target`.
///
/// The guest runs in its own task because it may keep streaming the body after it has handed
/// over the response head; that task owns the store and the concurrency slot until it ends.
pub(crate) async fn handle<B>(target: &HttpTarget, request: hyper::Request<B>) -> hyper::Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<trellis_runtime::wasmtime_wasi_http::Error> + std::fmt::Display,
{
    let (component, proxy) = match &target.0 {
        Target::Here { component, proxy } => (component, proxy),
        Target::Lattice { id, calls } => {
            if let Some(component) = calls.running_here(id) {
                return match HttpTarget::new(component) {
                    Ok(here) => Box::pin(handle(&here, request)).await,
                    Err(e) => text_response(500, format!("{e}\n")),
                };
            }
            return match calls.wrpc_client(id).await {
                Some(Ok(client)) => crate::wrpc::forward(&client, id, request).await,
                Some(Err(e)) => text_response(502, format!("component `{id}`: {e:#}\n")),
                None => text_response(503, format!("component `{id}` is not running in this process, and it is not joined to a NATS lattice\n")),
            };
        }
    };
    let invocation = match component.begin(HANDLE).await {
        Ok(inv) => inv,
        Err(e) => {
            log_failure(&e);
            return failure_response(&e);
        }
    };
    let mut store = invocation.store;
    let guard = invocation.guard;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let resources = {
        let mut http = store.data_mut().http();
        http.new_incoming_request(Scheme::Http, request).and_then(|req| Ok((req, http.new_response_outparam(sender)?)))
    };
    let (req, out) = match resources {
        Ok(r) => r,
        Err(e) => return text_response(400, format!("bad request: {e}\n")),
    };
    let proxy = proxy.clone();
    let id = component.id().to_owned();
    let task = tokio::spawn(async move {
        let result = guard
            .run(async {
                let instance = proxy.instantiate_async(&mut store).await?;
                instance.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            })
            .await;
        if let Err(e) = &result {
            log_failure(e);
        }
        result
    });
    match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => text_response(500, format!("component `{id}` answered with an error: {}\n", describe(&code))),
        // The guest dropped the outparam without setting it: the task says why.
        Err(_) => match task.await {
            Ok(Err(e)) => failure_response(&e),
            Ok(Ok(())) => text_response(500, format!("component `{id}` returned from {HANDLE} without setting a response\n")),
            Err(join) => text_response(500, format!("component `{id}` task failed: {join}\n")),
        },
    }
}

fn describe(code: &ErrorCode) -> String {
    format!("{code:?}")
}
