//! The `wasmcloud:postgres` host functions: each link's pool does the work.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
use trellis_runtime::{Grants, HasView, InvocationState};
use wasmtime::component::Linker;

use crate::config::{PostgresConfig, Tls};
use crate::values::{self, Param};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:postgres/host",
        imports: { default: async },
    });
}

pub(crate) use generated::wasmcloud::postgres::types;
use generated::wasmcloud::postgres::{prepared, query};
use types::{PgValue, PreparedStatementExecError, QueryError, ResultRowEntry, StatementPrepareError};

/// A link's database: a pool of connections, and the statements prepared through the link.
pub struct Database {
    pool: Pool,
    /// The link's prepared statements, so another component cannot use its tokens.
    statements: Mutex<Statements>,
    describe: String,
}

/// TLS that checks the server's certificate (and name) against the system's roots and
/// `extra_roots_pem`.
fn client_tls(extra_roots_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped: the ones that load still serve.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = extra_roots_pem {
        let extra = rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| format!("POSTGRES_TLS_CA: {e}"))?;
        if extra.is_empty() {
            return Err("POSTGRES_TLS_CA holds no PEM certificate".into());
        }
        for cert in extra {
            roots.add(cert).map_err(|e| format!("POSTGRES_TLS_CA: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Why a PostgreSQL server cannot be used. Each names the server (`user@host:port/database`).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TLS settings (`POSTGRES_TLS_CA`) make no TLS configuration, or the pool none.
    #[error("postgres {at}: {reason}")]
    Setup {
        /// The server.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// No connection: the server is down, the address wrong, the password or certificate refused.
    #[error("cannot connect to PostgreSQL at {at}: {reason}")]
    Connect {
        /// The server.
        at: String,
        /// The cause, with its sources.
        reason: String,
    },
    /// Connected, but a query the capability itself needs failed (a health check).
    #[error("PostgreSQL at {at}: {reason}")]
    Query {
        /// The server.
        at: String,
        /// The cause, with its sources.
        reason: String,
    },
}

/// A pool of connections to the server `config` names, one of them checked, so a wrong host
/// or password fails at once: what every capability on PostgreSQL connects through.
pub async fn pool(config: &PostgresConfig) -> Result<Pool, ConnectError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host).port(config.port).user(&config.username).password(&config.password).dbname(&config.database);
    pg.application_name("trellis");
    let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let manager = match &config.tls {
        Tls::Off => Manager::from_config(pg, NoTls, recycling),
        Tls::Required { extra_roots_pem } => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = client_tls(extra_roots_pem.as_deref()).map_err(|reason| ConnectError::Setup { at: config.describe(), reason })?;
            Manager::from_config(pg, tokio_postgres_rustls::MakeRustlsConnect::new(tls), recycling)
        }
    };
    let pool = Pool::builder(manager)
        .max_size(config.pool_size)
        .build()
        .map_err(|e| ConnectError::Setup { at: config.describe(), reason: e.to_string() })?;
    drop(pool.get().await.map_err(|e| ConnectError::Connect { at: config.describe(), reason: source_chain(&e) })?);
    Ok(pool)
}

impl Database {
    /// Opens the pool and checks one connection, so a wrong host or password fails the deploy.
    pub async fn connect(config: &PostgresConfig) -> Result<Arc<Database>, ConnectError> {
        let pool = pool(config).await?;
        Ok(Arc::new(Database { pool, statements: Mutex::new(Statements::default()), describe: config.describe() }))
    }

    /// Whether the server answers a query, for the host's health checks.
    pub async fn check(&self) -> Result<(), ConnectError> {
        let client = self.pool.get().await.map_err(|e| ConnectError::Connect { at: self.describe.clone(), reason: source_chain(&e) })?;
        client.simple_query("SELECT 1").await.map(drop).map_err(|e| ConnectError::Query { at: self.describe.clone(), reason: source_chain(&e) })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        self.pool.get().await.map_err(|e| format!("no connection to PostgreSQL at {}: {}", self.describe, source_chain(&e)))
    }

    async fn query(&self, sql: &str, params: Vec<PgValue>) -> Result<Vec<Vec<ResultRowEntry>>, QueryError> {
        let client = self.client().await.map_err(QueryError::Unexpected)?;
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        let params = checked(statement.params().len(), params)?;
        let rows = client.query(&statement, &refs(&params)).await.map_err(classify)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| Ok(ResultRowEntry { column_name: row.columns()[i].name().to_owned(), value: values::column(row, i)? }))
                    .collect::<Result<Vec<_>, String>>()
            })
            .collect::<Result<_, _>>()
            .map_err(QueryError::Unexpected)
    }

    async fn batch(&self, sql: &str) -> Result<(), QueryError> {
        self.client().await.map_err(QueryError::Unexpected)?.batch_execute(sql).await.map_err(classify)
    }

    async fn prepare(&self, sql: String) -> Result<String, StatementPrepareError> {
        let client = self.client().await.map_err(StatementPrepareError::Unexpected)?;
        // Checked now, so a bad statement fails here rather than at its first use.
        client.prepare_cached(&sql).await.map_err(|e| StatementPrepareError::Unexpected(describe_error(&e)))?;
        Ok(self.statements.lock().expect("never held across a panic").token(sql))
    }

    async fn exec(&self, token: &str, params: Vec<PgValue>) -> Result<u64, PreparedStatementExecError> {
        let sql = self.statements.lock().expect("never held across a panic").by_token.get(token).cloned();
        let sql = sql.ok_or(PreparedStatementExecError::UnknownPreparedQuery)?;
        let client = self.client().await.map_err(PreparedStatementExecError::Unexpected)?;
        // Cached per connection: the pool may hand out another one than `prepare` used.
        let statement = client.prepare_cached(&sql).await.map_err(|e| PreparedStatementExecError::QueryError(classify(e)))?;
        let params = checked(statement.params().len(), params).map_err(PreparedStatementExecError::QueryError)?;
        client.execute(&statement, &refs(&params)).await.map_err(|e| PreparedStatementExecError::QueryError(classify(e)))
    }
}

