//! `wasi:keyvalue` (`store`, `atomics`, `batch` @0.2.0-draft, and the exported `watcher`) for
//! Trellis components.
//!
//! **Owns** the bindings, the [`Store`] trait every backend implements, and the backends
//! without heavy dependencies: in-memory ([`MemoryStore`]) and a redb file ([`RedbStore`], the
//! embedded default). Backends with their own clients (Redis, NATS) live in crates of their own
//! and implement [`Store`].
//!
//! **Must not** know which component asked or how backends are chosen: the host decides from
//! the component's link which [`Store`] it reaches ([`grant`]), and that link is the only way a
//! component reaches any store.
//!
//! ## Semantics shared by every backend
//! - Counters (`atomics.increment`) are stored as decimal text, as Redis' `INCRBY` does, so the
//!   same component keeps working when its backend is swapped.
//! - `list-keys` pages by an opaque cursor.
//! - A backend failure becomes `error::other` with the backend named; it never traps the guest.
#![warn(missing_docs)]

mod backend;
mod backends;
mod host;
mod memory;
mod redb_store;
mod watch;

pub use backend::{KeyChange, Store, StoreError};
pub use backends::{MemoryBackend, RedbBackend};
pub use memory::MemoryStore;
pub use redb_store::RedbStore;
pub use watch::{KeyFilter, Watched, Watcher, watch};

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_runtime::{Grants, InvocationState};
use wasmtime::component::Linker;

/// Adds `wasi:keyvalue` to `linker`, backed by one store per link name, and records the grant.
/// As on wasmCloud, `store.open` only names a bucket; each operation then uses the store of
/// the link currently selected for its interface (`wasi:keyvalue/store`, `/atomics` or
/// `/batch`; `default` unless the guest called `wasmcloud:bus/lattice.set-link-name`).
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, stores: BTreeMap<String, Arc<dyn Store>>) -> anyhow::Result<()> {
    host::add_to_linker(linker)?;
    grants.interfaces("wasi:keyvalue/");
    let stores = Arc::new(stores);
    grants.state(move || host::KeyValueState { stores: stores.clone() });
    Ok(())
}
