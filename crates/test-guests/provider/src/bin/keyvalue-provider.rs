//! A keyvalue capability provider in the shape of wasmCloud's own (keyvalue-redis, -nats, -vault:
//! `wasmcloud-provider-sdk`, exporting `wrpc:keyvalue/{store,atomics,batch}@0.2.0-draft`), so
//! the tests check that a host bridges the resource-based `wasi:keyvalue` a component imports to
//! a provider process, as wasmCloud hosts do. wasmCloud does not publish its keyvalue providers
//! as crates; this one keeps values in memory, per bucket, and counts the calls it serves under
//! the key `calls` of bucket `provider-stats`, so a test sees the values went through it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::sync::RwLock;
use wasmcloud_provider_sdk::{Context, Provider, get_connection, run_provider, serve_provider_exports};

wit_bindgen_wrpc::generate!({ world: "keyvalue", path: "wit", generate_all });

use exports::wrpc::keyvalue::store::{Error, KeyResponse};

#[derive(Clone, Default)]
struct Memory {
    buckets: Arc<RwLock<HashMap<String, BTreeMap<String, Bytes>>>>,
}

impl Memory {
    async fn served(&self) {
        let mut buckets = self.buckets.write().await;
        let stats = buckets.entry("provider-stats".into()).or_default();
        let calls = stats.get("calls").and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok()).unwrap_or(0);
        stats.insert("calls".into(), Bytes::from((calls + 1).to_string()));
    }
}

impl Provider for Memory {}

impl exports::wrpc::keyvalue::store::Handler<Option<Context>> for Memory {
    async fn get(&self, _cx: Option<Context>, bucket: String, key: String) -> anyhow::Result<Result<Option<Bytes>, Error>> {
        self.served().await;
        Ok(Ok(self.buckets.read().await.get(&bucket).and_then(|b| b.get(&key)).cloned()))
    }

    async fn set(&self, _cx: Option<Context>, bucket: String, key: String, value: Bytes) -> anyhow::Result<Result<(), Error>> {
        self.served().await;
        self.buckets.write().await.entry(bucket).or_default().insert(key, value);
        Ok(Ok(()))
    }

    async fn delete(&self, _cx: Option<Context>, bucket: String, key: String) -> anyhow::Result<Result<(), Error>> {
        self.served().await;
        if let Some(b) = self.buckets.write().await.get_mut(&bucket) {
            b.remove(&key);
        }
        Ok(Ok(()))
    }

    async fn exists(&self, _cx: Option<Context>, bucket: String, key: String) -> anyhow::Result<Result<bool, Error>> {
        self.served().await;
        Ok(Ok(self.buckets.read().await.get(&bucket).is_some_and(|b| b.contains_key(&key))))
    }

    async fn list_keys(&self, _cx: Option<Context>, bucket: String, cursor: Option<u64>) -> anyhow::Result<Result<KeyResponse, Error>> {
        self.served().await;
        let buckets = self.buckets.read().await;
        let keys: Vec<String> = buckets.get(&bucket).map(|b| b.keys().skip(cursor.unwrap_or(0) as usize).cloned().collect()).unwrap_or_default();
        Ok(Ok(KeyResponse { keys, cursor: None }))
    }
}

impl exports::wrpc::keyvalue::atomics::Handler<Option<Context>> for Memory {
    async fn increment(&self, _cx: Option<Context>, bucket: String, key: String, delta: u64) -> anyhow::Result<Result<u64, Error>> {
        self.served().await;
        let mut buckets = self.buckets.write().await;
        let values = buckets.entry(bucket).or_default();
        let current = match values.get(&key).map(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok())) {
            None => 0,
            Some(Some(n)) => n,
            Some(None) => return Ok(Err(Error::Other(format!("`{key}` is not a number")))),
        };
        values.insert(key, Bytes::from((current + delta).to_string()));
        Ok(Ok(current + delta))
    }
}

impl exports::wrpc::keyvalue::batch::Handler<Option<Context>> for Memory {
    async fn get_many(&self, _cx: Option<Context>, bucket: String, keys: Vec<String>) -> anyhow::Result<Result<Vec<Option<(String, Bytes)>>, Error>> {
        self.served().await;
        let buckets = self.buckets.read().await;
        let values = buckets.get(&bucket);
        Ok(Ok(keys.into_iter().map(|k| values.and_then(|b| b.get(&k).cloned()).map(|v| (k, v))).collect()))
    }

    async fn set_many(&self, _cx: Option<Context>, bucket: String, pairs: Vec<(String, Bytes)>) -> anyhow::Result<Result<(), Error>> {
        self.served().await;
        self.buckets.write().await.entry(bucket).or_default().extend(pairs);
        Ok(Ok(()))
    }

    async fn delete_many(&self, _cx: Option<Context>, bucket: String, keys: Vec<String>) -> anyhow::Result<Result<(), Error>> {
        self.served().await;
        if let Some(b) = self.buckets.write().await.get_mut(&bucket) {
            for key in keys {
                b.remove(&key);
            }
        }
        Ok(Ok(()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let provider = Memory::default();
    let shutdown = run_provider(provider.clone(), "keyvalue-provider").await.context("starting the provider")?;
    let connection = get_connection();
    let wrpc = connection.get_wrpc_client(connection.provider_key()).await?;
    serve_provider_exports(&wrpc, provider, shutdown, serve).await.context("serving exports")
}
