//! What a request reports: its server span, whose parent is the client's `traceparent`, and
//! `http.server.request.duration`, as OpenTelemetry's HTTP semantic conventions name them.
//!
//! Attributes are `http.request.method` (the standard methods, else `_OTHER`),
//! `http.response.status_code`, and the route's owner (`trellis.app`, `trellis.component.name`);
//! never the path or query, which a client chooses and would make the series unbounded.

use std::sync::LazyLock;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use tracing::Instrument as _;

use crate::invoke::Body;
use crate::routes::Owner;

static DURATION: LazyLock<Histogram<f64>> = LazyLock::new(|| {
    trellis_telemetry::meter()
        .f64_histogram("http.server.request.duration")
        .with_description("Time to the response head of requests served to components")
        .with_unit("s")
        .with_boundaries(trellis_telemetry::prometheus::SECONDS_BUCKETS.to_vec())
        .build()
});

/// The owner's attributes, made once per binding.
#[derive(Clone)]
pub(crate) struct RouteAttributes([KeyValue; 2]);

impl RouteAttributes {
    pub(crate) fn new(owner: &Owner) -> RouteAttributes {
        RouteAttributes([KeyValue::new("trellis.app", owner.app.clone()), KeyValue::new("trellis.component.name", owner.component.clone())])
    }
}

/// Where a request came in.
#[derive(Clone, Copy)]
pub(crate) enum Arrival<'a> {
    /// On one of this process's listeners, to the route of this owner (none: no route matched).
    Listener(Option<&'a RouteAttributes>),
    /// Over wRPC from the host whose listener took it; that host counts it.
    Forwarded,
}

/// Serves `request` with `serve` inside a server span, and counts it.
pub(crate) async fn traced<B, F>(arrival: Arrival<'_>, request: hyper::Request<B>, serve: impl FnOnce(hyper::Request<B>) -> F) -> hyper::Response<Body>
where
    F: Future<Output = hyper::Response<Body>>,
{
    let started = Instant::now();
    let method = trellis_telemetry::http_method(request.method());
    let span = tracing::info_span!(
        target: trellis_telemetry::SPANS,
        "http",
        otel.name = method,
        otel.kind = "server",
        http.request.method = method,
        url.path = request.uri().path(),
        trellis.forwarded = matches!(arrival, Arrival::Forwarded),
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    trellis_telemetry::propagation::extract_http(&span, request.headers());
    let response = serve(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = KeyValue::new("http.response.status_code", i64::from(status));
    let method = KeyValue::new("http.request.method", method);
    match arrival {
        Arrival::Listener(Some(RouteAttributes([app, component]))) => DURATION.record(seconds, &[method, status, app.clone(), component.clone()]),
        Arrival::Listener(None) => DURATION.record(seconds, &[method, status]),
        Arrival::Forwarded => {}
    }
    response
}
