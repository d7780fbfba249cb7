//! The capabilities built into the host, and the wasmCloud provider images they stand in for.

use crate::artifact::ImageRef;

/// A built-in capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// `wasi:http/incoming-handler` server.
    HttpServer,
    /// `wasi:http/outgoing-handler`: outbound HTTP.
    HttpClient,
    /// `wasi:keyvalue` on Redis.
    KeyValueRedis,
    /// `wasi:keyvalue` on a NATS JetStream KV bucket.
    KeyValueNats,
    /// `wasi:keyvalue` in a redb file under the state directory: the embedded default.
    KeyValueRedb,
    /// `wasi:keyvalue` in memory.
    KeyValueMemory,
    /// `wasi:blobstore` in a directory.
    BlobstoreFs,
    /// `wasi:blobstore` on NATS JetStream object stores.
    BlobstoreNats,
    /// `wasi:blobstore` in memory.
    BlobstoreMemory,
    /// `wasmcloud:messaging` on a NATS server.
    MessagingNats,
    /// `wasmcloud:messaging` inside this process.
    MessagingInProcess,
    /// `wasmcloud:postgres` on a PostgreSQL server.
    Postgres,
}

/// `(builtin name, OCI repository of the wasmCloud provider it replaces, if any, capability)`.
pub(crate) const BUILTINS: &[(&str, Option<&str>, Builtin)] = &[
    ("http-server", Some("wasmcloud/http-server"), Builtin::HttpServer),
    ("http-client", Some("wasmcloud/http-client"), Builtin::HttpClient),
    ("keyvalue-redis", Some("wasmcloud/keyvalue-redis"), Builtin::KeyValueRedis),
    ("keyvalue-nats", Some("wasmcloud/keyvalue-nats"), Builtin::KeyValueNats),
    ("keyvalue", None, Builtin::KeyValueRedb),
    ("keyvalue-redb", None, Builtin::KeyValueRedb),
    ("keyvalue-memory", None, Builtin::KeyValueMemory),
    ("blobstore-fs", Some("wasmcloud/blobstore-fs"), Builtin::BlobstoreFs),
    ("blobstore", None, Builtin::BlobstoreFs),
    ("blobstore-nats", Some("wasmcloud/blobstore-nats"), Builtin::BlobstoreNats),
    ("blobstore-memory", None, Builtin::BlobstoreMemory),
    ("messaging-nats", Some("wasmcloud/messaging-nats"), Builtin::MessagingNats),
    ("messaging", None, Builtin::MessagingInProcess),
    ("sqldb-postgres", Some("wasmcloud/sqldb-postgres"), Builtin::Postgres),
];

/// The built-in capability an image names: a wasmCloud provider image from any registry at any
/// version, or `wasmcloud+builtin://<name>` / `trellis+builtin://<name>`.
pub(crate) fn builtin(image: &ImageRef) -> Option<Builtin> {
    match image {
        ImageRef::Builtin(name) => BUILTINS.iter().find(|(n, _, _)| n == name).map(|(_, _, b)| *b),
        ImageRef::Oci(_) => {
            let repo = image.oci_repository()?;
            BUILTINS.iter().find(|(_, r, _)| *r == Some(repo.as_str())).map(|(_, _, b)| *b)
        }
        ImageRef::File(_) => None,
    }
}

/// Whether provider image `image` (as the control interface names it) is a built-in capability
/// rather than a provider archive to run as a process.
pub(crate) fn is_builtin_provider(image: &str) -> bool {
    builtin(&ImageRef::parse(image, std::path::Path::new("."))).is_some()
}

/// Whether a built-in capability provides package `namespace:package` to components.
pub(crate) fn provides(namespace: &str, package: &str) -> bool {
    matches!((namespace, package), ("wasi", "http" | "keyvalue" | "blobstore") | ("wasmcloud", "messaging" | "postgres"))
}

/// The list shown when an image names no built-in capability.
pub(crate) fn describe() -> String {
    BUILTINS
        .iter()
        .map(|(name, repo, _)| match repo {
            Some(r) => format!("wasmcloud+builtin://{name} (ghcr.io/{r})"),
            None => format!("wasmcloud+builtin://{name}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
