//! The capabilities a host serves itself, found by the image a manifest or `provider.start`
//! names: its own HTTP server and client, and the backends of `wasi:keyvalue`,
//! `wasi:blobstore`, `wasmcloud:messaging` and `wasmcloud:postgres` the binary registered
//! ([`Capabilities`]). What a backend's link config means is its crate's business
//! ([`trellis_capability::Backend`]); the host only knows which interface it serves.

use std::sync::Arc;

use trellis_cap_blobstore::BlobStore;
use trellis_cap_keyvalue::Store;
use trellis_cap_messaging::Broker;
use trellis_cap_postgres::Database;
use trellis_capability::{Backend, Backends};

use crate::artifact::ImageRef;

/// The host's outbound HTTP capability: `(builtin name, the wasmCloud provider it replaces)`.
const HTTP_CLIENT: (&str, &str) = ("http-client", "wasmcloud/http-client");

/// Every backend a host can open for a capability, registered once by the binary.
#[derive(Clone, Default)]
pub struct Capabilities {
    keyvalue: Backends<dyn Store>,
    blobstore: Backends<dyn BlobStore>,
    messaging: Backends<dyn Broker>,
    postgres: Backends<Database>,
}

impl Capabilities {
    /// A backend of `wasi:keyvalue`.
    pub fn keyvalue(mut self, backend: impl Backend<dyn Store>) -> Self {
        self.keyvalue.register(backend);
        self
    }

    /// A backend of `wasi:blobstore`.
    pub fn blobstore(mut self, backend: impl Backend<dyn BlobStore>) -> Self {
        self.blobstore.register(backend);
        self
    }

    /// A backend of `wasmcloud:messaging`.
    pub fn messaging(mut self, backend: impl Backend<dyn Broker>) -> Self {
        self.messaging.register(backend);
        self
    }

    /// A backend of `wasmcloud:postgres`.
    pub fn postgres(mut self, backend: impl Backend<Database>) -> Self {
        self.postgres.register(backend);
        self
    }

