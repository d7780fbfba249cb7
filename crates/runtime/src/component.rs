//! A component ready to run: its `InstancePre`, limits and concurrency cap.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::InstancePre;
use wasmtime::{Store, UpdateDeadline};

use crate::limits::{DeadlineExceeded, InvocationError, Limits};
use crate::state::{Grants, InvocationState};

/// A linked, pre-instantiated component. Cheap to clone.
#[derive(Clone)]
pub struct PreparedComponent {
    inner: Arc<Inner>,
}

struct Inner {
    id: Arc<str>,
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
        let deadline = Instant::now() + limits.max_execution_time;
        let permit = match self.inner.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout_at(deadline.into(), self.inner.permits.clone().acquire_owned())
                .await
                .map_err(|_| InvocationError::Deadline {
                    component: self.id().to_owned(),
                    function: function.clone().into_owned(),
                    limit: limits.max_execution_time,
                })?
                .expect("the semaphore is never closed"),
        };
        let mut store = Store::new(
            self.inner.pre.engine(),
            InvocationState::new(&self.inner.id, limits.max_linear_memory_bytes, &self.inner.grants),
        );
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
        Ok(Invocation {
            store,
            guard: InvocationGuard {
                component: self.inner.id.clone(),
                function,
                limits,
                deadline,
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
pub struct InvocationGuard {
    component: Arc<str>,
    function: Cow<'static, str>,
    limits: Limits,
    deadline: Instant,
    _permit: OwnedSemaphorePermit,
}

impl InvocationGuard {
    /// Runs `fut` (which drives the guest) to completion or to the deadline, whichever is first.
    ///
    /// The epoch callback catches a guest that computes past its deadline; this timeout catches
    /// one that waits past it (on a body, a timer, a host call).
    pub async fn run<R>(&self, fut: impl Future<Output = wasmtime::Result<R>>) -> Result<R, InvocationError> {
        match tokio::time::timeout_at(self.deadline.into(), fut).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(self.deadline_exceeded()),
        }
    }

    /// Names a wasmtime error raised during this invocation.
    pub fn classify(&self, error: &wasmtime::Error) -> InvocationError {
        InvocationError::classify(error, &self.component, &self.function, self.limits)
    }

    /// The error for an invocation that ran out of time.
    pub fn deadline_exceeded(&self) -> InvocationError {
        InvocationError::Deadline {
            component: self.component.to_string(),
            function: self.function.clone().into_owned(),
            limit: self.limits.max_execution_time,
        }
    }

    /// When this invocation must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}
