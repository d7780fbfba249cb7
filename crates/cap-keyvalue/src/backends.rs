//! The backends of this crate, as the binary registers them: memory and a redb file.

use std::sync::Arc;

use trellis_capability::{Backend, LinkConfig, OpenError};

use crate::{MemoryStore, RedbStore, Store};

/// `wasmcloud+builtin://keyvalue-memory`: a store that lives as long as the deploy.
pub struct MemoryBackend;

#[async_trait::async_trait]
impl Backend<dyn Store> for MemoryBackend {
    fn names(&self) -> &'static [&'static str] {
        &["keyvalue-memory"]
    }
    fn describe(&self) -> &'static str {
        "memory backend"
    }
    async fn open(&self, _link: &LinkConfig<'_>) -> Result<Arc<dyn Store>, OpenError> {
        Ok(Arc::new(MemoryStore::new()))
    }
}

/// `wasmcloud+builtin://keyvalue` (or `keyvalue-redb`): a redb file under the host's state
/// directory, one per capability of an app, kept across restarts. The embedded default.
pub struct RedbBackend;

#[async_trait::async_trait]
impl Backend<dyn Store> for RedbBackend {
    fn names(&self) -> &'static [&'static str] {
        &["keyvalue", "keyvalue-redb"]
    }
    fn describe(&self) -> &'static str {
        "redb backend"
    }
    async fn open(&self, link: &LinkConfig<'_>) -> Result<Arc<dyn Store>, OpenError> {
        let mut path = link.place.data_path("keyvalue").into_os_string();
        path.push(".redb");
        let store = RedbStore::open(std::path::Path::new(&path)).map_err(|e| OpenError::Unavailable(format!("{e:#}")))?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trellis_capability::Place;

    use super::*;

    #[tokio::test]
    async fn a_redb_store_is_one_file_per_capability_of_an_app_and_outlives_its_deploy() {
        let dir = tempfile::tempdir().unwrap();
        let config = BTreeMap::new();
        let place = |capability| Place { app: "shop", capability, state_dir: dir.path(), base_dir: dir.path() };
        let store = RedbBackend.open(&LinkConfig::new(&config, place("kv"))).await.unwrap();
        store.set("b", "k", b"v".to_vec()).await.unwrap();
        drop(store);
        assert!(dir.path().join("keyvalue/shop/kv.redb").is_file());
        let reopened = RedbBackend.open(&LinkConfig::new(&config, place("kv"))).await.unwrap();
        assert_eq!(reopened.get("b", "k").await.unwrap(), Some(b"v".to_vec()));
        let other = RedbBackend.open(&LinkConfig::new(&config, place("other"))).await.unwrap();
        assert_eq!(other.get("b", "k").await.unwrap(), None, "another capability has a store of its own");
    }
}
