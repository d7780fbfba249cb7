//! Where a manifest's `image` points and how its bytes are fetched.

use std::path::Path;

pub(crate) use trellis_types::image::ImageRef;

/// wasmCloud's default cap on a component's size.
pub(crate) const MAX_COMPONENT_BYTES: u64 = 50 << 20;

/// Reads a local component, refusing anything past the size cap before reading it.
pub(crate) async fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(format!("{} is {} bytes, over the {MAX_COMPONENT_BYTES}-byte component size limit", path.display(), meta.len()));
    }
    tokio::fs::read(path).await.map_err(|e| format!("{}: {e}", path.display()))
}
