//! A lattice manager's state in JetStream key-value buckets, so it outlives any one manager
//! process: manifests in `trellis_manifests_<lattice>` (app name → record), named config in
//! `CONFIGDATA_<lattice>` (config name → JSON map) and links in `LATTICEDATA_<lattice>`
//! (`COMPONENT_<source id>` → `{"url", "links"}`), as wasmCloud hosts keep them.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use futures::TryStreamExt as _;
use trellis_types::ctl::{LINKS_KEY_PREFIX, configs_bucket, links_bucket};

use super::{Contents, StoreError, decode};

#[derive(Clone, Copy)]
pub(super) enum Bucket {
    Manifests,
    Configs,
    Links,
}

#[derive(Clone)]
pub(super) struct KvStore {
    manifests: kv::Store,
    configs: kv::Store,
    links: kv::Store,
}

impl KvStore {
    pub(super) async fn open(client: async_nats::Client, lattice: &str) -> Result<KvStore, StoreError> {
        let js = async_nats::jetstream::new(client);
        Ok(KvStore {
            manifests: bucket(&js, &format!("trellis_manifests_{lattice}")).await?,
            configs: bucket(&js, &configs_bucket(lattice)).await?,
            links: bucket(&js, &links_bucket(lattice)).await?,
        })
    }

    fn bucket(&self, bucket: Bucket) -> &kv::Store {
        match bucket {
            Bucket::Manifests => &self.manifests,
            Bucket::Configs => &self.configs,
            Bucket::Links => &self.links,
        }
    }

    pub(super) async fn load(&self) -> Result<Contents, StoreError> {
        let links = rows(&self.links, "links of", LINKS_KEY_PREFIX).await?;
        Ok(Contents { apps: rows(&self.manifests, "app", "").await?, configs: rows(&self.configs, "config", "").await?, links })
    }

    /// Puts (or, with `None`, deletes) `key`; acknowledged by JetStream, so durable, when it returns.
    pub(super) async fn write(&self, bucket: Bucket, key: &str, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let store = self.bucket(bucket);
        let fail = |e: &dyn std::fmt::Display| StoreError::new(place(store), format!("key `{key}`: {e}"));
        match value {
            Some(v) => store.put(key, v.into()).await.map(drop).map_err(|e| fail(&e)),
            None => store.delete(key).await.map_err(|e| fail(&e)),
        }
    }
}

fn place(store: &kv::Store) -> String {
    format!("JetStream bucket {}", store.name)
}

/// Opens bucket `name`, creating it if it does not exist yet.
pub(crate) async fn bucket(js: &async_nats::jetstream::Context, name: &str) -> Result<kv::Store, StoreError> {
    trellis_lattice::open_kv_bucket(js, name).await.map_err(|e| {
        StoreError::new(
            format!("JetStream bucket {name}"),
            format!("{e}; the manager keeps its state in JetStream, so nats-server must run with JetStream enabled (-js)"),
        )
    })
}

/// Every live key of `store` that starts with `prefix`, decoded, by the rest of the key.
async fn rows<T: serde::de::DeserializeOwned>(store: &kv::Store, what: &str, prefix: &str) -> Result<BTreeMap<String, T>, StoreError> {
    let place = place(store);
    let fail = |e: &dyn std::fmt::Display| StoreError::new(place.clone(), e);
    let keys: Vec<String> = store.keys().await.map_err(|e| fail(&e))?.try_collect().await.map_err(|e| fail(&e))?;
    let mut rows = BTreeMap::new();
    for key in keys {
        let Some(name) = key.strip_prefix(prefix) else { continue };
        // Deleted between listing and reading: gone, not an error.
        if let Some(value) = store.get(&key).await.map_err(|e| fail(&e))? {
            let row = decode(&place, what, &key, &value)?;
            rows.insert(name.to_owned(), row);
        }
    }
    Ok(rows)
}
