//! The NATS JetStream KV backend of `wasi:keyvalue`: what `ghcr.io/wasmcloud/keyvalue-nats`
//! provides in wasmCloud, with its link configuration (`bucket`, `cluster_uri`, `js_domain`,
//! `enable_bucket_auto_create`).
//!
//! **Owns** the JetStream client and the mapping of keyvalue operations onto a KV bucket.
//! **Must not** know components or links: the host hands it the configuration.
//!
//! The configured `bucket` is the JetStream KV bucket; as with the Redis backend, the name a
//! component opens is not part of the key. Increments are compare-and-set on the entry's
//! revision, so concurrent increments from many instances and hosts never lose an update.
//!
//! Watchers hear of every writer's changes through a watch of the bucket, as with wasmCloud's
//! provider.

use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store as Kv};
use futures::{StreamExt as _, TryStreamExt};
use trellis_cap_keyvalue::{KeyChange, Store, StoreError};

/// wasmCloud's provider default when `cluster_uri` is not set.
pub const DEFAULT_CLUSTER_URI: &str = "nats://127.0.0.1:4222";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys per `list-keys` page.
const PAGE: usize = 1000;
/// Compare-and-set attempts of one increment before giving up under contention.
const CAS_ATTEMPTS: usize = 64;

/// `ghcr.io/wasmcloud/keyvalue-nats` (or `wasmcloud+builtin://keyvalue-nats`), with the
/// provider's link config: `bucket`, `cluster_uri`, `js_domain`, `enable_bucket_auto_create`.
pub struct NatsKvBackend;

#[async_trait::async_trait]
impl trellis_capability::Backend<dyn Store> for NatsKvBackend {
    fn names(&self) -> &'static [&'static str] {
        &["keyvalue-nats"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/keyvalue-nats")
    }
    fn describe(&self) -> &'static str {
        "nats backend"
    }
    async fn open(&self, link: &trellis_capability::LinkConfig<'_>) -> Result<std::sync::Arc<dyn Store>, trellis_capability::OpenError> {
        let config = NatsKvConfig::from_link(link)?;
        let store = NatsKvStore::connect(&config).await.map_err(|e| trellis_capability::OpenError::Unavailable(format!("{e:#}")))?;
        Ok(std::sync::Arc::new(store))
    }
}

/// What the link configures.
#[derive(Debug, Clone)]
pub struct NatsKvConfig {
    /// Server(s), comma-separated.
    pub cluster_uri: String,
    /// The KV bucket.
    pub bucket: String,
    /// JetStream domain, if any.
    pub js_domain: Option<String>,
    /// Create the bucket if it does not exist.
    pub auto_create: bool,
}

/// One JetStream KV bucket.
pub struct NatsKvStore {
    client: async_nats::Client,
    kv: Kv,
    bucket: String,
}

impl NatsKvConfig {
    /// Reads the provider's keys from `link`; only `bucket` is required.
    pub fn from_link(link: &trellis_capability::LinkConfig<'_>) -> Result<NatsKvConfig, trellis_capability::OpenError> {
        Ok(NatsKvConfig {
            cluster_uri: link.get("cluster_uri").unwrap_or(DEFAULT_CLUSTER_URI).to_owned(),
            bucket: link.require("bucket", "counters")?.to_owned(),
            js_domain: link.get("js_domain").map(str::to_owned),
            auto_create: link.flag("enable_bucket_auto_create"),
        })
    }
}

