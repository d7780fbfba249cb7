//! `wasmcloud:postgres@0.1.1-draft` (`query`, `prepared`) for Trellis components, on a real
//! PostgreSQL server: what wasmCloud's `sqldb-postgres` provider serves, with its link config.
//!
//! **Owns** the bindings, the connection pool of each link ([`Database`]), its prepared
//! statements, and the conversion between `pg-value`s and PostgreSQL's wire types.
//! **Must not** know manifests: the host reads the link's config into a [`PostgresConfig`] and
//! hands over one [`Database`] per link name.

mod config;
mod host;
mod numeric;
mod values;

pub use config::PostgresConfig;
pub use host::{Database, grant};
