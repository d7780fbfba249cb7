//! `wasi:blobstore` (`blobstore`, `container`, `types` at `0.2.0-draft`, what wasmCloud 1.x
//! links) for Trellis components, over swappable backends.
//!
//! The WIT is wasmCloud's own (`wit/deps`, from `wasmcloud-runtime` 0.12.0). Components built
//! against the upstream draft, whose `outgoing-value-write-body` also returns a reason, link too:
//! [`draft`] adapts that one function per component.
//!
//! **Owns** the host side of those interfaces, the [`BlobStore`] trait every backend
//! implements, and the backends without heavy dependencies: [`FsStore`] (a directory, confined
//! to its root) and [`MemoryStore`]. Object bodies are streamed both ways: a read is an
//! `AsyncRead` from the backend to the guest's `input-stream`, a write a bounded channel from
//! the guest's `output-stream` to the backend, so a large object is never held whole.
//!
//! **Must not** know manifests or links: the host hands [`grant`] the backend of each of a
//! component's blobstore links, and a component reaches only those.

mod backends;
mod draft;
mod fs;
mod host;
mod memory;
mod value;

use std::pin::Pin;

pub use backends::{FsBackend, MemoryBackend};
pub use fs::FsStore;
pub use host::grant;
pub use memory::MemoryStore;

/// An object's bytes as they come from a backend.
pub type BlobReader = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// What a backend knows of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerInfo {
    /// When it was created, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// What a backend knows of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: u64,
    /// When it was written, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// Why a blobstore operation failed; the guest gets the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No such container.
    #[error("container `{0}` does not exist")]
    NoContainer(String),
    /// No such object.
    #[error("object `{object}` does not exist in container `{container}`")]
    NoObject {
        /// The container.
        container: String,
        /// The object.
        object: String,
    },
    /// A name the backend cannot store (e.g. one that would leave a filesystem root).
    #[error("invalid {what} name `{name}`: {reason}")]
    InvalidName {
        /// `container` or `object`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The backend failed.
    #[error("{backend}: {reason}")]
    Backend {
        /// Which backend.
        backend: String,
        /// What went wrong.
        reason: String,
    },
}

/// A blob backend: containers of named objects.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Whether the backend answers, for the host's health checks; the error says why not.
    async fn check(&self) -> Result<(), BlobError> {
        Ok(())
    }
    /// Creates `container` if it does not exist (creating one that exists is not an error, as
    /// with wasmCloud's providers).
    async fn create_container(&self, container: &str) -> Result<(), BlobError>;
    /// `container`'s metadata, or [`BlobError::NoContainer`].
    async fn container_info(&self, container: &str) -> Result<ContainerInfo, BlobError>;
    /// Deletes `container` and everything in it.
    async fn delete_container(&self, container: &str) -> Result<(), BlobError>;
    /// Whether `container` exists.
    async fn container_exists(&self, container: &str) -> Result<bool, BlobError>;
    /// The names of the objects in `container`, in no particular order.
    async fn list_objects(&self, container: &str) -> Result<Vec<String>, BlobError>;
    /// `object`'s metadata, or [`BlobError::NoObject`].
    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo, BlobError>;
    /// Deletes `object`; deleting one that does not exist is not an error.
    async fn delete_object(&self, container: &str, object: &str) -> Result<(), BlobError>;
    /// Deletes every object of `container`, keeping the container.
    async fn clear(&self, container: &str) -> Result<(), BlobError>;
    /// `len` bytes of `object` from `start` (fewer at the end of the object).
    async fn read(&self, container: &str, object: &str, start: u64, len: u64) -> Result<BlobReader, BlobError>;
    /// Refuses an object name this backend cannot store, before any of its body is sent, so
    /// `write-data` fails at once rather than midway through the guest's writes.
    fn check_name(&self, _container: &str, _object: &str) -> Result<(), BlobError> {
        Ok(())
    }
    /// Creates or replaces `object` with everything `body` yields; the old content stays
    /// readable until the new one is complete. Returns the size written.
    async fn write(&self, container: &str, object: &str, body: BlobReader) -> Result<u64, BlobError>;

    /// Copies an object, streaming it; backends with a cheaper way override this.
    async fn copy(&self, from: (&str, &str), to: (&str, &str)) -> Result<(), BlobError> {
        let body = self.read(from.0, from.1, 0, u64::MAX).await?;
        self.write(to.0, to.1, body).await.map(drop)
    }

    /// Moves an object; backends with a cheaper way override this.
    async fn rename(&self, from: (&str, &str), to: (&str, &str)) -> Result<(), BlobError> {
        self.copy(from, to).await?;
        self.delete_object(from.0, from.1).await
    }
}

/// Seconds since the Unix epoch of `time` (0 if before it).
fn epoch_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
