//! What an invocation reports: its span, and the invocation instruments.
//!
//! | instrument | kind | attributes |
//! |---|---|---|
//! | `trellis.component.invocations` | counter | `trellis.component.id`, `trellis.function`, `error.type` on failure |
//! | `trellis.component.invocation.duration` (s) | histogram | the same |
//! | `trellis.component.instances.active` | up-down counter | `trellis.component.id` |
//!
//! `error.type` is the [`FailureKind`]: `trap`, `deadline`, `memory`, `stack_overflow`,
//! `instantiation`. Attributes are ids and export names, never request data, so their number
//! is bounded by what is deployed.

use std::sync::LazyLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};

use crate::limits::FailureKind;

pub(crate) struct Instruments {
    pub(crate) invocations: Counter<u64>,
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
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
