//! `wasi:keyvalue/watcher`: a component that exports it is told when keys it watches change.
//!
//! A backend that reports its own changes ([`Store::changes`]: Redis keyspace notifications, a
//! NATS KV watch) tells a watcher of every writer's, as wasmCloud's providers do: other hosts,
//! other tools, wasmCloud itself. For the others (memory, redb: written only through this
//! host), every store the host opens is wrapped in [`Watched`], which announces each change made
//! through it (by any component linked to the same capability) on a broadcast channel; nothing
//! is copied while no one watches. A watcher link subscribes, filters by its `WATCH` list, and
//! calls the component's `on-set` or `on-delete`, each call a fresh instance under its limits.
//! The watcher needs no link of its own to the store: the bucket it is handed reaches the store
//! the change happened in.

use std::sync::Arc;

use tokio::sync::broadcast;
use trellis_runtime::{InvocationState, PreparedComponent};

use crate::backend::{KeyChange, Store, StoreError};
use crate::host::Bucket;

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:keyvalue/watcher-guest",
        exports: { default: async },
        with: { "wasi:keyvalue/store": crate::host::store },
    });
}

/// Changes a slow watcher may fall behind by before it misses some (and a warning says so).
const BACKLOG: usize = 1024;

/// One change made through a [`Watched`] store.
type Change = KeyChange;

/// A store whose changes are announced to watchers.
pub struct Watched {
    inner: Arc<dyn Store>,
    changes: broadcast::Sender<Arc<Change>>,
}

impl Watched {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Watched> {
        Arc::new(Watched { inner, changes: broadcast::channel(BACKLOG).0 })
    }

    fn announce(&self, bucket: &str, key: &str, value: Option<&[u8]>) {
        if self.changes.receiver_count() > 0 {
            let change = Change { bucket: bucket.to_owned(), key: key.to_owned(), value: value.map(<[u8]>::to_vec) };
            let _ = self.changes.send(Arc::new(change));
        }
    }
}

#[async_trait::async_trait]
impl Store for Watched {
    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        self.inner.changes().await
    }
    async fn open(&self, bucket: &str) -> Result<(), StoreError> {
        self.inner.open(bucket).await
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(bucket, key).await
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        if self.changes.receiver_count() == 0 {
            return self.inner.set(bucket, key, value).await;
        }
        self.inner.set(bucket, key, value.clone()).await?;
        self.announce(bucket, key, Some(&value));
        Ok(())
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.inner.delete(bucket, key).await?;
        self.announce(bucket, key, None);
        Ok(())
    }
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        self.inner.exists(bucket, key).await
    }
    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        self.inner.list_keys(bucket, cursor).await
    }
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        let value = self.inner.increment(bucket, key, delta).await?;
        // Counters are stored as decimal text; that is what a watcher reading the key would see.
        self.announce(bucket, key, Some(value.to_string().as_bytes()));
        Ok(value)
    }
    async fn get_many(&self, bucket: &str, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>, StoreError> {
        self.inner.get_many(bucket, keys).await
    }
    async fn set_many(&self, bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        if self.changes.receiver_count() == 0 {
            return self.inner.set_many(bucket, pairs).await;
        }
        self.inner.set_many(bucket, pairs.clone()).await?;
        for (key, value) in &pairs {
            self.announce(bucket, key, Some(value));
        }
        Ok(())
    }
    async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), StoreError> {
        self.inner.delete_many(bucket, keys.clone()).await?;
        for key in &keys {
            self.announce(bucket, key, None);
        }
        Ok(())
    }
}

/// Which changes a watcher link asks for: its `WATCH` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter(Vec<Rule>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// `None` for both, `Some(true)` for sets only, `Some(false)` for deletes only.
    sets: Option<bool>,
    key: String,
    prefix: bool,
}

impl KeyFilter {
    /// Parses a comma-separated list of `key`, `prefix*`, `*`, each optionally limited to sets
    /// (`SET@key`) or deletes (`DEL@key`).
    pub fn parse(text: &str) -> Result<KeyFilter, String> {
        let mut rules = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (sets, pattern) = match entry.split_once('@') {
                Some((op, rest)) if op.eq_ignore_ascii_case("set") => (Some(true), rest),
                Some((op, rest)) if op.eq_ignore_ascii_case("del") => (Some(false), rest),
                Some((op, _)) => return Err(format!("`{entry}`: `{op}@` is not an operation (SET@ or DEL@)")),
                None => (None, entry),
            };
            let (key, prefix) = match pattern.strip_suffix('*') {
                Some(p) => (p, true),
                None => (pattern, false),
            };
            if key.contains('*') || (key.is_empty() && !prefix) {
                return Err(format!("`{entry}`: a pattern is a key, or a prefix ending in one `*`"));
            }
            rules.push(Rule { sets, key: key.to_owned(), prefix });
        }
        if rules.is_empty() {
            return Err("the list is empty; name keys, prefixes (`user:*`) or `*`".into());
        }
        Ok(KeyFilter(rules))
    }

    fn matches(&self, key: &str, set: bool) -> bool {
        self.0.iter().any(|r| r.sets.is_none_or(|s| s == set) && if r.prefix { key.starts_with(&r.key) } else { key == r.key })
    }
}

