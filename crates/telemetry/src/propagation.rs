//! W3C trace context (`traceparent`, `tracestate`) in and out of headers: HTTP requests, wRPC
//! calls and NATS messages carry the span that sent them, so a call through two hosts and a
//! provider is one trace.
//!
//! Header maps differ by crate (`http`, two versions of `async-nats`), so both directions take
//! closures: [`inject`] hands each header to set, [`extract`] asks for each header by name.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Writes `span`'s trace context through `set(name, value)`. Does nothing for a span traces are
/// not recorded for.
pub fn inject(span: &tracing::Span, set: impl FnMut(&'static str, String)) {
    if span.is_disabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut Setter(set));
}

/// Makes the trace context `get(name)` finds the parent of `span` (a request's `traceparent`
/// is the parent of the span that serves it). Does nothing without a valid `traceparent`.
pub fn extract<'a>(span: &tracing::Span, get: impl Fn(&str) -> Option<&'a str>) {
    if span.is_disabled() {
        return;
    }
    let Some(traceparent) = get("traceparent") else { return };
    let found = Found { traceparent, tracestate: get("tracestate") };
    let parent = TraceContextPropagator::new().extract(&found);
    let _ = span.set_parent(parent);
}

/// [`inject`] into an `http` header map.
pub fn inject_http(span: &tracing::Span, headers: &mut http::HeaderMap) {
    inject(span, |name, value| {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    });
}

/// [`extract`] from an `http` header map.
pub fn extract_http(span: &tracing::Span, headers: &http::HeaderMap) {
    extract(span, |name| headers.get(name).and_then(|v| v.to_str().ok()));
}

/// A span's trace context carried apart from any header map: in a message, across a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// The W3C `traceparent`, when the span was traced.
    pub traceparent: Option<String>,
    /// The W3C `tracestate` that came with it.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of `span` (empty when traces are off).
    pub fn of(span: &tracing::Span) -> TraceContext {
        let mut context = TraceContext::default();
        inject(span, |name, value| match name {
            "traceparent" => context.traceparent = Some(value),
            _ => context.tracestate = Some(value),
        });
        context
    }

    /// Reads it from headers by name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> TraceContext {
        TraceContext { traceparent: get("traceparent").map(str::to_owned), tracestate: get("tracestate").map(str::to_owned) }
    }

    /// Makes it the parent of `span`.
    pub fn parent_of(&self, span: &tracing::Span) {
        extract(span, |name| match name {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        });
    }

    /// Its headers, to set on a message.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("traceparent", self.traceparent.as_deref()), ("tracestate", self.tracestate.as_deref())].into_iter().filter_map(|(k, v)| Some((k, v?)))
    }
}

struct Setter<F>(F);

impl<F: FnMut(&'static str, String)> Injector for Setter<F> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator sets only these two.
        let name = match key {
            "traceparent" => "traceparent",
            // An empty `tracestate` says nothing: it is not sent.
            "tracestate" if !value.is_empty() => "tracestate",
            _ => return,
        };
        (self.0)(name, value);
    }
}

struct Found<'a> {
    traceparent: &'a str,
    tracestate: Option<&'a str>,
}

impl Extractor for Found<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    fn traced<R>(f: impl FnOnce() -> R) -> R {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn a_span_goes_out_as_traceparent_and_comes_back_as_the_parent() {
        traced(|| {
            let client = tracing::info_span!(target: crate::SPANS, "client");
            let mut headers = http::HeaderMap::new();
            inject_http(&client, &mut headers);
            let sent = client.context().span().span_context().clone();
            let traceparent = headers["traceparent"].to_str().unwrap().to_owned();
            assert_eq!(traceparent, format!("00-{}-{}-01", sent.trace_id(), sent.span_id()));

            let server = tracing::info_span!(target: crate::SPANS, "server");
            extract_http(&server, &headers);
            let got = server.context().span().span_context().clone();
            assert_eq!(got.trace_id(), sent.trace_id(), "one trace");
            assert_ne!(got.span_id(), sent.span_id());
        });
    }

    #[test]
    fn a_context_carried_in_a_message_parents_the_span_that_receives_it() {
        traced(|| {
            let sender = tracing::info_span!(target: crate::SPANS, "publish");
            let carried = TraceContext::of(&sender);
            assert_eq!(carried.headers().count(), 1, "{carried:?}");
            let receiver = tracing::info_span!(target: crate::SPANS, "receive");
            TraceContext::from_headers(|name| carried.headers().find(|(k, _)| *k == name).map(|(_, v)| v)).parent_of(&receiver);
            assert_eq!(receiver.context().span().span_context().trace_id(), sender.context().span().span_context().trace_id());
        });
        assert_eq!(TraceContext::of(&tracing::Span::none()), TraceContext::default());
    }

    #[test]
    fn no_traceparent_leaves_the_span_a_root() {
        traced(|| {
            let server = tracing::info_span!(target: crate::SPANS, "server");
            extract(&server, |_| None);
            let mut headers = http::HeaderMap::new();
            inject_http(&server, &mut headers);
            assert!(headers.contains_key("traceparent"));
        });
        let untraced = tracing::Span::none();
        let mut headers = http::HeaderMap::new();
        inject_http(&untraced, &mut headers);
        assert!(headers.is_empty(), "no trace, no header");
    }
}
