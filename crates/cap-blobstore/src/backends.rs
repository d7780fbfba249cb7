//! The backends of this crate, as the binary registers them: a directory and memory.

use std::sync::Arc;

use trellis_capability::{Backend, LinkConfig, OpenError};

use crate::{BlobStore, FsStore, MemoryStore};

/// `ghcr.io/wasmcloud/blobstore-fs` (or `wasmcloud+builtin://blobstore-fs`, or `blobstore`, the
/// embedded default): a directory, `ROOT` as the provider takes it (relative to the manifest),
/// else one under the host's state directory per capability of an app.
pub struct FsBackend;

#[async_trait::async_trait]
impl Backend<dyn BlobStore> for FsBackend {
    fn names(&self) -> &'static [&'static str] {
        &["blobstore-fs", "blobstore"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/blobstore-fs")
    }
    fn describe(&self) -> &'static str {
        "filesystem blobstore"
    }
    async fn open(&self, link: &LinkConfig<'_>) -> Result<Arc<dyn BlobStore>, OpenError> {
        let root = match link.get("root") {
            Some(root) => link.place.base_dir.join(root),
            None => link.place.data_path("blobstore"),
        };
        Ok(Arc::new(FsStore::open(&root).map_err(|e| OpenError::Unavailable(e.to_string()))?))
    }
}

/// `wasmcloud+builtin://blobstore-memory`: containers that live as long as the deploy.
pub struct MemoryBackend;

#[async_trait::async_trait]
impl Backend<dyn BlobStore> for MemoryBackend {
    fn names(&self) -> &'static [&'static str] {
        &["blobstore-memory"]
    }
    fn describe(&self) -> &'static str {
        "memory blobstore"
    }
    async fn open(&self, _link: &LinkConfig<'_>) -> Result<Arc<dyn BlobStore>, OpenError> {
        Ok(Arc::new(MemoryStore::new()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trellis_capability::Place;

    use super::*;

    #[tokio::test]
    async fn root_is_relative_to_the_manifest_and_defaults_to_the_state_directory() {
        let (state, app) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let place = Place { app: "photos", capability: "blobs", state_dir: state.path(), base_dir: app.path() };
        FsBackend.open(&LinkConfig::new(&BTreeMap::new(), place)).await.unwrap();
        assert!(state.path().join("blobstore/photos/blobs").is_dir());
        let rooted = BTreeMap::from([("ROOT".to_owned(), "data".to_owned())]);
        FsBackend.open(&LinkConfig::new(&rooted, place)).await.unwrap();
        assert!(app.path().join("data").is_dir());
    }
}
