//! The Trellis WebAssembly runtime: one wasmtime [`Engine`](wasmtime::Engine) per process, the
//! compiled-artifact cache, per-component [`InstancePre`](wasmtime::component::InstancePre)s and
//! the per-invocation [`Store`](wasmtime::Store)s they are instantiated into, under limits.
//!
//! **Owns** how a component runs: engine configuration (pooling allocator with an on-demand
//! fallback), one epoch ticker thread, compilation and its on-disk cache keyed by the
//! component's sha256 and the engine's configuration, the WASI context a guest gets (no
//! environment, no preopened directories, no sockets, outbound HTTP denied), and how a failed
//! invocation is classified (trap, deadline, memory cap, stack overflow).
//!
//! **Must not** know about NATS, manifests or HTTP listeners. Capabilities add their interfaces
//! to the [`Linker`](wasmtime::component::Linker) through [`Runtime::linker`]; the HTTP server
//! drives invocations through [`PreparedComponent`].
//!
//! Start at [`Runtime::new`], then [`Runtime::prepare`].
//!
//! ## Why an instance per invocation
//! Instantiating from an `InstancePre` on the pooling allocator costs microseconds, and a fresh
//! store means no state leaks between requests and a fault poisons nothing. `instances` in a
//! manifest is therefore a concurrency cap (a semaphore), as in wasmCloud 1.x, not a pool of
//! warm instances.
#![warn(missing_docs)]

mod cache;
mod component;
mod engine;
mod imports;
mod limits;
mod state;
mod telemetry;
mod view;

pub use cache::LoadedFrom;
pub use component::{Invocation, PreparedComponent};
pub use engine::{Allocation, Runtime, RuntimeConfig};
pub use limits::{FailureKind, InvocationError, Limits};
pub use state::{Adapter, Grants, InvocationState, Links, OutboundHttp, StateFactory};
pub use view::{HasView, View};

/// Re-exported so dependants use the same wasmtime as this crate.
pub use wasmtime;
/// Re-exported so dependants use the same wasmtime-wasi-http as this crate.
pub use wasmtime_wasi_http;
