//! Calls from one component to another: the imports a component's links bind to another
//! component, and the exports it serves to callers on other hosts.
//!
//! **Owns** how a call reaches its target: in-process when the target runs in this process (a
//! fresh instance from its `InstancePre`, no encoding), otherwise wRPC over NATS to the queue
//! group `<lattice>.<target id>` that every host running the target joins (so they share the
//! load and a caller survives the loss of one); how component values are encoded on the wire
//! ([`codec`]); serving a component's exports to such callers; and `trellis call`'s JSON
//! requests on `trellis.call.v1.<lattice>.<component id>`.
//!
//! **Must not** read manifests or decide which link a component has (the host resolves links
//! to target ids and hands them over as [`ImportLinks`]), or configure wasmtime (the runtime's
//! job).
//!
//! Start at [`Calls`].
#![warn(missing_docs)]

pub mod codec;
mod json;
mod link;
mod local;
mod serve;
mod wrpc;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use trellis_lattice::Lattice;
use trellis_runtime::PreparedComponent;

pub use json::CallRequest;
pub use serve::{Invocations, answer_all};
pub use wrpc::{CallContext, Wrpc, caller};

/// The targets of a component's links to other components: interface (`ns:pkg/iface`, no
/// version) → link name → target component id.
pub type ImportLinks = BTreeMap<String, BTreeMap<String, String>>;

/// How the components of this process reach each other and the rest of the lattice. Cheap to
/// clone; one per process.
#[derive(Clone)]
pub struct Calls {
    inner: Arc<Inner>,
}

struct Inner {
    /// Components running in this process, by id; the newest first serves in-process calls.
    local: RwLock<HashMap<Arc<str>, Vec<PreparedComponent>>>,
    /// The NATS side, when this process is joined to a lattice over NATS.
    wrpc: Option<Wrpc>,
    /// Where `trellis call` requests arrive, and the lattice's name.
    lattice: Option<(Arc<dyn Lattice>, String)>,
}

impl Calls {
    /// Calls that stay in this process: a target that does not run here fails, naming it.
    pub fn in_process() -> Calls {
        Calls { inner: Arc::new(Inner { local: RwLock::default(), wrpc: None, lattice: None }) }
    }

    /// Calls that reach targets on other hosts of lattice `name` with `wrpc`, and answer
    /// `trellis call` requests arriving on `lattice`.
    pub fn joined(lattice: Arc<dyn Lattice>, name: &str, wrpc: Option<Wrpc>) -> Calls {
        Calls { inner: Arc::new(Inner { local: RwLock::default(), wrpc, lattice: Some((lattice, name.to_owned())) }) }
    }

    /// Component `id`, if it runs in this process (on any of its hosts).
    pub fn running_here(&self, id: &str) -> Option<PreparedComponent> {
        self.local(id)
    }

    /// A wRPC client for component `id`'s subjects (`<lattice>.<id>`), when this process is
    /// joined to a NATS lattice: calls on it reach whichever host runs `id`, and serving on it
    /// joins the queue group of every host that does.
    pub async fn wrpc_client(&self, id: &str) -> Option<anyhow::Result<wrpc_transport_nats::Client>> {
        let wrpc = self.inner.wrpc.as_ref()?;
        Some(wrpc.client(id).await)
    }

    /// A running instance of component `id` in this process, if any.
    fn local(&self, id: &str) -> Option<PreparedComponent> {
        self.inner.local.read().expect("never poisoned").get(id).and_then(|v| v.last().cloned())
    }

    fn register(&self, component: &PreparedComponent) -> Registration {
        let id: Arc<str> = component.id().into();
        self.inner.local.write().expect("never poisoned").entry(id.clone()).or_default().push(component.clone());
        Registration { calls: self.clone(), component: component.clone() }
    }
}

/// Keeps a component reachable in-process until dropped (when its deployment stops).
struct Registration {
    calls: Calls,
    component: PreparedComponent,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut local = self.calls.inner.local.write().expect("never poisoned");
        if let Some(list) = local.get_mut(self.component.id()) {
            list.retain(|c| !c.same_as(&self.component));
            if list.is_empty() {
                local.remove(self.component.id());
            }
        }
    }
}

/// Why a call between components failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The target runs nowhere this process can reach.
    #[error("component `{target}` is not running{where_}")]
    NotRunning {
        /// The target's id.
        target: String,
        /// Where it was looked for.
        where_: &'static str,
    },
    /// The target does not export the function.
    #[error("component `{target}` does not export `{function}`")]
    NoSuchFunction {
        /// The target's id.
        target: String,
        /// `instance.func` (or `func` for a root export).
        function: String,
    },
    /// The target failed or broke off the call.
    #[error("{0}")]
    Failed(String),
}