/// A component that exports `wasi:keyvalue/watcher@0.2.0-draft`.
#[derive(Clone)]
pub struct Watcher {
    component: PreparedComponent,
    pre: generated::WatcherGuestPre<InvocationState>,
}

impl Watcher {
    /// Checks the component exports the watcher.
    pub fn new(component: PreparedComponent) -> anyhow::Result<Watcher> {
        let pre = generated::WatcherGuestPre::new(component.instance_pre().clone()).map_err(|e| {
            anyhow::anyhow!("component `{}` does not export wasi:keyvalue/watcher@0.2.0-draft: {e}", component.id())
        })?;
        Ok(Watcher { component, pre })
    }

    async fn tell(&self, store: Arc<dyn Store>, change: &Change) {
        let function = if change.value.is_some() { "wasi:keyvalue/watcher.on-set" } else { "wasi:keyvalue/watcher.on-delete" };
        let invocation = match self.component.begin(function).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(key = %change.key, "{e}");
                return;
            }
        };
        let (mut wasm, guard) = (invocation.store, invocation.guard);
        let result = guard
            .run(async {
                let bucket = wasm.data_mut().links_and_table().1.push(Bucket::watched(change.bucket.clone(), store))?;
                let instance = self.pre.instantiate_async(&mut wasm).await?;
                let watcher = instance.wasi_keyvalue_watcher();
                match &change.value {
                    Some(value) => watcher.call_on_set(&mut wasm, bucket, &change.key, value).await,
                    None => watcher.call_on_delete(&mut wasm, bucket, &change.key).await,
                }
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(key = %change.key, kind = ?e.kind(), "{e}");
        }
    }
}

/// Tells `watcher` of every change to `store` that `filter` selects, each in its own task (the
/// component's concurrency cap bounds how many run at once), until the returned task is aborted.
/// Watching has begun when this returns: a change made after it is reported.
pub async fn watch(watcher: Watcher, store: &Arc<Watched>, filter: KeyFilter) -> Result<tokio::task::JoinHandle<()>, StoreError> {
    let inner = store.inner.clone();
    let component = watcher.component.id().to_owned();
    let tell = move |change: Arc<Change>| {
        if filter.matches(&change.key, change.value.is_some()) {
            let (watcher, inner) = (watcher.clone(), inner.clone());
            tokio::spawn(async move { watcher.tell(inner, &change).await });
        }
    };
    if let Some(mut changes) = store.inner.changes().await? {
        return Ok(tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                tell(Arc::new(change));
            }
        }));
    }
    let mut changes = store.changes.subscribe();
    Ok(tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(change) => tell(change),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(%component, missed, "the keyvalue watcher fell behind and missed changes");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keys_prefixes_and_operations() {
        let f = KeyFilter::parse("config, user:*, DEL@session:*").unwrap();
        assert!(f.matches("config", true) && f.matches("config", false));
        assert!(!f.matches("config2", true));
        assert!(f.matches("user:7", true) && f.matches("user:", false));
        assert!(f.matches("session:1", false) && !f.matches("session:1", true));
        assert!(KeyFilter::parse("*").unwrap().matches("anything", true));
        assert_eq!(KeyFilter::parse("GET@x").unwrap_err(), "`GET@x`: `GET@` is not an operation (SET@ or DEL@)");
        assert!(KeyFilter::parse("a*b").is_err());
        assert!(KeyFilter::parse(" , ").is_err());
    }

    #[tokio::test]
    async fn changes_are_announced_only_while_watched() {
        let store = Watched::new(Arc::new(crate::MemoryStore::new()));
        store.set("b", "before", b"x".to_vec()).await.unwrap();
        let mut changes = store.changes.subscribe();
        store.set("b", "k", b"v".to_vec()).await.unwrap();
        assert_eq!(store.increment("b", "n", 2).await.unwrap(), 2);
        store.delete("b", "k").await.unwrap();
        let seen: Vec<(String, Option<Vec<u8>>)> = (0..3).map(|_| changes.try_recv().unwrap()).map(|c| (c.key.clone(), c.value.clone())).collect();
        assert_eq!(seen, vec![("k".into(), Some(b"v".to_vec())), ("n".into(), Some(b"2".to_vec())), ("k".into(), None)]);
        assert!(changes.try_recv().is_err());
    }
}
