//! What the deployment manager reports: its reconcile passes and applies, and how many
//! applications are in each status.
//!
//! | instrument | kind | attributes |
//! |---|---|---|
//! | `trellis.manager.reconcile.passes` | counter | `trellis.pass` (`full`, `changed`) |
//! | `trellis.manager.reconcile.duration` (s) | histogram | `trellis.pass` |
//! | `trellis.manager.applies` | counter | `trellis.outcome` (`ok`, `failed`) |
//! | `trellis.manager.apps` | gauge | `trellis.app.status` (`deployed`, `reconciling`, `failed`, ...) |

use std::collections::BTreeMap;
use std::sync::{LazyLock, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};

use crate::Inner;

struct Instruments {
    passes: Counter<u64>,
    duration: Histogram<f64>,
    applies: Counter<u64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let meter = trellis_telemetry::meter();
    Instruments {
        passes: meter.u64_counter("trellis.manager.reconcile.passes").with_description("Reconcile passes").with_unit("{pass}").build(),
        duration: meter
            .f64_histogram("trellis.manager.reconcile.duration")
            .with_description("Time one reconcile pass takes to plan and issue")
            .with_unit("s")
            .with_boundaries(trellis_telemetry::prometheus::SECONDS_BUCKETS.to_vec())
            .build(),
        applies: meter.u64_counter("trellis.manager.applies").with_description("Applications applied to a host, by outcome").with_unit("{apply}").build(),
    }
});

/// One pass done: over every application (`full`) or the changed ones.
pub(crate) fn pass(full: bool, took: Duration) {
    let attributes = [KeyValue::new("trellis.pass", if full { "full" } else { "changed" })];
    INSTRUMENTS.passes.add(1, &attributes);
    INSTRUMENTS.duration.record(took.as_secs_f64(), &attributes);
}

/// One apply to a host finished.
pub(crate) fn applied(ok: bool) {
    INSTRUMENTS.applies.add(1, &[KeyValue::new("trellis.outcome", if ok { "ok" } else { "failed" })]);
}

/// Reports the applications by status while the manager lives.
pub(crate) fn watch_statuses(inner: Weak<Inner>) {
    // Kept by the meter provider for its life; a stopped manager reports nothing.
    let _gauge = trellis_telemetry::meter()
        .u64_observable_gauge("trellis.manager.apps")
        .with_description("Applications by status")
        .with_unit("{application}")
        .with_callback(move |observer| {
            let Some(inner) = inner.upgrade() else { return };
            let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
            for (_, status) in inner.statuses.lock().expect("status map poisoned").values() {
                *counts.entry(status.info.status_type.as_str()).or_default() += 1;
            }
            for (status, n) in counts {
                observer.observe(n, &[KeyValue::new("trellis.app.status", status)]);
            }
        })
        .build();
}
