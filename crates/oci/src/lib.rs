//! Components and provider archives in OCI registries, as wasmCloud keeps them: an image whose
//! layer is the component (`application/wasm`, or the older
//! `application/vnd.wasm.content.layer.v1+wasm` and
//! `application/vnd.module.wasm.content.layer.v1+wasm`), or the `.par.gz`
//! (`application/vnd.wasmcloud.provider.archive.layer.v1+par`).
//!
//! **Owns** pulling (with the host's registry policy: credentials per registry, which
//! registries speak plain HTTP, whether `latest` is allowed) and a cache of pulled components
//! by manifest digest, so a redeploy does not pull again; and pushing, as `wash push` does.
//! **Must not** know manifests or hosts: it turns a reference into bytes and back.

mod docker_config;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

pub use docker_config::{DockerConfigError, docker_config_credentials};

/// The layer media type of a component, as `wash push` writes it.
pub const WASM_LAYER: &str = "application/wasm";
/// The config media type of a component image.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media types of a component: `wash push`'s, then older ones it may have been
/// pushed with.
const COMPONENT_LAYERS: [&str; 3] = [WASM_LAYER, "application/vnd.wasm.content.layer.v1+wasm", "application/vnd.module.wasm.content.layer.v1+wasm"];
/// The layer media types of a provider archive, as `wash push` writes it and as OCI tools may.
const PROVIDER_LAYERS: [&str; 2] = [PROVIDER_LAYER, "application/vnd.oci.image.layer.v1.tar"];
/// The layer media type of a provider archive, as `wash push` writes it.
const PROVIDER_LAYER: &str = "application/vnd.wasmcloud.provider.archive.layer.v1+par";
/// The config media type of a provider archive image, as `wash push` writes it.
const PROVIDER_CONFIG: &str = "application/vnd.wasmcloud.provider.archive.config";

/// What to push.
#[derive(Debug)]
pub enum Artifact {
    /// A WebAssembly component.
    Component(Vec<u8>),
    /// A provider archive (`.par.gz`), already checked by the caller: this crate does not read
    /// archives.
    ProviderArchive(Vec<u8>),
}

/// What an image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A WebAssembly component.
    Component,
    /// A provider archive (`.par.gz`).
    ProviderArchive,
}

impl Kind {
    fn layers(self) -> &'static [&'static str] {
        match self {
            Kind::Component => &COMPONENT_LAYERS,
            Kind::ProviderArchive => &PROVIDER_LAYERS,
        }
    }

    /// `component` or `provider archive`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::ProviderArchive => "provider archive",
        }
    }

    /// The file extension it is kept under: `wasm` or `par.gz`.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Component => "wasm",
            Kind::ProviderArchive => "par.gz",
        }
    }
}

/// Told how much of a pull has arrived: bytes so far, and the total when the registry says.
pub type OnProgress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// Why a pull or push failed. The caller names the reference; credentials never appear.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The reference does not parse.
    #[error("not an OCI reference: {0}")]
    Reference(String),
    /// `latest` was asked for and the policy refuses it.
    #[error("the `latest` tag (or no tag) can change under a running application; pin a version or a digest, or allow it (--allow-latest)")]
    Latest,
    /// The registry failed or refused.
    #[error("{0}")]
    Registry(String),
    /// The image holds no component.
    #[error("the image holds no WebAssembly component (its layers: {0})")]
    NotAComponent(String),
    /// The image holds no provider archive.
    #[error("the image holds no provider archive (its layers: {0})")]
    NotAProvider(String),
    /// The image holds neither.
    #[error("the image holds neither a WebAssembly component nor a provider archive (its layers: {0})")]
    NotAnArtifact(String),
    /// What was to be pushed is not a component.
    #[error("not a WebAssembly component (a core module, or not wasm at all)")]
    NotComponentBytes,
    /// The component is over the size limit.
    #[error("the component is {size} bytes, over the {limit}-byte component size limit")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The local cache failed.
    #[error("the component cache at {path}: {reason}")]
    Cache {
        /// The cache file.
        path: String,
        /// What failed.
        reason: String,
    },
}

/// How a host reaches registries.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Registries (`host:port`) spoken to over plain HTTP, as wasmCloud's `--allowed-insecure`.
    pub insecure: Vec<String>,
    /// Whether `latest` (or no tag) may be pulled, as wasmCloud's `--allow-latest`.
    pub allow_latest: bool,
    /// The largest component accepted, in bytes.
    pub max_bytes: u64,
}

/// Credentials for one registry.
#[derive(Clone)]
pub enum Credentials {
    /// User name and password.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A bearer token.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// The registries a host pulls from, its credentials for them, and its cache.
pub struct Registries {
    client: Client,
    policy: Policy,
    credentials: RwLock<BTreeMap<String, Credentials>>,
    cache_dir: Option<PathBuf>,
}

impl Registries {
    /// Pulls under `policy`, with no cache.
    pub fn new(policy: Policy) -> Registries {
        Registries { client: client(&policy.insecure), policy, credentials: RwLock::default(), cache_dir: None }
    }

