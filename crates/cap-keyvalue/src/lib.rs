//! `wasi:keyvalue` (`store`, `atomics`, `batch` @0.2.0-draft) for Trellis components.
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
mod host;
mod memory;
mod redb_store;

pub use backend::{Store, StoreError};
pub use memory::MemoryStore;
pub use redb_store::RedbStore;

use std::sync::Arc;

use wasmtime::component::Linker;
use trellis_runtime::{Grants, InvocationState};

/// Adds `wasi:keyvalue` to `linker`, backed by `store`, and records the grant.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, store: Arc<dyn Store>) -> anyhow::Result<()> {
    host::add_to_linker(linker)?;
    grants.interfaces("wasi:keyvalue/");
    grants.state(move || host::KeyValueState { store: store.clone() });
    Ok(())
}
