//! Blobs as files: a container is a directory under the root, an object a file in it (object
//! names with `/` make subdirectories). Nothing a guest names can leave the root: names with
//! `..`, `.`, empty segments, backslashes or NUL are refused, and paths are checked against the
//! root after symlinks are resolved. Writes go to a temporary file that is renamed into place
//! once complete, so readers see the old object or the new one, never half of one.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::{BlobError, BlobReader, BlobStore, ContainerInfo, ObjectInfo, epoch_seconds};

/// Files being written are named with this prefix until they are renamed into place.
const UPLOAD_PREFIX: &str = ".trellis-upload-";

/// Containers as directories under one root.
pub struct FsStore {
    root: PathBuf,
    /// `root` with symlinks resolved, for the confinement check.
    canonical_root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root`, which is created if missing.
    pub fn open(root: &Path) -> Result<FsStore, BlobError> {
        std::fs::create_dir_all(root).map_err(|e| fail(root, e))?;
        let canonical_root = root.canonicalize().map_err(|e| fail(root, e))?;
        Ok(FsStore { root: root.to_owned(), canonical_root })
    }

    fn container_dir(&self, container: &str) -> Result<PathBuf, BlobError> {
        check_segment("container", container, container)?;
        Ok(self.root.join(container))
    }

    fn object_path(&self, container: &str, object: &str) -> Result<PathBuf, BlobError> {
        let dir = self.container_dir(container)?;
        if object.is_empty() {
            return Err(BlobError::InvalidName { what: "object", name: object.to_owned(), reason: "it is empty" });
        }
        for segment in object.split('/') {
            check_segment("object", object, segment)?;
        }
        let path = dir.join(object);
        self.confine(&path, object)?;
        Ok(path)
    }

    /// Refuses `path` if the deepest part of it that exists resolves outside the root (a
    /// symlink placed inside the root pointing out of it).
    fn confine(&self, path: &Path, name: &str) -> Result<(), BlobError> {
        let existing = path.ancestors().find(|p| p.exists()).unwrap_or(&self.root);
        let resolved = existing.canonicalize().map_err(|e| fail(existing, e))?;
        if resolved.starts_with(&self.canonical_root) {
            Ok(())
        } else {
            Err(BlobError::InvalidName { what: "object", name: name.to_owned(), reason: "it resolves outside the blobstore root" })
        }
    }

    async fn existing_container(&self, container: &str) -> Result<PathBuf, BlobError> {
        let dir = self.container_dir(container)?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            _ => Err(BlobError::NoContainer(container.to_owned())),
        }
    }
}

fn check_segment(what: &'static str, name: &str, segment: &str) -> Result<(), BlobError> {
    let reason = if segment.is_empty() {
        Some(if what == "container" { "it is empty" } else { "it has an empty path segment" })
    } else if segment == "." || segment == ".." {
        Some("`.` and `..` are not allowed")
    } else if segment.contains(['/', '\\', '\0']) {
        Some(if what == "container" { "it contains `/`, `\\` or NUL" } else { "it contains `\\` or NUL" })
    } else if segment.starts_with(UPLOAD_PREFIX) {
        Some("the prefix `.trellis-upload-` is reserved")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BlobError::InvalidName { what, name: name.to_owned(), reason }),
        None => Ok(()),
    }
}

fn fail(path: &Path, e: impl std::fmt::Display) -> BlobError {
    BlobError::Backend { backend: format!("filesystem blobstore {}", path.display()), reason: e.to_string() }
}

fn modified(meta: &std::fs::Metadata) -> u64 {
    meta.modified().map(epoch_seconds).unwrap_or(0)
}

/// Every file under `dir`, as `/`-joined paths relative to `base`, skipping unfinished uploads.
fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(UPLOAD_PREFIX) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(base, &entry.path(), out)?;
        } else if kind.is_file() {
            let relative = entry.path().strip_prefix(base).map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
            out.push(relative);
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobStore for FsStore {
    async fn check(&self) -> Result<(), BlobError> {
        match tokio::fs::metadata(&self.root).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(fail(&self.root, "the root is not a directory")),
            Err(e) => Err(fail(&self.root, e)),
        }
    }
    async fn create_container(&self, container: &str) -> Result<(), BlobError> {
        let dir = self.container_dir(container)?;
        tokio::fs::create_dir_all(&dir).await.map_err(|e| fail(&dir, e))
    }
    async fn container_info(&self, container: &str) -> Result<ContainerInfo, BlobError> {
        let dir = self.existing_container(container).await?;
        let meta = tokio::fs::metadata(&dir).await.map_err(|e| fail(&dir, e))?;
        Ok(ContainerInfo { created_at: modified(&meta) })
    }
    async fn delete_container(&self, container: &str) -> Result<(), BlobError> {
        let dir = self.container_dir(container)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(&dir, e)),
            _ => Ok(()),
        }
    }
    async fn container_exists(&self, container: &str) -> Result<bool, BlobError> {
        let dir = self.container_dir(container)?;
        Ok(tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()))
    }
    async fn list_objects(&self, container: &str) -> Result<Vec<String>, BlobError> {
        let dir = self.existing_container(container).await?;
        tokio::task::spawn_blocking(move || {
            let mut names = Vec::new();
            walk(&dir, &dir, &mut names).map_err(|e| fail(&dir, e))?;
            Ok(names)
        })
        .await
        .map_err(|e| fail(&self.root, e))?
    }
    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo, BlobError> {
        self.existing_container(container).await?;
        let path = self.object_path(container, object)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(ObjectInfo { size: meta.len(), created_at: modified(&meta) }),
            _ => Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() }),
        }
    }
    async fn delete_object(&self, container: &str, object: &str) -> Result<(), BlobError> {
        self.existing_container(container).await?;
        let path = self.object_path(container, object)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(&path, e)),
            _ => Ok(()),
        }
    }
    async fn clear(&self, container: &str) -> Result<(), BlobError> {
        let dir = self.existing_container(container).await?;
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(|e| fail(&dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| fail(&dir, e))? {
            let path = entry.path();
            let removed = match entry.file_type().await {
                Ok(t) if t.is_dir() => tokio::fs::remove_dir_all(&path).await,
                _ => tokio::fs::remove_file(&path).await,
            };
            removed.map_err(|e| fail(&path, e))?;
        }
        Ok(())
    }
    async fn read(&self, container: &str, object: &str, start: u64, len: u64) -> Result<BlobReader, BlobError> {
        self.existing_container(container).await?;
        let path = self.object_path(container, object)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NoObject { container: container.to_owned(), object: object.to_owned() });
            }
            Err(e) => return Err(fail(&path, e)),
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(|e| fail(&path, e))?;
        }
        Ok(Box::pin(file.take(len)))
    }
    fn check_name(&self, container: &str, object: &str) -> Result<(), BlobError> {
        self.object_path(container, object).map(drop)
    }
    async fn write(&self, container: &str, object: &str, mut body: BlobReader) -> Result<u64, BlobError> {
        let dir = self.existing_container(container).await?;
        let path = self.object_path(container, object)?;
        let parent = path.parent().unwrap_or(&dir).to_owned();
        tokio::fs::create_dir_all(&parent).await.map_err(|e| fail(&parent, e))?;
        self.confine(&parent, object)?;
        // Removed on drop, so an abandoned or failed write leaves nothing behind.
        let upload = tempfile::Builder::new().prefix(UPLOAD_PREFIX).tempfile_in(&parent).map_err(|e| fail(&parent, e))?;
        let mut file = tokio::fs::File::from_std(upload.reopen().map_err(|e| fail(upload.path(), e))?);
        let size = tokio::io::copy(&mut body, &mut file).await.map_err(|e| fail(&path, e))?;
        file.sync_all().await.map_err(|e| fail(&path, e))?;
        drop(file);
        tokio::task::spawn_blocking(move || upload.persist(&path).map_err(|e| fail(&path, e.error)))
            .await
            .map_err(|e| fail(&self.root, e))??;
        Ok(size)
    }
    async fn rename(&self, from: (&str, &str), to: (&str, &str)) -> Result<(), BlobError> {
        self.existing_container(from.0).await?;
        self.existing_container(to.0).await?;
        let (source, target) = (self.object_path(from.0, from.1)?, self.object_path(to.0, to.1)?);
        if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
            return Err(BlobError::NoObject { container: from.0.to_owned(), object: from.1.to_owned() });
        }
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| fail(parent, e))?;
        }
        tokio::fs::rename(&source, &target).await.map_err(|e| fail(&source, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> BlobReader {
        Box::pin(bytes)
    }

    async fn read_all(store: &FsStore, c: &str, o: &str, start: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        store.read(c, o, start, len).await.unwrap().read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn objects_are_files_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.create_container("photos").await.unwrap();
        store.create_container("photos").await.unwrap();
        assert_eq!(store.write("photos", "2026/cat.jpg", reader(b"meow")).await.unwrap(), 4);
        assert_eq!(std::fs::read(dir.path().join("photos/2026/cat.jpg")).unwrap(), b"meow");
        assert_eq!(read_all(&store, "photos", "2026/cat.jpg", 1, 2).await, b"eo");
        assert_eq!(store.list_objects("photos").await.unwrap(), vec!["2026/cat.jpg".to_owned()]);
        assert_eq!(store.object_info("photos", "2026/cat.jpg").await.unwrap().size, 4);
        store.rename(("photos", "2026/cat.jpg"), ("photos", "cat.jpg")).await.unwrap();
        assert_eq!(store.list_objects("photos").await.unwrap(), vec!["cat.jpg".to_owned()]);
        store.clear("photos").await.unwrap();
        assert!(store.list_objects("photos").await.unwrap().is_empty());
        assert!(matches!(store.list_objects("nope").await, Err(BlobError::NoContainer(_))));
    }

    #[tokio::test]
    async fn no_name_leaves_the_root() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("root");
        let store = FsStore::open(&root).unwrap();
        store.create_container("c").await.unwrap();
        for object in ["../escape", "a/../../escape", "/etc/passwd", "a//b", "a\\..\\b", ".", "", "x\0y", ".trellis-upload-x"] {
            let err = store.write("c", object, reader(b"x")).await.unwrap_err();
            assert!(matches!(err, BlobError::InvalidName { .. }), "{object:?}: {err}");
        }
        for container in ["..", "a/b", "", "."] {
            assert!(matches!(store.create_container(container).await, Err(BlobError::InvalidName { .. })), "{container:?}");
        }
        // A symlink inside the root that points out of it is not followed.
        std::os::unix::fs::symlink(parent.path(), root.join("c/out")).unwrap();
        let err = store.write("c", "out/escape", reader(b"x")).await.unwrap_err();
        assert!(err.to_string().contains("resolves outside the blobstore root"), "{err}");
        assert!(store.read("c", "out/root/c/out", 0, 1).await.is_err());
        assert!(!parent.path().join("escape").exists());
    }

    #[tokio::test]
    async fn a_failed_write_leaves_the_old_object_and_no_upload() {
        struct Failing;
        impl tokio::io::AsyncRead for Failing {
            fn poll_read(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, _: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Err(std::io::Error::other("the guest went away")))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.create_container("c").await.unwrap();
        store.write("c", "o", reader(b"old")).await.unwrap();
        assert!(store.write("c", "o", Box::pin(Failing)).await.is_err());
        assert_eq!(read_all(&store, "c", "o", 0, u64::MAX).await, b"old");
        assert_eq!(std::fs::read_dir(dir.path().join("c")).unwrap().count(), 1);
    }
}