impl NatsKvStore {
    /// Connects and opens (or, if allowed, creates) the bucket.
    pub async fn connect(config: &NatsKvConfig) -> anyhow::Result<NatsKvStore> {
        let servers: Vec<&str> = config.cluster_uri.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(servers.as_slice())
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at `{}`: {e}", trellis_types::redact::urls(&config.cluster_uri)))?;
        let js = match &config.js_domain {
            Some(domain) => async_nats::jetstream::with_domain(client.clone(), domain),
            None => async_nats::jetstream::new(client.clone()),
        };
        let kv = match js.get_key_value(&config.bucket).await {
            Ok(kv) => kv,
            Err(_) if config.auto_create => trellis_lattice::create_kv_bucket(&js, &config.bucket)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create KV bucket `{}`: {e}", config.bucket))?,
            Err(e) => anyhow::bail!(
                "KV bucket `{}` is not available ({e}); create it, or set enable_bucket_auto_create: \"true\"",
                config.bucket
            ),
        };
        Ok(NatsKvStore { client, kv, bucket: config.bucket.clone() })
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Other(format!("nats keyvalue bucket {}: {e}", self.bucket))
    }
}

#[async_trait::async_trait]
impl Store for NatsKvStore {
    async fn check(&self) -> Result<(), StoreError> {
        // The bucket's stream info: a round trip through JetStream to the bucket itself.
        self.kv.status().await.map(drop).map_err(|e| StoreError::Other(format!("nats keyvalue bucket `{}`: {e}", self.bucket)))
    }
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        // New changes only: a watcher is told of what happens from now on.
        let mut watch = self.kv.watch_all().await.map_err(|e| self.fail(e))?;
        // The watch's subscription is only queued by then: until the server has it, the
        // consumer's first deliveries are lost (and the ordered consumer does not notice a gap
        // at its first message). Once flushed, every change made after this returns is heard.
        self.client.flush().await.map_err(|e| self.fail(e))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        let bucket = self.bucket.clone();
        tokio::spawn(async move {
            // Until the watcher goes (its receiver dropped), not only until the next change.
            while let Some(entry) = tokio::select! { e = watch.next() => e, () = sender.closed() => None } {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        tracing::warn!(%bucket, "watching the KV bucket: {e}");
                        continue;
                    }
                };
                let value = (entry.operation == Operation::Put).then(|| entry.value.to_vec());
                if sender.send(KeyChange { bucket: bucket.clone(), key: entry.key, value }).await.is_err() {
                    break;
                }
            }
        });
        Ok(Some(receiver))
    }
    async fn open(&self, _bucket: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.kv.get(key).await.map_err(|e| self.fail(e))?.map(|b| b.to_vec()))
    }
    async fn set(&self, _bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.kv.put(key, value.into()).await.map(drop).map_err(|e| self.fail(e))
    }
    async fn delete(&self, _bucket: &str, key: &str) -> Result<(), StoreError> {
        self.kv.delete(key).await.map_err(|e| self.fail(e))
    }
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(bucket, key).await?.is_some())
    }
    async fn list_keys(&self, _bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let mut keys: Vec<String> = match self.kv.keys().await {
            Ok(stream) => stream.try_collect().await.map_err(|e| self.fail(e))?,
            Err(e) => return Err(self.fail(e)),
        };
        keys.sort();
        let start = cursor.unwrap_or(0) as usize;
        let end = (start + PAGE).min(keys.len());
        let next = (end < keys.len()).then_some(end as u64);
        Ok((keys.get(start..end).map(<[String]>::to_vec).unwrap_or_default(), next))
    }
    async fn increment(&self, _bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let entry = self.kv.entry(key).await.map_err(|e| self.fail(e))?;
            let live = entry.as_ref().filter(|e| e.operation == Operation::Put);
            let current = match live {
                Some(e) => std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| StoreError::Other(format!("value of `{key}` is not a decimal counter")))?,
                None => 0,
            };
            let next = current.checked_add(delta).ok_or_else(|| StoreError::Other(format!("counter `{key}` overflows")))?;
            let value = bytes::Bytes::from(next.to_string());
            let written = match &entry {
                Some(e) => self.kv.update(key, value, e.revision).await.map(drop).map_err(|e| e.to_string()),
                None => self.kv.create(key, value).await.map(drop).map_err(|e| e.to_string()),
            };
            if written.is_ok() {
                return Ok(next);
            }
            // Someone else wrote first: read again and retry.
        }
        Err(self.fail(format!("increment of `{key}` lost {CAS_ATTEMPTS} races in a row")))
    }
}
