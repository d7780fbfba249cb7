//! What an invocation reports: its span, and the invocation instruments.
//!
//! | instrument | kind | attributes |
//! |---|---|---|
//! | `trellis.component.invocations` | counter | `trellis.component.id`, `trellis.function`, `error.type` on failure |
//! | `trellis.component.invocation.duration` (s) | histogram | the same |
//! | `trellis.component.instances.active` | up-down counter | `trellis.component.id` |
//!
//! | `trellis.component.loads` | counter | `trellis.loaded_from` (`compiled`, `cache`, `memory`) |
//! | `http.client.request.duration` (s) | histogram | `http.request.method`, `http.response.status_code` or `error.type` (`denied`, `connect`), `trellis.component.id` |
//!
//! `error.type` of an invocation is the [`FailureKind`]: `trap`, `deadline`, `memory`, `stack_overflow`,
//! `instantiation`. Attributes are ids and export names, never request data, so their number
//! is bounded by what is deployed.

use std::sync::{Arc, LazyLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};

use crate::limits::FailureKind;

pub(crate) struct Instruments {
    pub(crate) invocations: Counter<u64>,
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
    pub(crate) outbound: Histogram<f64>,
}

/// Built on first use, after the process has installed its meter provider (or never has: then
/// they are no-ops).
pub(crate) static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = trellis_telemetry::meter();
    Instruments {
        invocations: meter.u64_counter("trellis.component.invocations").with_description("Invocations of a component's exports").with_unit("{invocation}").build(),
        duration: meter
            .f64_histogram("trellis.component.invocation.duration")
            .with_description("Time from an invocation being asked for (waiting for a concurrency slot included) to its instance ending")
            .with_unit("s")
            .with_boundaries(trellis_telemetry::prometheus::SECONDS_BUCKETS.to_vec())
            .build(),
        active: meter.i64_up_down_counter("trellis.component.instances.active").with_description("Instances running now").with_unit("{instance}").build(),
        outbound: meter
            .f64_histogram("http.client.request.duration")
            .with_description("Time to the response head of outgoing requests components make")
            .with_unit("s")
            .with_boundaries(trellis_telemetry::prometheus::SECONDS_BUCKETS.to_vec())
            .build(),
    }
});

pub(crate) const COMPONENT: &str = "trellis.component.id";
pub(crate) const FUNCTION: &str = "trellis.function";
pub(crate) const ERROR_TYPE: &str = "error.type";

impl FailureKind {
    /// The `error.type` this failure is reported under.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Deadline => "deadline",
            FailureKind::Memory => "memory",
            FailureKind::StackOverflow => "stack_overflow",
            FailureKind::Instantiation => "instantiation",
        }
    }

    pub(crate) fn to_code(self) -> u8 {
        self as u8 + 1
    }

    pub(crate) fn from_code(code: u8) -> Option<FailureKind> {
        [FailureKind::Trap, FailureKind::Deadline, FailureKind::Memory, FailureKind::StackOverflow, FailureKind::Instantiation].get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// Records where a component's compiled code came from.
pub(crate) fn loaded(from: crate::LoadedFrom) {
    static LOADS: LazyLock<Counter<u64>> = LazyLock::new(|| {
        trellis_telemetry::meter()
            .u64_counter("trellis.component.loads")
            .with_description("Components made ready to run, by where their compiled code came from: the compile cache is working when `compiled` stays low")
            .with_unit("{load}")
            .build()
    });
    let from = match from {
        crate::LoadedFrom::Compiled => "compiled",
        crate::LoadedFrom::Cache => "cache",
        crate::LoadedFrom::Memory => "memory",
    };
    LOADS.add(1, &[KeyValue::new("trellis.loaded_from", from)]);
}

/// Records one finished invocation.
pub(crate) fn finished(component: &KeyValue, function: &KeyValue, failure: Option<FailureKind>, seconds: f64) {
    let instruments = &*INSTRUMENTS;
    match failure {
        None => {
            let attributes = [component.clone(), function.clone()];
            instruments.invocations.add(1, &attributes);
            instruments.duration.record(seconds, &attributes);
        }
        Some(kind) => {
            let attributes = [component.clone(), function.clone(), KeyValue::new(ERROR_TYPE, kind.as_str())];
            instruments.invocations.add(1, &attributes);
            instruments.duration.record(seconds, &attributes);
        }
    }
}

/// One outgoing HTTP request of a guest: its client span and its measurement.
pub(crate) struct Outbound {
    span: tracing::Span,
    method: &'static str,
    component: KeyValue,
    started: std::time::Instant,
}

impl Outbound {
    pub(crate) fn start(parent: &tracing::Span, component: &Arc<str>, method: &http::Method) -> Outbound {
        let method = trellis_telemetry::http_method(method);
        let span = tracing::info_span!(
            target: trellis_telemetry::SPANS,
            parent: parent,
            "http.client",
            otel.name = method,
            otel.kind = "client",
            http.request.method = method,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        Outbound { span, method, component: KeyValue::new(COMPONENT, opentelemetry::StringValue::from(component.clone())), started: std::time::Instant::now() }
    }

    /// Puts the request's trace context in its headers: the server continues the trace.
    pub(crate) fn propagate(&self, headers: &mut http::HeaderMap) {
        trellis_telemetry::propagation::inject_http(&self.span, headers);
    }

    /// The policy refused it.
    pub(crate) fn denied(self) {
        self.record(Err("denied"));
    }

    /// The response head came (its status), or the request failed.
    pub(crate) fn finished<E>(self, outcome: Result<u16, &E>) {
        self.record(outcome.map_err(|_| "connect"));
    }

    fn record(self, outcome: Result<u16, &'static str>) {
        let method = KeyValue::new("http.request.method", self.method);
        let seconds = self.started.elapsed().as_secs_f64();
        match outcome {
            Ok(status) => {
                self.span.record("http.response.status_code", status);
                if status >= 500 {
                    self.span.record("otel.status_code", "ERROR");
                }
                INSTRUMENTS.outbound.record(seconds, &[method, KeyValue::new("http.response.status_code", i64::from(status)), self.component]);
            }
            Err(kind) => {
                self.span.record("error.type", kind);
                self.span.record("otel.status_code", "ERROR");
                INSTRUMENTS.outbound.record(seconds, &[method, KeyValue::new(ERROR_TYPE, kind), self.component]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_round_trip_through_their_codes() {
        for kind in [FailureKind::Trap, FailureKind::Deadline, FailureKind::Memory, FailureKind::StackOverflow, FailureKind::Instantiation] {
            assert_eq!(FailureKind::from_code(kind.to_code()), Some(kind));
        }
        assert_eq!(FailureKind::from_code(0), None);
    }
}
