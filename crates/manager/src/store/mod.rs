//! Durable manager state: every stored manifest version, which one is deployed, and named
//! config. Embedded mode keeps it in one redb file ([`Store::open`]); on a NATS lattice it lives
//! in JetStream key-value buckets ([`Store::jetstream`]), so any manager of the lattice can take
//! over from one that died. The in-memory catalogue writes through either way.

mod jetstream;
mod local;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trellis_types::ctl::{LINKS_KEY_PREFIX, SourceLinks};

pub(crate) use jetstream::bucket as open_bucket;

/// Everything stored about one application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AppRecord {
    /// Oldest first.
    pub(crate) versions: Vec<StoredVersion>,
    pub(crate) deployed_version: Option<String>,
}

/// One manifest version as it was put: the text, so later errors can still name its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    pub(crate) version: String,
    pub(crate) source: String,
    /// Where relative image paths resolve; the putting client's directory when it sent one.
    pub(crate) base_dir: Option<PathBuf>,
}

/// A named config: key → value.
pub(crate) type Config = BTreeMap<String, String>;

/// Everything stored.
#[derive(Debug, Default)]
pub(crate) struct Contents {
    pub(crate) apps: BTreeMap<String, AppRecord>,
    pub(crate) configs: BTreeMap<String, Config>,
    /// By source id.
    pub(crate) links: BTreeMap<String, SourceLinks>,
}

/// Why the store failed; the manager reports it and keeps running.
#[derive(Debug, thiserror::Error)]
#[error("manager state in {place}: {message}")]
pub struct StoreError {
    place: String,
    message: String,
}

impl StoreError {
    fn new(place: impl Into<String>, message: impl std::fmt::Display) -> StoreError {
        StoreError { place: place.into(), message: message.to_string() }
    }
}

/// Where the manager keeps its state.
#[derive(Clone)]
pub struct Store(Backend);

#[derive(Clone)]
enum Backend {
    Local(local::RedbStore),
    JetStream(std::sync::Arc<jetstream::KvStore>),
}

impl Store {
    /// Opens (or creates) the redb file at `path`: the store of an embedded manager.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store(Backend::Local(local::RedbStore::open(path)?)))
    }

    /// Opens (or creates) lattice `lattice`'s buckets in JetStream: manifests in
    /// `trellis_manifests_<lattice>`; named config in `CONFIGDATA_<lattice>` and links in
    /// `LATTICEDATA_<lattice>`, where wasmCloud hosts keep theirs.
    pub async fn jetstream(client: async_nats::Client, lattice: &str) -> Result<Store, StoreError> {
        Ok(Store(Backend::JetStream(std::sync::Arc::new(jetstream::KvStore::open(client, lattice).await?))))
    }

    /// Every application and every named config.
    pub(crate) async fn load(&self) -> Result<Contents, StoreError> {
        match &self.0 {
            Backend::Local(s) => s.load(),
            Backend::JetStream(s) => s.load().await,
        }
    }

    /// Stores (or, with `None`, removes) an application's record. Durable when it returns.
    pub(crate) async fn save_app(&self, name: &str, record: Option<&AppRecord>) -> Result<(), StoreError> {
        let value = record.map(|r| serde_json::to_vec(r).expect("records serialize"));
        match &self.0 {
            Backend::Local(s) => s.write(local::APPS, name, value).await,
            Backend::JetStream(s) => s.write(jetstream::Bucket::Manifests, name, value).await,
        }
    }

    /// Stores (or removes) a named config.
    pub(crate) async fn save_config(&self, name: &str, config: Option<&Config>) -> Result<(), StoreError> {
        let value = config.map(|c| serde_json::to_vec(c).expect("config serializes"));
        match &self.0 {
            Backend::Local(s) => s.write(local::CONFIGS, name, value).await,
            Backend::JetStream(s) => s.write(jetstream::Bucket::Configs, name, value).await,
        }
    }

    /// Stores (or, when it has none left, removes) the links of source `source`.
    pub(crate) async fn save_links(&self, source: &str, links: &SourceLinks) -> Result<(), StoreError> {
        let value = (!links.links.is_empty()).then(|| serde_json::to_vec(links).expect("links serialize"));
        match &self.0 {
            Backend::Local(s) => s.write(local::LINKS, source, value).await,
            Backend::JetStream(s) => s.write(jetstream::Bucket::Links, &format!("{LINKS_KEY_PREFIX}{source}"), value).await,
        }
    }
}

/// Decodes one stored record, naming it if it does not decode.
fn decode<T: serde::de::DeserializeOwned>(place: &str, what: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::new(place, format!("{what} `{key}`: {e}")))
}
