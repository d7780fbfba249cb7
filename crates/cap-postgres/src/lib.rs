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
pub use deadpool_postgres::Pool;
pub use host::{ConnectError, Database, grant, pool, source_chain};
/// The PostgreSQL client, for capabilities that query through a [`Pool`].
pub use tokio_postgres;

/// `ghcr.io/wasmcloud/sqldb-postgres` (or `wasmcloud+builtin://sqldb-postgres`), with the
/// provider's link config ([`PostgresConfig`]).
pub struct PostgresBackend;

#[async_trait::async_trait]
impl trellis_capability::Backend<Database> for PostgresBackend {
    fn names(&self) -> &'static [&'static str] {
        &["sqldb-postgres"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/sqldb-postgres")
    }
    fn describe(&self) -> &'static str {
        "postgres backend"
    }
    async fn open(&self, link: &trellis_capability::LinkConfig<'_>) -> Result<std::sync::Arc<Database>, trellis_capability::OpenError> {
        let config = PostgresConfig::from_link(|key| link.get(key)).map_err(trellis_capability::OpenError::Config)?;
        Database::connect(&config).await.map_err(|e| trellis_capability::OpenError::Unavailable(e.to_string()))
    }
}

