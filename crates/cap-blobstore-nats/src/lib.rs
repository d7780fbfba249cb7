//! `wasi:blobstore` on NATS JetStream object stores: what `ghcr.io/wasmcloud/blobstore-nats`
//! provides in wasmCloud, with its link configuration (`cluster_uri`, `js_domain`,
//! `storage_type`, `num_replicas`). A container is an object store bucket (`OBJ_<name>` stream);
//! objects are written and read in chunks, never whole.
//!
//! **Must not** know components, links or manifests: the host hands it a [`NatsBlobConfig`].

use std::time::Duration;

use async_nats::jetstream::{self, ErrorCode, context::GetStreamErrorKind, object_store};
use futures::TryStreamExt as _;
use tokio::io::AsyncReadExt as _;
use trellis_cap_blobstore::{BlobError, BlobReader, BlobStore, ContainerInfo, ObjectInfo};

/// wasmCloud's provider default when `cluster_uri` is not set.
pub const DEFAULT_CLUSTER_URI: &str = "nats://127.0.0.1:4222";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how containers are kept.
#[derive(Debug, Clone)]
pub struct NatsBlobConfig {
    /// NATS server URLs, comma-separated.
    pub cluster_uri: String,
    /// JetStream domain, if not the default.
    pub js_domain: Option<String>,
    /// Buckets created by `create-container` keep objects in memory instead of files.
    pub memory_storage: bool,
    /// Replicas of buckets created by `create-container`.
    pub num_replicas: usize,
}

impl NatsBlobConfig {
    /// Reads the provider's keys from `link`; all are optional.
    pub fn from_link(link: &trellis_capability::LinkConfig<'_>) -> Result<NatsBlobConfig, trellis_capability::OpenError> {
        Ok(NatsBlobConfig {
            cluster_uri: link.get("cluster_uri").unwrap_or(DEFAULT_CLUSTER_URI).to_owned(),
            js_domain: link.get("js_domain").map(str::to_owned),
            memory_storage: link.get("storage_type").is_some_and(|t| t.eq_ignore_ascii_case("memory")),
            num_replicas: link.parse("num_replicas", "a number")?.unwrap_or(1),
        })
    }
}

/// `ghcr.io/wasmcloud/blobstore-nats` (or `wasmcloud+builtin://blobstore-nats`).
pub struct NatsBlobBackend;

#[async_trait::async_trait]
impl trellis_capability::Backend<dyn BlobStore> for NatsBlobBackend {
    fn names(&self) -> &'static [&'static str] {
        &["blobstore-nats"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/blobstore-nats")
    }
    fn describe(&self) -> &'static str {
        "nats blobstore"
    }
    async fn open(&self, link: &trellis_capability::LinkConfig<'_>) -> Result<std::sync::Arc<dyn BlobStore>, trellis_capability::OpenError> {
        let config = NatsBlobConfig::from_link(link)?;
        let store = NatsBlobStore::connect(config).await.map_err(|e| trellis_capability::OpenError::Unavailable(e.to_string()))?;
        Ok(std::sync::Arc::new(store))
    }
}

/// Object store buckets of one NATS JetStream.
pub struct NatsBlobStore {
    js: jetstream::Context,
    config: NatsBlobConfig,
}

impl NatsBlobStore {
    /// Connects; fails at once if the server cannot be reached.
    pub async fn connect(config: NatsBlobConfig) -> Result<NatsBlobStore, BlobError> {
        let servers: Vec<&str> = config.cluster_uri.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(servers.as_slice())
            .await
            .map_err(|e| BlobError::Backend {
                backend: format!("NATS object store at `{}`", trellis_types::redact::urls(&config.cluster_uri)),
                reason: format!("cannot connect: {e}"),
            })?;
        let js = match &config.js_domain {
            Some(domain) => jetstream::with_domain(client, domain),
            None => jetstream::new(client),
        };
        Ok(NatsBlobStore { js, config })
    }

    fn fail(&self, container: &str, e: impl std::fmt::Display) -> BlobError {
        BlobError::Backend { backend: format!("NATS object store bucket `{container}`"), reason: e.to_string() }
    }

