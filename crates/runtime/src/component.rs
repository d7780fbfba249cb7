//! A component ready to run: its `InstancePre`, limits and concurrency cap.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use opentelemetry::KeyValue;
use tracing::Instrument as _;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::InstancePre;
use wasmtime::{Store, UpdateDeadline};

use crate::limits::{DeadlineExceeded, FailureKind, InvocationError, Limits};
use crate::state::{Grants, InvocationState};
use crate::telemetry::{self, INSTRUMENTS};

/// A linked, pre-instantiated component. Cheap to clone.
#[derive(Clone)]
pub struct PreparedComponent {
    inner: Arc<Inner>,
}

struct Inner {
    id: Arc<str>,
    /// `trellis.component.id`, made once.
    id_attribute: KeyValue,
    pre: InstancePre<InvocationState>,
    limits: Limits,
    permits: Arc<Semaphore>,
    max_concurrency: u32,
    grants: Grants,
}

impl PreparedComponent {
    pub(crate) fn new(
        id: &str,
        pre: InstancePre<InvocationState>,
        limits: Limits,
        max_concurrency: u32,
        grants: Grants,
    ) -> PreparedComponent {
        let max_concurrency = max_concurrency.max(1);
        PreparedComponent {
            inner: Arc::new(Inner {
                id: id.into(),
                id_attribute: KeyValue::new(telemetry::COMPONENT, opentelemetry::StringValue::from(Arc::<str>::from(id))),
                pre,
                limits,
                permits: Arc::new(Semaphore::new(max_concurrency as usize)),
                max_concurrency,
                grants,
            }),
        }
    }

    /// Whether `other` is this very preparation (not merely one of the same component).
    pub fn same_as(&self, other: &PreparedComponent) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The pre-instantiated component, for typed export bindings (e.g. `ProxyPre::new`).
    pub fn instance_pre(&self) -> &InstancePre<InvocationState> {
        &self.inner.pre
    }

    /// The limits its invocations run under.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Maximum concurrent invocations (the manifest's `instances`).
    pub fn max_concurrency(&self) -> u32 {
        self.inner.max_concurrency
    }

    /// Starts an invocation of `function`: waits for a concurrency slot (within the deadline)
    /// and makes a fresh store with the component's limits.
    pub async fn begin(&self, function: impl Into<Cow<'static, str>>) -> Result<Invocation, InvocationError> {
        let function = function.into();
        let limits = self.inner.limits;
        let started = Instant::now();
        let deadline = started + limits.max_execution_time;
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match tokio::time::timeout_at(deadline.into(), self.inner.permits.clone().acquire_owned()).await {
                Ok(permit) => permit.expect("the semaphore is never closed"),
                Err(_) => {
                    let function_attribute = KeyValue::new(telemetry::FUNCTION, opentelemetry::StringValue::from(function.clone()));
                    telemetry::finished(&self.inner.id_attribute, &function_attribute, Some(FailureKind::Deadline), started.elapsed().as_secs_f64());
                    return Err(InvocationError::Deadline {
                        component: self.id().to_owned(),
                        function: function.into_owned(),
                        limit: limits.max_execution_time,
                    });
                }
            },
        };
        let span = tracing::info_span!(
            target: trellis_telemetry::SPANS,
            "invoke",
            otel.name = %format_args!("{} {}", self.inner.id, function),
            trellis.component.id = %self.inner.id,
            trellis.function = %function,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let mut store = Store::new(self.inner.pre.engine(), InvocationState::new(&self.inner.id, limits.max_linear_memory_bytes, &self.inner.grants, &span));
        store.limiter(|s| &mut s.limiter);
        // Every epoch tick the guest yields to the executor, so a busy guest shares its thread;
        // past the deadline it traps.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        INSTRUMENTS.active.add(1, std::slice::from_ref(&self.inner.id_attribute));
        Ok(Invocation {
            store,
            guard: InvocationGuard {
                component: self.inner.id.clone(),
                component_attribute: self.inner.id_attribute.clone(),
                function_attribute: KeyValue::new(telemetry::FUNCTION, opentelemetry::StringValue::from(function.clone())),
                function,
                limits,
                started,
                deadline,
                failure: AtomicU8::new(0),
                span,
                _permit: permit,
            },
        })
    }
}

/// A started invocation: the store to run the guest in, and the guard that enforces its limits.
pub struct Invocation {
    /// The fresh store for this invocation.
    pub store: Store<InvocationState>,
    /// Holds the concurrency slot until dropped; classifies failures.
    pub guard: InvocationGuard,
}

/// Enforces the deadline around the guest's future and names failures.
///
/// It is also the invocation's telemetry: its span (the parent of what the guest does and of the
/// lines it logs) ends, and its outcome and duration are counted, when the guard is dropped.
pub struct InvocationGuard {
    component: Arc<str>,
    component_attribute: KeyValue,
    function: Cow<'static, str>,
    function_attribute: KeyValue,
    limits: Limits,
    started: Instant,
    deadline: Instant,
    /// The first failure seen, as [`FailureKind::to_code`]; 0 while none.
    failure: AtomicU8,
    span: tracing::Span,
    _permit: OwnedSemaphorePermit,
}

impl InvocationGuard {
    /// Runs `fut` (which drives the guest) to completion or to the deadline, whichever is first.
    ///
    /// The epoch callback catches a guest that computes past its deadline; this timeout catches
    /// one that waits past it (on a body, a timer, a host call).
    pub async fn run<R>(&self, fut: impl Future<Output = wasmtime::Result<R>>) -> Result<R, InvocationError> {
        match tokio::time::timeout_at(self.deadline.into(), fut).instrument(self.span.clone()).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(self.deadline_exceeded()),
        }
    }

    /// Names a wasmtime error raised during this invocation (and counts the invocation failed).
    pub fn classify(&self, error: &wasmtime::Error) -> InvocationError {
        self.failed(InvocationError::classify(error, &self.component, &self.function, self.limits))
    }

    /// The error for an invocation that ran out of time (and counts the invocation failed).
    pub fn deadline_exceeded(&self) -> InvocationError {
        self.failed(InvocationError::Deadline {
            component: self.component.to_string(),
            function: self.function.clone().into_owned(),
            limit: self.limits.max_execution_time,
        })
    }

    fn failed(&self, error: InvocationError) -> InvocationError {
        let _ = self.failure.compare_exchange(0, error.kind().to_code(), Ordering::Relaxed, Ordering::Relaxed);
        error
    }

    /// The invocation's span: a future the guest's work runs in outside [`InvocationGuard::run`]
    /// (a body still streaming) belongs in it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// When this invocation must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Drop for InvocationGuard {
    fn drop(&mut self) {
        let failure = FailureKind::from_code(self.failure.load(Ordering::Relaxed));
        telemetry::finished(&self.component_attribute, &self.function_attribute, failure, self.started.elapsed().as_secs_f64());
        INSTRUMENTS.active.add(-1, std::slice::from_ref(&self.component_attribute));
        if let Some(kind) = failure {
            self.span.record("error.type", kind.as_str());
            self.span.record("otel.status_code", "ERROR");
        }
    }
}
