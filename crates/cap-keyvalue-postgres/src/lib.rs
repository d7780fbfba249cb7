//! The PostgreSQL backend of `wasi:keyvalue`: `wasmcloud+builtin://keyvalue-postgres`, with the
//! link config of wasmCloud's `sqldb-postgres` provider (`POSTGRES_HOST`, `POSTGRES_PORT`,
//! `POSTGRES_USERNAME`, `POSTGRES_PASSWORD`, `POSTGRES_DATABASE`, `POSTGRES_TLS_REQUIRED`, ...),
//! so a database a component queries through `wasmcloud:postgres` can keep its keys too.
//!
//! **Owns** the table it keeps keys in and the mapping of keyvalue operations onto SQL.
//! **Must not** know components, links or manifests: [`PostgresKvBackend`] is handed the link's
//! config, and connections come from `trellis-cap-postgres`, as the `sqldb-postgres`
//! capability's do.
//!
//! Keys live in one table, `trellis_keyvalue (bucket, key, value)`, created on first use; a
//! bucket a component opens is a namespace, as with the memory and redb backends. Counters are
//! decimal text like every backend's, and an increment is one `INSERT ... ON CONFLICT DO
//! UPDATE`, atomic in the server, so concurrent increments from any number of instances and
//! hosts never lose an update. Watchers are told of writes made through the host they run on.
#![warn(missing_docs)]

use std::sync::Arc;

use trellis_cap_keyvalue::{Store, StoreError};
use trellis_cap_postgres::tokio_postgres::types::ToSql;
use trellis_cap_postgres::{ConnectError, Pool, PostgresConfig, source_chain};
use trellis_capability::{Backend, LinkConfig, OpenError};

/// Keys per `list-keys` page.
const PAGE: i64 = 1000;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS trellis_keyvalue (bucket text NOT NULL, key text NOT NULL, value bytea NOT NULL, PRIMARY KEY (bucket, key))";
const GET: &str = "SELECT value FROM trellis_keyvalue WHERE bucket = $1 AND key = $2";
const SET: &str = "INSERT INTO trellis_keyvalue (bucket, key, value) VALUES ($1, $2, $3) ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM trellis_keyvalue WHERE bucket = $1 AND key = $2";
const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM trellis_keyvalue WHERE bucket = $1 AND key = $2)";
const KEYS: &str = "SELECT key FROM trellis_keyvalue WHERE bucket = $1 ORDER BY key OFFSET $2 LIMIT $3";
/// Adds `$3` (decimal text) to the counter at `key`, absent counting as 0, in one statement.
/// A value that is not a decimal counter fails the cast, and the statement with it.
const INCREMENT: &str = "INSERT INTO trellis_keyvalue AS kv (bucket, key, value) VALUES ($1, $2, convert_to($3::text, 'UTF8')) \
     ON CONFLICT (bucket, key) DO UPDATE SET value = convert_to((btrim(convert_from(kv.value, 'UTF8'))::numeric + $3::text::numeric)::text, 'UTF8') \
     RETURNING convert_from(value, 'UTF8')";
const GET_MANY: &str = "SELECT key, value FROM trellis_keyvalue WHERE bucket = $1 AND key = ANY($2)";
const DELETE_MANY: &str = "DELETE FROM trellis_keyvalue WHERE bucket = $1 AND key = ANY($2)";

/// `wasmcloud+builtin://keyvalue-postgres`.
pub struct PostgresKvBackend;

#[async_trait::async_trait]
impl Backend<dyn Store> for PostgresKvBackend {
    fn names(&self) -> &'static [&'static str] {
        &["keyvalue-postgres"]
    }
    fn describe(&self) -> &'static str {
        "postgres keyvalue backend"
    }
    async fn open(&self, link: &LinkConfig<'_>) -> Result<Arc<dyn Store>, OpenError> {
        let config = PostgresConfig::from_link(|key| link.get(key)).map_err(OpenError::Config)?;
        Ok(Arc::new(PostgresStore::connect(&config).await.map_err(|e| OpenError::Unavailable(e.to_string()))?))
    }
}

/// Keys in one PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    describe: String,
}

impl PostgresStore {
    /// Connects and creates the table if it is not there.
    pub async fn connect(config: &PostgresConfig) -> Result<PostgresStore, ConnectError> {
        let store = PostgresStore { pool: trellis_cap_postgres::pool(config).await?, describe: config.describe() };
        store.execute(CREATE, &[]).await.map_err(|e| ConnectError::Query { at: config.describe(), reason: e.to_string() })?;
        Ok(store)
    }