    /// The capability an image names: a wasmCloud provider image from any registry at any
    /// version, or `wasmcloud+builtin://<name>` / `trellis+builtin://<name>`.
    pub(crate) fn find(&self, image: &ImageRef) -> Option<Builtin> {
        let (name, repository) = names(image)?;
        let (name, repository) = (name.as_deref(), repository.as_deref());
        let is = |(own_name, own_repository): (&str, &str)| name == Some(own_name) || repository == Some(own_repository);
        if is_http_server(image) {
            return Some(Builtin::HttpServer);
        }
        if is(HTTP_CLIENT) {
            return Some(Builtin::HttpClient);
        }
        fn lookup<T: ?Sized + 'static>(backends: &Backends<T>, name: Option<&str>, repository: Option<&str>) -> Option<Arc<dyn Backend<T>>> {
            match (name, repository) {
                (Some(name), _) => backends.named(name).cloned(),
                (None, Some(repository)) => backends.replacing(repository).cloned(),
                (None, None) => None,
            }
        }
        lookup(&self.keyvalue, name, repository)
            .map(Builtin::KeyValue)
            .or_else(|| lookup(&self.blobstore, name, repository).map(Builtin::Blobstore))
            .or_else(|| lookup(&self.messaging, name, repository).map(Builtin::Messaging))
            .or_else(|| lookup(&self.postgres, name, repository).map(Builtin::Postgres))
    }

    /// Whether provider image `image` (as the control interface names it) is a capability
    /// served here rather than a provider archive to run as a process.
    pub(crate) fn is_builtin_provider(&self, image: &str) -> bool {
        self.find(&ImageRef::parse(image, std::path::Path::new("."))).is_some()
    }

    /// The list shown when an image names no capability served here.
    pub(crate) fn describe(&self) -> String {
        fn entries<T: ?Sized + 'static>(backends: &Backends<T>) -> impl Iterator<Item = (&'static str, Option<&'static str>)> + '_ {
            backends.iter().flat_map(|b| b.names().iter().enumerate().map(|(i, name)| (*name, if i == 0 { b.replaces() } else { None })))
        }
        [(trellis_cap_http_server::BUILTIN_NAME, Some(trellis_cap_http_server::PROVIDER_REPOSITORY)), (HTTP_CLIENT.0, Some(HTTP_CLIENT.1))]
            .into_iter()
            .chain(entries(&self.keyvalue))
            .chain(entries(&self.blobstore))
            .chain(entries(&self.messaging))
            .chain(entries(&self.postgres))
            .map(|(name, repository)| match repository {
                Some(r) => format!("wasmcloud+builtin://{name} (ghcr.io/{r})"),
                None => format!("wasmcloud+builtin://{name}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The builtin name or the OCI repository `image` names; `None` for a file.
fn names(image: &ImageRef) -> Option<(Option<String>, Option<String>)> {
    match image {
        ImageRef::Builtin(name) => Some((Some(name.clone()), None)),
        ImageRef::Oci(_) => Some((None, Some(image.oci_repository()?))),
        ImageRef::File(_) => None,
    }
}

/// Whether `image` names the host's HTTP server, whatever backends are registered.
pub(crate) fn is_http_server(image: &ImageRef) -> bool {
    trellis_cap_http_server::is_server_image(image)
}

/// A capability served here, by the interface it serves.
#[derive(Clone)]
pub(crate) enum Builtin {
    /// `wasi:http/incoming-handler` server.
    HttpServer,
    /// `wasi:http/outgoing-handler`: outbound HTTP.
    HttpClient,
    KeyValue(Arc<dyn Backend<dyn Store>>),
    Blobstore(Arc<dyn Backend<dyn BlobStore>>),
    Messaging(Arc<dyn Backend<dyn Broker>>),
    Postgres(Arc<dyn Backend<Database>>),
}

/// Whether a capability served here provides package `namespace:package` to components.
pub(crate) fn provides(namespace: &str, package: &str) -> bool {
    matches!((namespace, package), ("wasi", "http" | "keyvalue" | "blobstore") | ("wasmcloud", "messaging" | "postgres"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn find(capabilities: &Capabilities, image: &str) -> Option<Builtin> {
        capabilities.find(&ImageRef::parse(image, Path::new("/app")))
    }

    #[test]
    fn a_capability_is_found_by_builtin_name_or_by_the_wasmcloud_image_it_replaces() {
        let capabilities = Capabilities::default()
            .keyvalue(trellis_cap_keyvalue::RedbBackend)
            .blobstore(trellis_cap_blobstore::FsBackend)
            .messaging(trellis_cap_messaging::InProcessBackend::default());
        assert!(matches!(find(&capabilities, "wasmcloud+builtin://keyvalue-redb"), Some(Builtin::KeyValue(b)) if b.describe() == "redb backend"));
        assert!(matches!(find(&capabilities, "trellis+builtin://blobstore"), Some(Builtin::Blobstore(_))));
        assert!(matches!(find(&capabilities, "registry.example.com:5000/wasmcloud/blobstore-fs:0.11.1"), Some(Builtin::Blobstore(_))), "any registry, any version");
        assert!(matches!(find(&capabilities, "ghcr.io/wasmcloud/http-server:0.27.0"), Some(Builtin::HttpServer)));
        assert!(matches!(find(&capabilities, "wasmcloud+builtin://http-client"), Some(Builtin::HttpClient)));
        assert!(find(&capabilities, "ghcr.io/wasmcloud/keyvalue-redis:0.28.1").is_none(), "not registered here");
        assert!(find(&capabilities, "./provider.par.gz").is_none(), "a file is a provider archive");
        assert!(capabilities.is_builtin_provider("wasmcloud+builtin://messaging") && !capabilities.is_builtin_provider("ghcr.io/acme/custom:1.0.0"));
        let listed = capabilities.describe();
        assert!(listed.starts_with("wasmcloud+builtin://http-server (ghcr.io/wasmcloud/http-server)"), "{listed}");
        assert!(listed.contains("wasmcloud+builtin://blobstore-fs (ghcr.io/wasmcloud/blobstore-fs), wasmcloud+builtin://blobstore,"), "{listed}");
    }
}