    /// Keeps pulled components in `dir`, by digest.
    pub fn with_cache(mut self, dir: PathBuf) -> Registries {
        self.cache_dir = Some(dir);
        self
    }

    /// Uses `credentials` for `registry` (`host[:port]`) from now on, as `registry.put` asks.
    pub fn set_credentials(&self, registry: &str, credentials: Credentials) {
        self.credentials.write().expect("credentials poisoned").insert(registry.to_owned(), credentials);
    }

    /// The component at `reference`: from the cache if its digest was pulled before.
    pub async fn pull(&self, reference: &str) -> Result<Vec<u8>, OciError> {
        self.pull_kinds(reference, &[Kind::Component], &|_, _| {}).await.map(|(bytes, _)| bytes)
    }

    /// The provider archive (`.par.gz`) at `reference`, as `wash push` stores one: from the
    /// cache if its digest was pulled before. The component size limit does not apply.
    pub async fn pull_provider(&self, reference: &str) -> Result<Vec<u8>, OciError> {
        self.pull_kinds(reference, &[Kind::ProviderArchive], &|_, _| {}).await.map(|(bytes, _)| bytes)
    }

    /// Whatever `reference` holds, a component or a provider archive, and which, telling
    /// `progress` as it arrives.
    pub async fn pull_any(&self, reference: &str, progress: OnProgress<'_>) -> Result<(Vec<u8>, Kind), OciError> {
        self.pull_kinds(reference, &[Kind::Component, Kind::ProviderArchive], progress).await
    }

    async fn pull_kinds(&self, reference: &str, kinds: &[Kind], progress: OnProgress<'_>) -> Result<(Vec<u8>, Kind), OciError> {
        let mut source = "registry";
        let pulled = self.pull_kinds_from(reference, kinds, progress, &mut source).await;
        static PULLS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
            trellis_telemetry::meter()
                .u64_counter("trellis.oci.pulls")
                .with_description("Artifacts pulled, by where they came from (`registry`, `cache`) or `failed`")
                .with_unit("{pull}")
                .build()
        });
        let outcome = if pulled.is_ok() { source } else { "failed" };
        PULLS.add(1, &[opentelemetry::KeyValue::new("trellis.outcome", outcome)]);
        pulled
    }

    async fn pull_kinds_from(&self, reference: &str, kinds: &[Kind], progress: OnProgress<'_>, source: &mut &'static str) -> Result<(Vec<u8>, Kind), OciError> {
        let parsed = parse(reference)?;
        if parsed.digest().is_none() && parsed.tag() == Some("latest") && !self.policy.allow_latest {
            return Err(OciError::Latest);
        }
        let auth = self.auth(&parsed);
        let registry = |e: oci_client::errors::OciDistributionError| OciError::Registry(e.to_string());
        // A reference pinned to a digest is served from the cache without asking the registry;
        // a tag is resolved first, as it may have moved.
        let digest = match parsed.digest() {
            Some(digest) => digest.to_owned(),
            None => self.client.fetch_manifest_digest(&parsed, &auth).await.map_err(registry)?,
        };
        let cached = |kind: Kind| self.cache_dir.as_ref().map(|dir| dir.join(format!("{}.{}", digest.replace(':', "_"), kind.extension())));
        for &kind in kinds {
            if let Some(path) = cached(kind)
                && let Ok(bytes) = tokio::fs::read(&path).await
            {
                tracing::debug!(%reference, %digest, "{} from the OCI cache", kind.name());
                *source = "cache";
                return Ok((bytes, kind));
            }
        }
        let (manifest, _) = self.client.pull_image_manifest(&parsed, &auth).await.map_err(registry)?;
        let found = manifest.layers.iter().find_map(|l| kinds.iter().find(|k| k.layers().contains(&l.media_type.as_str())).map(|k| (l, *k)));
        let Some((layer, kind)) = found else {
            let layers = manifest.layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ");
            return Err(match kinds {
                [Kind::Component] => OciError::NotAComponent(layers),
                [Kind::ProviderArchive] => OciError::NotAProvider(layers),
                _ => OciError::NotAnArtifact(layers),
            });
        };
        // A component over the limit is refused before it is downloaded.
        let declared = u64::try_from(layer.size).unwrap_or_default();
        if kind == Kind::Component && declared > self.policy.max_bytes {
            return Err(OciError::TooLarge { size: declared, limit: self.policy.max_bytes });
        }
        let bytes = self.download(&parsed, layer, kind, progress).await?;
        if let Some(path) = cached(kind) {
            write_atomically(&path, &bytes).await?;
        }
        tracing::info!(%reference, %digest, size = bytes.len(), "{} pulled", kind.name());
        Ok((bytes, kind))
    }

    /// The layer's bytes, checked against its digest as they arrive, and held to the component
    /// size limit whatever the manifest declared.
    async fn download(&self, reference: &Reference, layer: &oci_client::manifest::OciDescriptor, kind: Kind, progress: OnProgress<'_>) -> Result<Vec<u8>, OciError> {
        let registry = |e: String| OciError::Registry(e);
        let blob = self.client.pull_blob_stream(reference, layer).await.map_err(|e| registry(e.to_string()))?;
        let total = blob.content_length.or(u64::try_from(layer.size).ok());
        let mut bytes = Vec::with_capacity(total.map_or(0, |t| usize::try_from(t).unwrap_or(0)));
        let mut stream = blob.stream;
        progress(0, total);
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            bytes.extend_from_slice(&chunk.map_err(|e| registry(e.to_string()))?);
            let size = bytes.len() as u64;
            if kind == Kind::Component && size > self.policy.max_bytes {
                return Err(OciError::TooLarge { size, limit: self.policy.max_bytes });
            }
            progress(size, total);
        }
        Ok(bytes)
    }

    fn auth(&self, reference: &Reference) -> RegistryAuth {
        registry_auth(self.credentials.read().expect("credentials poisoned").get(reference.resolve_registry()))
    }
}

