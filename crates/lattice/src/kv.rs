//! Key-value buckets of the lattice: state every process of a lattice shares, such as the links
//! and named config wasmCloud hosts keep in `LATTICEDATA_<lattice>` and `CONFIGDATA_<lattice>`.
//! On NATS a bucket is a JetStream key-value bucket; embedded, a map the in-process lattice
//! holds, so code above the seam reads and writes them alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt as _;

use crate::LatticeError;

/// One bucket: keys (NATS subject tokens) to values.
#[async_trait::async_trait]
pub trait Bucket: Send + Sync + 'static {
    /// The value of `key`, if it has one.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, LatticeError>;
    /// Sets `key` to `value`; durable (on NATS, acknowledged by JetStream) when it returns.
    async fn put(&self, key: &str, value: Bytes) -> Result<(), LatticeError>;
    /// Removes `key`; removing a key that has no value is no error.
    async fn delete(&self, key: &str) -> Result<(), LatticeError>;
    /// Every key with a value, in no particular order.
    async fn keys(&self) -> Result<Vec<String>, LatticeError>;
}

/// The buckets of an in-process lattice, by name.
#[derive(Default)]
pub(crate) struct MemoryBuckets(Mutex<HashMap<String, Arc<MemoryBucket>>>);

impl MemoryBuckets {
    pub(crate) fn open(&self, name: &str) -> Arc<MemoryBucket> {
        self.0.lock().expect("bucket table poisoned").entry(name.to_owned()).or_default().clone()
    }
}

#[derive(Default)]
pub(crate) struct MemoryBucket(Mutex<BTreeMap<String, Bytes>>);

#[async_trait::async_trait]
impl Bucket for MemoryBucket {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, LatticeError> {
        Ok(self.0.lock().expect("bucket poisoned").get(key).cloned())
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), LatticeError> {
        self.0.lock().expect("bucket poisoned").insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), LatticeError> {
        self.0.lock().expect("bucket poisoned").remove(key);
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<String>, LatticeError> {
        Ok(self.0.lock().expect("bucket poisoned").keys().cloned().collect())
    }
}

/// A JetStream key-value bucket.
pub(crate) struct JetStreamBucket(pub(crate) async_nats::jetstream::kv::Store);

impl JetStreamBucket {
    fn fail(&self, key: &str, e: impl std::fmt::Display) -> LatticeError {
        LatticeError::Transport(format!("JetStream bucket {}, key `{key}`: {e}", self.0.name))
    }
}

#[async_trait::async_trait]
impl Bucket for JetStreamBucket {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, LatticeError> {
        self.0.get(key).await.map_err(|e| self.fail(key, e))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), LatticeError> {
        self.0.put(key, value).await.map(drop).map_err(|e| self.fail(key, e))
    }

    async fn delete(&self, key: &str) -> Result<(), LatticeError> {
        self.0.delete(key).await.map_err(|e| self.fail(key, e))
    }

    async fn keys(&self) -> Result<Vec<String>, LatticeError> {
        let keys = self.0.keys().await.map_err(|e| self.fail("*", e))?;
        keys.try_collect().await.map_err(|e| self.fail("*", e))
    }
}

#[cfg(test)]
mod tests {
    use crate::{InProcess, Lattice as _};

    #[tokio::test]
    async fn an_in_process_bucket_is_shared_by_name_across_the_lattice() {
        let lattice = InProcess::new();
        let one = lattice.bucket("CONFIGDATA_default").await.unwrap();
        one.put("greeting", "hi".into()).await.unwrap();
        let again = lattice.clone().bucket("CONFIGDATA_default").await.unwrap();
        assert_eq!(again.get("greeting").await.unwrap().as_deref(), Some(&b"hi"[..]));
        assert_eq!(again.keys().await.unwrap(), ["greeting"]);
        assert!(lattice.bucket("LATTICEDATA_default").await.unwrap().get("greeting").await.unwrap().is_none());
        again.delete("greeting").await.unwrap();
        again.delete("greeting").await.unwrap();
        assert!(one.get("greeting").await.unwrap().is_none());
    }
}