/// Prepared statements by token, one token per distinct SQL text: a guest that prepares the
/// same statement on every request reuses its token instead of growing the table.
#[derive(Default)]
struct Statements {
    by_token: HashMap<String, String>,
    by_sql: HashMap<String, String>,
}

impl Statements {
    fn token(&mut self, sql: String) -> String {
        if let Some(token) = self.by_sql.get(&sql) {
            return token.clone();
        }
        let token = ulid::Ulid::new().to_string();
        self.by_token.insert(token.clone(), sql.clone());
        self.by_sql.insert(sql, token.clone());
        token
    }
}

fn checked(expected: usize, params: Vec<PgValue>) -> Result<Vec<Param>, QueryError> {
    if params.len() != expected {
        return Err(QueryError::InvalidParams(format!("the statement takes {expected} parameters, {} were given", params.len())));
    }
    Ok(params.into_iter().map(Param).collect())
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// An error and its causes on one line: the pool's and the driver's errors nest the reason.
pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
        source = cause.source();
    }
    text
}

fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => source_chain(e),
    }
}

/// The server's refusal of the SQL is `invalid-query`; a parameter that cannot be sent is
/// `invalid-params`; anything else (a lost connection) is `unexpected`.
fn classify(e: tokio_postgres::Error) -> QueryError {
    let text = describe_error(&e);
    if e.as_db_error().is_some() {
        QueryError::InvalidQuery(text)
    } else if text.starts_with("error serializing parameter") {
        QueryError::InvalidParams(text)
    } else {
        QueryError::Unexpected(text)
    }
}

/// The per-invocation state: each link name's database.
struct PostgresState {
    databases: Arc<BTreeMap<String, Arc<Database>>>,
}

type View<'a> = trellis_runtime::View<'a, PostgresState>;

/// The database a call reaches.
trait Databases {
    /// The database of the link `interface` uses now (`set-link-name`, or `default`).
    fn database(&self, interface: &str) -> Result<Arc<Database>, String>;
}

impl Databases for View<'_> {
    fn database(&self, interface: &str) -> Result<Arc<Database>, String> {
        let link = self.links.name(interface);
        self.state.databases.get(link).cloned().ok_or_else(|| format!("no wasmcloud:postgres link named `{link}`"))
    }
}

const QUERY: &str = "wasmcloud:postgres/query";
const PREPARED: &str = "wasmcloud:postgres/prepared";

impl types::Host for View<'_> {}

impl query::Host for View<'_> {
    async fn query(&mut self, sql: String, params: Vec<PgValue>) -> Result<Vec<Vec<ResultRowEntry>>, QueryError> {
        self.database(QUERY).map_err(QueryError::Unexpected)?.query(&sql, params).await
    }

    async fn query_batch(&mut self, sql: String) -> Result<(), QueryError> {
        self.database(QUERY).map_err(QueryError::Unexpected)?.batch(&sql).await
    }
}

impl prepared::Host for View<'_> {
    async fn prepare(&mut self, statement: String) -> Result<String, StatementPrepareError> {
        self.database(PREPARED).map_err(StatementPrepareError::Unexpected)?.prepare(statement).await
    }

    async fn exec(&mut self, token: String, params: Vec<PgValue>) -> Result<u64, PreparedStatementExecError> {
        self.database(PREPARED).map_err(PreparedStatementExecError::Unexpected)?.exec(&token, params).await
    }
}

/// Adds `wasmcloud:postgres/{query,prepared}@0.1.1-draft` to `linker`, each link name reaching
/// its own database.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, databases: BTreeMap<String, Arc<Database>>) -> anyhow::Result<()> {
    types::add_to_linker::<_, HasView<PostgresState>>(linker, View::of)?;
    query::add_to_linker::<_, HasView<PostgresState>>(linker, View::of)?;
    prepared::add_to_linker::<_, HasView<PostgresState>>(linker, View::of)?;
    grants.interfaces("wasmcloud:postgres/");
    let databases = Arc::new(databases);
    grants.state(move || PostgresState { databases: databases.clone() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparing_the_same_statement_again_reuses_its_token() {
        let mut statements = Statements::default();
        let first = statements.token("SELECT 1".into());
        assert_eq!(statements.token("SELECT 1".into()), first);
        assert_ne!(statements.token("SELECT 2".into()), first);
        assert_eq!(statements.by_token.len(), 2);
    }
}
