//! `wasi:logging/logging` for Trellis components, unversioned and at `0.1.0-draft` (the two
//! wasmCloud 1.x links): each call becomes a host `tracing` event at the matching level, on the
//! `guest` target, with the component's id and the guest's context.
//!
//! **Owns** those bindings. **Must not** decide where logs go: that is the host's subscriber.

use std::sync::Arc;

use trellis_runtime::{Grants, InvocationState};
use wasmtime::component::{ComponentType, Lift, Linker};

/// `enum level { trace, debug, info, warn, error, critical }`.
#[derive(ComponentType, Lift, Clone, Copy)]
#[component(enum)]
#[expect(dead_code, reason = "constructed by lifting from the guest, which the lint cannot see")]
#[repr(u8)]
enum Level {
    #[component(name = "trace")]
    Trace,
    #[component(name = "debug")]
    Debug,
    #[component(name = "info")]
    Info,
    #[component(name = "warn")]
    Warn,
    #[component(name = "error")]
    Error,
    #[component(name = "critical")]
    Critical,
}

struct LoggingState {
    component: Arc<str>,
}

const INTERFACES: &[&str] = &["wasi:logging/logging", "wasi:logging/logging@0.1.0-draft"];

/// Adds `wasi:logging` for the component `id` to `linker`.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, id: &str) -> anyhow::Result<()> {
    for name in INTERFACES {
        linker.instance(name)?.func_wrap("log", |mut store, (level, context, message): (Level, String, String)| {
            let (state, _) = store.data_mut().extension::<LoggingState>();
            let component = &*state.component;
            match level {
                Level::Trace => tracing::trace!(target: "guest", component, context, "{message}"),
                Level::Debug => tracing::debug!(target: "guest", component, context, "{message}"),
                Level::Info => tracing::info!(target: "guest", component, context, "{message}"),
                Level::Warn => tracing::warn!(target: "guest", component, context, "{message}"),
                Level::Error => tracing::error!(target: "guest", component, context, "{message}"),
                Level::Critical => tracing::error!(target: "guest", component, context, critical = true, "{message}"),
            }
            Ok(())
        })?;
    }
    grants.interfaces("wasi:logging/");
    let component: Arc<str> = id.into();
    grants.state(move || LoggingState { component: component.clone() });
    Ok(())
}