    /// The bucket for `container`, or [`BlobError::NoContainer`].
    async fn bucket(&self, container: &str) -> Result<object_store::ObjectStore, BlobError> {
        check_name(container)?;
        match self.js.get_stream(format!("OBJ_{container}")).await {
            Ok(_) => self.js.get_object_store(container).await.map_err(|e| self.fail(container, e)),
            Err(e) if is_not_found(&e) => Err(BlobError::NoContainer(container.to_owned())),
            Err(e) => Err(self.fail(container, e)),
        }
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// Bucket names are NATS stream name parts: letters, digits, `-` and `_`.
fn check_name(container: &str) -> Result<(), BlobError> {
    if !container.is_empty() && container.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(BlobError::InvalidName { what: "container", name: container.to_owned(), reason: "NATS object store buckets take letters, digits, `-` and `_`" })
    }
}

/// Unix seconds as the blobstore types have them (0 before the epoch).
fn seconds(unix: Option<i64>) -> u64 {
    unix.map_or(0, |t| u64::try_from(t).unwrap_or(0))
}

#[async_trait::async_trait]
impl BlobStore for NatsBlobStore {
    async fn check(&self) -> Result<(), BlobError> {
        // The account's JetStream info: a round trip to a server that serves JetStream.
        self.js.query_account().await.map(drop).map_err(|e| BlobError::Backend { backend: format!("NATS object store at `{}`", self.config.cluster_uri), reason: e.to_string() })
    }
    async fn create_container(&self, container: &str) -> Result<(), BlobError> {
        match self.bucket(container).await {
            Ok(_) => Ok(()),
            Err(BlobError::NoContainer(_)) => {
                let config = object_store::Config {
                    bucket: container.to_owned(),
                    storage: if self.config.memory_storage { jetstream::stream::StorageType::Memory } else { jetstream::stream::StorageType::File },
                    num_replicas: self.config.num_replicas,
                    ..Default::default()
                };
                self.js.create_object_store(config).await.map(drop).map_err(|e| self.fail(container, e))
            }
            Err(e) => Err(e),
        }
    }
    async fn container_info(&self, container: &str) -> Result<ContainerInfo, BlobError> {
        self.bucket(container).await?;
        let mut stream = self.js.get_stream(format!("OBJ_{container}")).await.map_err(|e| self.fail(container, e))?;
        let info = stream.info().await.map_err(|e| self.fail(container, e))?;
        Ok(ContainerInfo { created_at: seconds(Some(info.created.unix_timestamp())) })
    }
    async fn delete_container(&self, container: &str) -> Result<(), BlobError> {
        match self.bucket(container).await {
            Ok(_) => self.js.delete_object_store(container).await.map_err(|e| self.fail(container, e)),
            Err(BlobError::NoContainer(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
    async fn container_exists(&self, container: &str) -> Result<bool, BlobError> {
        match self.bucket(container).await {
            Ok(_) => Ok(true),
            Err(BlobError::NoContainer(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
    async fn list_objects(&self, container: &str) -> Result<Vec<String>, BlobError> {
        let bucket = self.bucket(container).await?;
        let list = bucket.list().await.map_err(|e| self.fail(container, e))?;
        let infos: Vec<object_store::ObjectInfo> = list.try_collect().await.map_err(|e| self.fail(container, e))?;
        Ok(infos.into_iter().filter(|i| !i.deleted).map(|i| i.name).collect())
    }
    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo, BlobError> {
        let bucket = self.bucket(container).await?;
        match bucket.info(object).await {
            Ok(info) if !info.deleted => Ok(ObjectInfo { size: info.size as u64, created_at: seconds(info.modified.map(|t| t.unix_timestamp())) }),
            Ok(_) => Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() }),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => {
                Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() })
            }
            Err(e) => Err(self.fail(container, e)),
        }
    }
    async fn delete_object(&self, container: &str, object: &str) -> Result<(), BlobError> {
        let bucket = self.bucket(container).await?;
        match self.object_info(container, object).await {
            Ok(_) => bucket.delete(object).await.map_err(|e| self.fail(container, e)),
            Err(BlobError::NoObject { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
    async fn clear(&self, container: &str) -> Result<(), BlobError> {
        let bucket = self.bucket(container).await?;
        for name in self.list_objects(container).await? {
            bucket.delete(&name).await.map_err(|e| self.fail(container, e))?;
        }
        Ok(())
    }
    async fn read(&self, container: &str, object: &str, start: u64, len: u64) -> Result<BlobReader, BlobError> {
        let bucket = self.bucket(container).await?;
        let mut body = match bucket.get(object).await {
            Ok(body) => body,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                return Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() });
            }
            Err(e) => return Err(self.fail(container, e)),
        };
        // Object stores have no seek: skip to `start` by reading, a chunk at a time.
        if start > 0 {
            tokio::io::copy(&mut (&mut body).take(start), &mut tokio::io::sink()).await.map_err(|e| self.fail(container, e))?;
        }
        Ok(Box::pin(body.take(len)))
    }
    async fn write(&self, container: &str, object: &str, mut body: BlobReader) -> Result<u64, BlobError> {
        let bucket = self.bucket(container).await?;
        let info = bucket.put(object, &mut body).await.map_err(|e| self.fail(container, e))?;
        Ok(info.size as u64)
    }
}
