//! The Redis backend of `wasi:keyvalue`: what `ghcr.io/wasmcloud/keyvalue-redis` provides in
//! wasmCloud, with its link configuration (`URL`).
//!
//! **Owns** the Redis client and the mapping of keyvalue operations onto Redis commands.
//! **Must not** know components, links or manifests: the host hands it a URL.
//!
//! Like wasmCloud's provider, keys are used as they are: the bucket name a component opens does
//! not prefix them, so data written through wasmCloud is read back unchanged. Counters use
//! `INCRBY`, so their values are decimal text, as with every Trellis backend.
//!
//! Watchers hear of every writer's changes through Redis keyspace notifications, as with
//! wasmCloud's provider: the first watcher turns on `notify-keyspace-events` (`K$g`, keyspace
//! events of string and generic commands) when the server has it off.

use std::time::Duration;

use futures::StreamExt as _;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use trellis_cap_keyvalue::{KeyChange, Store, StoreError};

/// How long a deploy waits for Redis to answer before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys per `list-keys` page (a `SCAN` hint).
const SCAN_COUNT: usize = 1000;

/// A connection (reconnecting on failure) to one Redis server.
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    /// For errors: the URL without its password.
    url: String,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`) and checks the server answers.
    pub async fn connect(url: &str) -> anyhow::Result<RedisStore> {
        let shown = trellis_types::redact::url(url);
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("`{shown}` is not a Redis URL: {e}"))?;
        let unreachable = |why: String| anyhow::anyhow!("cannot connect to Redis at `{shown}`: {why}");
        // One plain connection first: it fails at once on a refused connection, where the
        // reconnecting manager below would keep retrying until the timeout.
        let mut probe = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _: String = redis::cmd("PING").query_async(&mut probe).await.map_err(|e| unreachable(format!("PING failed: {e}")))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, ConnectionManager::new(client.clone()))
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(RedisStore { client, conn, url: shown.into_owned() })
    }

    /// Makes the server publish keyspace events of string and generic commands, keeping the
    /// classes it already publishes.
    async fn enable_keyspace_events(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let (_, current): (String, String) = redis::cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query_async(&mut conn).await.map_err(|e| self.fail(e))?;
        let has = |c: char| current.contains(c);
        if has('K') && (has('A') || (has('$') && has('g'))) {
            return Ok(());
        }
        let wanted: String = current.chars().chain("K$g".chars()).fold(String::new(), |mut out, c| {
            if !out.contains(c) {
                out.push(c);
            }
            out
        });
        redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg(&wanted).query_async::<()>(&mut conn).await.map_err(|e| {
            StoreError::Other(format!(
                "redis keyvalue store {}: watchers need keyspace notifications, and the server refused to turn them on ({e}); \
                 set `notify-keyspace-events K$g` in its configuration",
                self.url
            ))
        })
    }

    fn fail(&self, e: redis::RedisError) -> StoreError {
        StoreError::Other(format!("redis keyvalue store {}: {e}", self.url))
    }
}

/// What a keyspace event on a key means for a watcher: a set (read the value), a delete, or
/// nothing it reports (an expiry being set, say).
enum Event {
    Set,
    Delete,
}

fn event(name: &str) -> Option<Event> {
    match name {
        "set" | "setrange" | "append" | "incrby" | "incrbyfloat" | "decrby" | "getset" | "getex" | "copy_to" | "rename_to" | "restore" => Some(Event::Set),
        "del" | "expired" | "evicted" | "rename_from" | "getdel" => Some(Event::Delete),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        self.enable_keyspace_events().await?;
        let db = self.client.get_connection_info().redis_settings().db();
        let prefix = format!("__keyspace@{db}__:");
        let mut pubsub = self.client.get_async_pubsub().await.map_err(|e| self.fail(e))?;
        pubsub.psubscribe(format!("{prefix}*")).await.map_err(|e| self.fail(e))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        let (mut conn, url) = (self.conn.clone(), self.url.clone());
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            // Until the watcher goes (its receiver dropped), not only until the next event.
            while let Some(message) = tokio::select! { m = messages.next() => m, () = sender.closed() => None } {
                let Some(key) = message.get_channel_name().strip_prefix(&prefix) else { continue };
                let Ok(name) = message.get_payload::<String>() else { continue };
                let value = match event(&name) {
                    // Read after the event: a later write may already have replaced it, and
                    // that write's own event follows.
                    Some(Event::Set) => match conn.get::<_, Option<Vec<u8>>>(key).await {
                        Ok(Some(value)) => Some(value),
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(%url, key, "reading a changed key for its watchers: {e}");
                            continue;
                        }
                    },
                    Some(Event::Delete) => None,
                    None => continue,
                };
                if sender.send(KeyChange { bucket: String::new(), key: key.to_owned(), value }).await.is_err() {
                    break;
                }
            }
        });
        Ok(Some(receiver))
    }
    async fn check(&self) -> Result<(), StoreError> {
        redis::cmd("PING").query_async::<String>(&mut self.conn.clone()).await.map(drop).map_err(|e| self.fail(e))
    }
    async fn open(&self, _bucket: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn.clone().get(key).await.map_err(|e| self.fail(e))
    }
    async fn set(&self, _bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.conn.clone().set(key, value).await.map_err(|e| self.fail(e))
    }
    async fn delete(&self, _bucket: &str, key: &str) -> Result<(), StoreError> {
        self.conn.clone().del(key).await.map_err(|e| self.fail(e))
    }
    async fn exists(&self, _bucket: &str, key: &str) -> Result<bool, StoreError> {
        self.conn.clone().exists(key).await.map_err(|e| self.fail(e))
    }
    async fn list_keys(&self, _bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor.unwrap_or(0))
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.fail(e))?;
        Ok((keys, (next != 0).then_some(next)))
    }
    async fn increment(&self, _bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        self.conn.clone().incr(key, delta).await.map_err(|e| self.fail(e))
    }
    async fn get_many(&self, _bucket: &str, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&keys).query_async(&mut self.conn.clone()).await.map_err(|e| self.fail(e))?;
        Ok(keys.into_iter().zip(values).map(|(k, v)| v.map(|v| (k, v))).collect())
    }
    async fn set_many(&self, _bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.conn.clone().mset(&pairs).await.map_err(|e| self.fail(e))
    }
    async fn delete_many(&self, _bucket: &str, keys: Vec<String>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.conn.clone().del(keys).await.map_err(|e| self.fail(e))
    }
}

/// `ghcr.io/wasmcloud/keyvalue-redis` (or `wasmcloud+builtin://keyvalue-redis`): its link
/// config is the provider's `URL`.
pub struct RedisBackend;

#[async_trait::async_trait]
impl trellis_capability::Backend<dyn Store> for RedisBackend {
    fn names(&self) -> &'static [&'static str] {
        &["keyvalue-redis"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/keyvalue-redis")
    }
    fn describe(&self) -> &'static str {
        "redis backend"
    }
    async fn open(&self, link: &trellis_capability::LinkConfig<'_>) -> Result<std::sync::Arc<dyn Store>, trellis_capability::OpenError> {
        let url = link.require("URL", "redis://127.0.0.1:6379")?;
        let store = RedisStore::connect(url).await.map_err(|e| trellis_capability::OpenError::Unavailable(format!("{e:#}")))?;
        Ok(std::sync::Arc::new(store))
    }
}

