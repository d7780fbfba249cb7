//! Blobs in memory: for tests and throwaway state; gone when the process stops.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use tokio::io::AsyncReadExt as _;

use crate::{BlobError, BlobReader, BlobStore, ContainerInfo, ObjectInfo, epoch_seconds};

/// Containers of objects held in memory.
#[derive(Default)]
pub struct MemoryStore {
    containers: Mutex<HashMap<String, Container>>,
}

struct Container {
    created_at: u64,
    objects: BTreeMap<String, (Bytes, u64)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<R>(&self, container: &str, f: impl FnOnce(&mut Container) -> Result<R, BlobError>) -> Result<R, BlobError> {
        let mut containers = self.containers.lock().expect("memory blobstore poisoned");
        f(containers.get_mut(container).ok_or_else(|| BlobError::NoContainer(container.to_owned()))?)
    }
}

fn now() -> u64 {
    epoch_seconds(SystemTime::now())
}

#[async_trait::async_trait]
impl BlobStore for MemoryStore {
    async fn create_container(&self, container: &str) -> Result<(), BlobError> {
        let mut containers = self.containers.lock().expect("memory blobstore poisoned");
        containers.entry(container.to_owned()).or_insert_with(|| Container { created_at: now(), objects: BTreeMap::new() });
        Ok(())
    }
    async fn container_info(&self, container: &str) -> Result<ContainerInfo, BlobError> {
        self.with(container, |c| Ok(ContainerInfo { created_at: c.created_at }))
    }
    async fn delete_container(&self, container: &str) -> Result<(), BlobError> {
        self.containers.lock().expect("memory blobstore poisoned").remove(container);
        Ok(())
    }
    async fn container_exists(&self, container: &str) -> Result<bool, BlobError> {
        Ok(self.containers.lock().expect("memory blobstore poisoned").contains_key(container))
    }
    async fn list_objects(&self, container: &str) -> Result<Vec<String>, BlobError> {
        self.with(container, |c| Ok(c.objects.keys().cloned().collect()))
    }
    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo, BlobError> {
        self.with(container, |c| match c.objects.get(object) {
            Some((bytes, created_at)) => Ok(ObjectInfo { size: bytes.len() as u64, created_at: *created_at }),
            None => Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() }),
        })
    }
    async fn delete_object(&self, container: &str, object: &str) -> Result<(), BlobError> {
        self.with(container, |c| {
            c.objects.remove(object);
            Ok(())
        })
    }
    async fn clear(&self, container: &str) -> Result<(), BlobError> {
        self.with(container, |c| {
            c.objects.clear();
            Ok(())
        })
    }
    async fn read(&self, container: &str, object: &str, start: u64, len: u64) -> Result<BlobReader, BlobError> {
        let bytes = self.with(container, |c| match c.objects.get(object) {
            Some((bytes, _)) => Ok(bytes.clone()),
            None => Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() }),
        })?;
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
        let to = from.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)).min(bytes.len());
        Ok(Box::pin(std::io::Cursor::new(bytes.slice(from..to))))
    }
    async fn write(&self, container: &str, object: &str, mut body: BlobReader) -> Result<u64, BlobError> {
        // Fail before reading the body if the container is missing.
        self.with(container, |_| Ok(()))?;
        let mut buf = Vec::new();
        body.read_to_end(&mut buf).await.map_err(|e| BlobError::Backend { backend: "memory blobstore".into(), reason: e.to_string() })?;
        let size = buf.len() as u64;
        self.with(container, |c| {
            c.objects.insert(object.to_owned(), (Bytes::from(buf), now()));
            Ok(size)
        })
    }
}