    fn fail(&self, e: &dyn std::error::Error) -> StoreError {
        StoreError::Other(format!("postgres keyvalue at {}: {}", self.describe, source_chain(e)))
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<trellis_cap_postgres::tokio_postgres::Row>, StoreError> {
        let client = self.pool.get().await.map_err(|e| self.fail(&e))?;
        let statement = client.prepare_cached(sql).await.map_err(|e| self.fail(&e))?;
        client.query(&statement, params).await.map_err(|e| self.fail(&e))
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(|e| self.fail(&e))?;
        let statement = client.prepare_cached(sql).await.map_err(|e| self.fail(&e))?;
        client.execute(&statement, params).await.map_err(|e| self.fail(&e))
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn check(&self) -> Result<(), StoreError> {
        self.query("SELECT 1", &[]).await.map(drop)
    }
    async fn open(&self, _bucket: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.query(GET, &[&bucket, &key]).await?.first().map(|row| row.get(0)))
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.execute(SET, &[&bucket, &key, &value]).await.map(drop)
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.execute(DELETE, &[&bucket, &key]).await.map(drop)
    }
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.query(EXISTS, &[&bucket, &key]).await?.first().is_some_and(|row| row.get(0)))
    }
    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let offset = i64::try_from(cursor.unwrap_or(0)).map_err(|_| StoreError::Other("list-keys: the cursor is out of range".into()))?;
        // One more than a page, to know whether another follows.
        let mut keys: Vec<String> = self.query(KEYS, &[&bucket, &offset, &(PAGE + 1)]).await?.iter().map(|row| row.get(0)).collect();
        let next = (keys.len() as i64 > PAGE).then(|| {
            keys.truncate(PAGE as usize);
            (offset + PAGE) as u64
        });
        Ok((keys, next))
    }
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        let rows = self.query(INCREMENT, &[&bucket, &key, &delta.to_string()]).await.map_err(|e| match e {
            // PostgreSQL's own words for a value that is no number; the key is what a user needs.
            StoreError::Other(text) if text.contains("invalid input syntax for type numeric") => StoreError::Other(format!("value of `{key}` is not a decimal counter")),
            other => other,
        })?;
        let text: String = rows.first().map(|row| row.get(0)).unwrap_or_default();
        text.parse().map_err(|_| StoreError::Other(format!("value of `{key}` is past the counter's range (u64): {text}")))
    }
    async fn get_many(&self, bucket: &str, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>, StoreError> {
        let rows = self.query(GET_MANY, &[&bucket, &keys]).await?;
        let mut found: std::collections::HashMap<String, Vec<u8>> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        Ok(keys.into_iter().map(|key| found.remove(&key).map(|value| (key, value))).collect())
    }
    async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), StoreError> {
        self.execute(DELETE_MANY, &[&bucket, &keys]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use trellis_capability::Place;

    use super::*;

    fn open(pairs: &[(&str, &str)]) -> Result<Arc<dyn Store>, OpenError> {
        let values: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let place = Place { app: "shop", capability: "kv", state_dir: Path::new("/nonexistent"), base_dir: Path::new(".") };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(PostgresKvBackend.open(&LinkConfig::new(&values, place)))
    }

    #[test]
    fn the_link_config_is_sqldb_postgres_and_a_wrong_value_names_its_key() {
        let Err(missing) = open(&[("POSTGRES_USERNAME", "app"), ("POSTGRES_DATABASE", "shop")]) else { panic!("opened without a host") };
        assert_eq!(missing, OpenError::Config("POSTGRES_HOST is missing from the link's config".into()));
        let Err(port) = open(&[("POSTGRES_HOST", "db"), ("POSTGRES_USERNAME", "app"), ("POSTGRES_DATABASE", "shop"), ("postgres_port", "x")]) else {
            panic!("opened with a bad port")
        };
        assert_eq!(port, OpenError::Config("POSTGRES_PORT `x` is not a port number".into()));
    }

    #[test]
    fn a_server_that_is_not_there_is_unavailable_naming_where_without_the_password() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let port = dead.to_string();
        let Err(OpenError::Unavailable(reason)) =
            open(&[("POSTGRES_HOST", "127.0.0.1"), ("POSTGRES_PORT", &port), ("POSTGRES_USERNAME", "app"), ("POSTGRES_PASSWORD", "s3cret"), ("POSTGRES_DATABASE", "shop")])
        else {
            panic!("opened a server that is not there")
        };
        assert!(reason.starts_with(&format!("cannot connect to PostgreSQL at app@127.0.0.1:{dead}/shop")), "{reason}");
        assert!(!reason.contains("s3cret"), "{reason}");
    }
}