/// How `oci-client` takes `credentials`; none is anonymous.
fn registry_auth(credentials: Option<&Credentials>) -> RegistryAuth {
    match credentials {
        Some(Credentials::Basic { username, password }) => RegistryAuth::Basic(username.clone(), password.clone()),
        Some(Credentials::Token(token)) => RegistryAuth::Bearer(token.clone()),
        None => RegistryAuth::Anonymous,
    }
}

/// Pushes `artifact` to `reference` as `wash push` does; returns the manifest's URL.
pub async fn push(reference: &str, artifact: Artifact, insecure: &[String], credentials: Option<Credentials>) -> Result<String, OciError> {
    let parsed = parse(reference)?;
    let (layer, config) = match artifact {
        Artifact::Component(component) => {
            if !is_component(&component) {
                return Err(OciError::NotComponentBytes);
            }
            let layer = ImageLayer::new(component, WASM_LAYER.to_owned(), None);
            let config = serde_json::json!({"architecture": "wasm", "os": "wasip2", "layerDigests": [layer.sha256_digest()]});
            (layer, Config::new(config.to_string().into_bytes(), WASM_CONFIG.to_owned(), None))
        }
        Artifact::ProviderArchive(archive) => {
            (ImageLayer::new(archive, PROVIDER_LAYER.to_owned(), None), Config::new(b"{}".to_vec(), PROVIDER_CONFIG.to_owned(), None))
        }
    };
    let client = client(insecure);
    let auth = registry_auth(credentials.as_ref());
    let pushed = client.push(&parsed, &[layer], config, &auth, None).await;
    pushed.map(|r| r.manifest_url).map_err(|e| OciError::Registry(e.to_string()))
}

/// Whether `bytes` start as a WebAssembly component does: the magic, then the component
/// encoding's version and layer.
fn is_component(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// Parses `reference`, lower-cased as wasmCloud hosts take references.
fn parse(reference: &str) -> Result<Reference, OciError> {
    reference.to_ascii_lowercase().parse().map_err(|e: oci_client::ParseError| OciError::Reference(e.to_string()))
}

fn client(insecure: &[String]) -> Client {
    let protocol = if insecure.is_empty() { ClientProtocol::Https } else { ClientProtocol::HttpsExcept(insecure.to_vec()) };
    Client::new(ClientConfig { protocol, ..ClientConfig::default() })
}

async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), OciError> {
    let fail = |e: std::io::Error| OciError::Cache { path: path.display().to_string(), reason: e.to_string() };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    }
    let partial = path.with_extension("partial");
    tokio::fs::write(&partial, bytes).await.map_err(fail)?;
    tokio::fs::rename(&partial, path).await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn latest_is_refused_unless_allowed_and_bad_references_are_named() {
        let registries = Registries::new(Policy { max_bytes: 1 << 20, ..Policy::default() });
        for reference in ["ghcr.io/acme/app", "ghcr.io/acme/app:latest"] {
            let err = registries.pull(reference).await.unwrap_err().to_string();
            assert!(err.starts_with("the `latest` tag"), "{err}");
        }
        let err = registries.pull("ghcr.io/acme/app:no tags with spaces").await.unwrap_err().to_string();
        assert!(err.starts_with("not an OCI reference"), "{err}");
        assert_eq!(format!("{:?}", Credentials::Basic { username: "u".into(), password: "p".into() }), "Basic(u, ***)");
        let err = push("127.0.0.1:1/acme/app:1", Artifact::Component(b"\0asm\x01\0\0\0".to_vec()), &[], None).await.unwrap_err().to_string();
        assert!(err.contains("not a WebAssembly component"), "{err}");
    }
}
