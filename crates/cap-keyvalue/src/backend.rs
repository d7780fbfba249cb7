//! The trait every keyvalue backend implements.

/// Why a store operation failed; maps onto `wasi:keyvalue/store.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The bucket does not exist and cannot be created.
    #[error("no such store")]
    NoSuchStore,
    /// The backend refused.
    #[error("access denied")]
    AccessDenied,
    /// Anything else, with the backend named in the text.
    #[error("{0}")]
    Other(String),
}

/// A change to one key, as a backend reports it, whoever made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The bucket, as far as the backend knows one (Redis: none, so empty).
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The new value, or `None` for a delete (or an expiry).
    pub value: Option<Vec<u8>>,
}

/// A key-value backend. Buckets are namespaces within it; a backend may ignore them (Redis,
/// as wasmCloud's provider does).
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Changes to the backend from every writer, through Trellis or not (Redis keyspace
    /// notifications, a NATS KV watch), from now on, until the receiver is dropped; `None` for a
    /// backend only Trellis writes to, whose changes are known from the writes themselves.
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        Ok(None)
    }
    /// Whether the backend answers, for the host's health checks; the error says why not.
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Checks `bucket` can be used; called by `open`.
    async fn open(&self, bucket: &str) -> Result<(), StoreError>;
    /// The value of `key`, if set.
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key`.
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    /// Removes `key`; not an error if it is absent.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError>;
    /// Whether `key` is set.
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError>;
    /// One page of keys from `cursor`, and the cursor of the next page if there is one.
    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError>;
    /// Adds `delta` to the decimal counter at `key` (absent counts as 0); returns the new value.
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError>;

    /// The values of `keys`, in order.
    async fn get_many(&self, bucket: &str, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(bucket, &key).await?.map(|v| (key, v)));
        }
        Ok(out)
    }
    /// Sets every pair.
    async fn set_many(&self, bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        for (key, value) in pairs {
            self.set(bucket, &key, value).await?;
        }
        Ok(())
    }
    /// Removes every key.
    async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), StoreError> {
        for key in keys {
            self.delete(bucket, &key).await?;
        }
        Ok(())
    }
}

/// Keys per `list-keys` page for backends that page by offset.
pub(crate) const PAGE: usize = 1000;

/// Reads a counter value as the decimal text Redis' `INCRBY` stores.
pub(crate) fn parse_counter(key: &str, value: Option<&[u8]>) -> Result<u64, StoreError> {
    let Some(value) = value else { return Ok(0) };
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| StoreError::Other(format!("value of `{key}` is not a decimal counter")))
}

/// One page of `keys` (sorted) from offset `cursor`.
pub(crate) fn page(mut keys: Vec<String>, cursor: Option<u64>) -> (Vec<String>, Option<u64>) {
    keys.sort();
    let start = cursor.unwrap_or(0) as usize;
    let end = (start + PAGE).min(keys.len());
    let next = (end < keys.len()).then_some(end as u64);
    (keys.get(start..end).map(<[String]>::to_vec).unwrap_or_default(), next)
}
