//! One request, one fresh instance: the request path from hyper into a guest and back.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use trellis_runtime::wasmtime_wasi_http::WasiHttpView;
use trellis_runtime::wasmtime_wasi_http::p2::bindings::ProxyPre;
use trellis_runtime::wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use trellis_runtime::wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use trellis_runtime::{FailureKind, InvocationError, InvocationState, PreparedComponent};

/// The export every request calls; named in errors and logs.
const HANDLE: &str = "wasi:http/incoming-handler.handle";

/// A component that can serve HTTP: it exports `wasi:http/incoming-handler@0.2.x`.
#[derive(Clone)]
pub struct HttpTarget {
    component: PreparedComponent,
    proxy: ProxyPre<InvocationState>,
}

impl HttpTarget {
    /// Checks the component exports the handler and binds to it.
    pub fn new(component: PreparedComponent) -> anyhow::Result<HttpTarget> {
        let proxy = ProxyPre::new(component.instance_pre().clone()).map_err(|e| {
            anyhow::anyhow!("component `{}` does not export wasi:http/incoming-handler@0.2.x: {e}", component.id())
        })?;
        Ok(HttpTarget { component, proxy })
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        self.component.id()
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
pub(crate) async fn handle(target: &HttpTarget, request: hyper::Request<Incoming>) -> hyper::Response<Body> {
    let invocation = match target.component.begin(HANDLE).await {
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
    let proxy = target.proxy.clone();
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
        Ok(Err(code)) => text_response(500, format!("component `{}` answered with an error: {}\n", target.id(), describe(&code))),
        // The guest dropped the outparam without setting it: the task says why.
        Err(_) => match task.await {
            Ok(Err(e)) => failure_response(&e),
            Ok(Ok(())) => text_response(500, format!("component `{}` returned from {HANDLE} without setting a response\n", target.id())),
            Err(join) => text_response(500, format!("component `{}` task failed: {join}\n", target.id())),
        },
    }
}

fn describe(code: &ErrorCode) -> String {
    format!("{code:?}")
}
