//! Where a manifest's `image` points: a local file, a built-in capability, or an OCI reference.
//! Hosts fetch by it; the manager and the operator recognise well-known providers by it.

use std::path::{Path, PathBuf};

/// A parsed `image` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A local file (`file://`, an absolute path, or a path relative to the manifest).
    File(PathBuf),
    /// `wasmcloud+builtin://<name>`.
    Builtin(String),
    /// An OCI reference such as `ghcr.io/wasmcloud/http-server:0.23.2`.
    Oci(String),
}

impl ImageRef {
    /// Reads `image` as a manifest writes it; relative paths resolve against `base_dir`.
    pub fn parse(image: &str, base_dir: &Path) -> ImageRef {
        let relative = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() { p.to_owned() } else { base_dir.join(p.strip_prefix("./").unwrap_or(p)) }
        };
        if let Some(rest) = image.strip_prefix("file://") {
            return ImageRef::File(relative(rest));
        }
        if let Some(name) = image.strip_prefix("wasmcloud+builtin://").or_else(|| image.strip_prefix("trellis+builtin://")) {
            return ImageRef::Builtin(name.to_owned());
        }
        let oci = image.strip_prefix("oci://").or_else(|| image.strip_prefix("https://")).or_else(|| image.strip_prefix("http://"));
        if let Some(reference) = oci {
            return ImageRef::Oci(reference.to_owned());
        }
        if image.starts_with('/') || image.starts_with("./") || image.starts_with("../") || image.ends_with(".wasm") || image.ends_with(".par.gz") || image.ends_with(".par") {
            return ImageRef::File(relative(image));
        }
        ImageRef::Oci(image.to_owned())
    }

    /// The `<namespace>/<name>` of an OCI reference, without registry, tag or digest:
    /// `ghcr.io/wasmcloud/http-server:0.23.2` → `wasmcloud/http-server`.
    pub fn oci_repository(&self) -> Option<String> {
        let ImageRef::Oci(reference) = self else { return None };
        let without_digest = reference.split('@').next().unwrap_or(reference);
        let (path, last) = without_digest.rsplit_once('/')?;
        let name = last.split(':').next().unwrap_or(last);
        let namespace = path.rsplit('/').next().unwrap_or(path);
        Some(format!("{namespace}/{name}").to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let base = Path::new("/apps/hello");
        assert_eq!(ImageRef::parse("file://./build/x.wasm", base), ImageRef::File("/apps/hello/build/x.wasm".into()));
        assert_eq!(ImageRef::parse("file:///abs/x.wasm", base), ImageRef::File("/abs/x.wasm".into()));
        assert_eq!(ImageRef::parse("build/x.wasm", base), ImageRef::File("/apps/hello/build/x.wasm".into()));
        assert_eq!(ImageRef::parse("build/echo.par.gz", base), ImageRef::File("/apps/hello/build/echo.par.gz".into()));
        assert_eq!(ImageRef::parse("wasmcloud+builtin://http-server", base), ImageRef::Builtin("http-server".into()));
        let oci = ImageRef::parse("ghcr.io/wasmcloud/http-server:0.23.2", base);
        assert_eq!(oci.oci_repository().as_deref(), Some("wasmcloud/http-server"));
        let with_port = ImageRef::parse("localhost:5000/wasmcloud/http-server@sha256:abc", base);
        assert_eq!(with_port.oci_repository().as_deref(), Some("wasmcloud/http-server"));
    }
}
