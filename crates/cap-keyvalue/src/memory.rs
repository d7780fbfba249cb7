//! An in-memory store: for tests and for state that may vanish with the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::backend::{Store, StoreError, page, parse_counter};

/// Buckets of keys in a map, gone when the process ends.
#[derive(Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<R>(&self, bucket: &str, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> R) -> R {
        let mut buckets = self.buckets.lock().expect("memory store poisoned");
        f(buckets.entry(bucket.to_owned()).or_default())
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn open(&self, _bucket: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(bucket, |b| b.get(key).cloned()))
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.with(bucket, |b| b.insert(key.to_owned(), value));
        Ok(())
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.with(bucket, |b| b.remove(key));
        Ok(())
    }
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.with(bucket, |b| b.contains_key(key)))
    }
    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        Ok(page(self.with(bucket, |b| b.keys().cloned().collect()), cursor))
    }
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        self.with(bucket, |b| {
            let next = parse_counter(key, b.get(key).map(Vec::as_slice))?.checked_add(delta).ok_or_else(|| StoreError::Other(format!("counter `{key}` overflows")))?;
            b.insert(key.to_owned(), next.to_string().into_bytes());
            Ok(next)
        })
    }
}
