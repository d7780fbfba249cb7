//! Per-invocation limits and the classification of a failed invocation.

use std::fmt;
use std::time::Duration;

use wasmtime::Trap;

/// Limits applied to every invocation of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline of one invocation, including time spent waiting on host I/O.
    pub max_execution_time: Duration,
    /// Cap on the linear memory of one instance, summed over its memories.
    pub max_linear_memory_bytes: u64,
}

impl Default for Limits {
    /// 60 s and 256 MiB. wasmCloud defaults to 10 minutes; a request that takes a minute is
    /// already a fault in a service, and a tight default keeps a runaway guest from holding a
    /// slot for long. Raise it per component or host-wide when a workload needs it.
    fn default() -> Self {
        Limits { max_execution_time: Duration::from_secs(60), max_linear_memory_bytes: 256 << 20 }
    }
}

impl Limits {
    /// These limits with every field no larger than the host's: the host-wide values are the
    /// ceiling the pool was sized for.
    pub fn capped_by(self, host: Limits) -> Limits {
        Limits {
            max_execution_time: self.max_execution_time.min(host.max_execution_time),
            max_linear_memory_bytes: self.max_linear_memory_bytes.min(host.max_linear_memory_bytes),
        }
    }
}

/// The store's resource limiter: caps the instance's total linear memory.
pub(crate) struct MemoryLimiter {
    pub(crate) cap: u64,
    used: u64,
}

impl MemoryLimiter {
    pub(crate) fn new(cap: u64) -> MemoryLimiter {
        MemoryLimiter { cap, used: 0 }
    }
}

/// Raised (as a trap) when a guest grows memory past its cap, so the failure can be named.
#[derive(Debug)]
pub(crate) struct MemoryCapExceeded {
    pub(crate) cap: u64,
}

impl fmt::Display for MemoryCapExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linear memory would exceed the cap of {} bytes", self.cap)
    }
}

impl std::error::Error for MemoryCapExceeded {}

/// Raised from the epoch callback when the invocation's deadline has passed.
#[derive(Debug)]
pub(crate) struct DeadlineExceeded;

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("execution deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.used + grow > self.cap {
            // An error, not `Ok(false)`: the guest traps right here with a cause we can name,
            // instead of an allocator abort somewhere later that looks like any other bug.
            return Err(MemoryCapExceeded { cap: self.cap }.into());
        }
        self.used += grow;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        Ok(())
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// What kind of failure ended an invocation; front ends map it to their own status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The guest trapped (panic, `unreachable`, bad memory access, ...).
    Trap,
    /// The invocation ran past its deadline.
    Deadline,
    /// The instance tried to grow memory past its cap.
    Memory,
    /// The guest overflowed its wasm stack.
    StackOverflow,
    /// The host could not set the instance up.
    Instantiation,
}

/// A failed invocation, naming the component, the function and (for limits) the limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvocationError {
    /// The guest trapped.
    #[error("component `{component}` trapped in {function}: {message}")]
    Trap {
        /// Component id.
        component: String,
        /// Export that was called.
        function: String,
        /// The trap and its wasm backtrace.
        message: String,
    },
    /// The deadline passed.
    #[error("component `{component}` exceeded its execution time limit of {} ms in {function} (max_execution_time_ms)", limit.as_millis())]
    Deadline {
        /// Component id.
        component: String,
        /// Export that was called.
        function: String,
        /// The deadline that was exceeded.
        limit: Duration,
    },
    /// The memory cap was hit.
    #[error("component `{component}` exceeded its memory limit of {limit} bytes in {function} (max_linear_memory_bytes)")]
    Memory {
        /// Component id.
        component: String,
        /// Export that was called.
        function: String,
        /// The cap that was exceeded.
        limit: u64,
    },
    /// The wasm stack overflowed.
    #[error("component `{component}` overflowed its stack in {function} (max_wasm_stack)")]
    StackOverflow {
        /// Component id.
        component: String,
        /// Export that was called.
        function: String,
    },
    /// Instantiation failed.
    #[error("component `{component}` could not be instantiated for {function}: {message}")]
    Instantiation {
        /// Component id.
        component: String,
        /// Export that was to be called.
        function: String,
        /// Why.
        message: String,
    },
}

impl InvocationError {
    /// The kind of failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            InvocationError::Trap { .. } => FailureKind::Trap,
            InvocationError::Deadline { .. } => FailureKind::Deadline,
            InvocationError::Memory { .. } => FailureKind::Memory,
            InvocationError::StackOverflow { .. } => FailureKind::StackOverflow,
            InvocationError::Instantiation { .. } => FailureKind::Instantiation,
        }
    }

    /// Classifies a wasmtime error raised while running `function` of `component`.
    pub(crate) fn classify(error: &wasmtime::Error, component: &str, function: &str, limits: Limits) -> Self {
        let (component, function) = (component.to_owned(), function.to_owned());
        if error.is::<DeadlineExceeded>() || matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return InvocationError::Deadline { component, function, limit: limits.max_execution_time };
        }
        if let Some(cap) = error.downcast_ref::<MemoryCapExceeded>() {
            return InvocationError::Memory { component, function, limit: cap.cap };
        }
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::StackOverflow)) {
            return InvocationError::StackOverflow { component, function };
        }
        // The trap itself, not the backtrace: this text reaches the client. The backtrace is
        // logged where the failure is reported.
        let message = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => error.chain().last().map_or_else(|| error.to_string(), ToString::to_string),
        };
        tracing::debug!(component, function, "{error:?}");
        InvocationError::Trap { component, function, message }
    }
}
