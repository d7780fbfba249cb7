//! The seam between a Trellis host and the backends of its capabilities.
//!
//! A capability interface (`wasi:keyvalue`, `wasi:blobstore`, `wasmcloud:messaging`,
//! `wasmcloud:postgres`) is served to components by its interface crate, over an instance type
//! that crate defines (`Arc<dyn Store>`, `Arc<dyn BlobStore>`, ...). A **backend** of it (Redis,
//! a NATS bucket, a directory, PostgreSQL) is a [`Backend`] of that instance type, in a crate of
//! its own: which `wasmcloud+builtin://` names and which wasmCloud provider images it answers
//! to, and how it reads and checks its own link config ([`LinkConfig`]) and opens. The binary
//! registers every backend once; the host finds a capability's backend by its image, hands it
//! the link's config, and grants what it opened. Adding a backend is a crate and one
//! registration line; the host never learns its keys.
//!
//! **Owns** the [`Backend`] trait, the view of a link's config a backend reads, and the error
//! it answers with ([`OpenError`]).
//! **Must not** know manifests, components or the lattice: the host resolves the config (the
//! capability's own, the link's target config and secrets) before a backend sees it.
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A backend of a capability interface whose instances are `T` (e.g. `dyn Store`).
#[async_trait::async_trait]
pub trait Backend<T: ?Sized>: Send + Sync + 'static {
    /// The names it answers to as `wasmcloud+builtin://<name>` (and `trellis+builtin://`).
    fn names(&self) -> &'static [&'static str];

    /// The OCI repository of the wasmCloud provider it stands in for (`wasmcloud/keyvalue-redis`),
    /// matched in any registry at any version; `None` when it has no wasmCloud counterpart.
    fn replaces(&self) -> Option<&'static str> {
        None
    }

    /// What it is, for errors: `redis backend`, `filesystem blobstore`.
    fn describe(&self) -> &'static str;

    /// Reads and checks the link's config, and opens the backend (connecting to its server,
    /// if it has one), once per capability of a deploy: every link to the capability shares it.
    async fn open(&self, link: &LinkConfig<'_>) -> Result<Arc<T>, OpenError>;
}

/// Why a backend did not open. Both carry the reason only: the host adds where it happened
/// (the manifest field, the link, the capability).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// A value of the link's config is wrong: the reason names the key and what is wrong.
    #[error("{0}")]
    Config(String),
    /// The backend could not be reached or opened (or a key it needs is missing).
    #[error("{0}")]
    Unavailable(String),
}

/// The config a link hands the backend of its capability, resolved: the capability's own
/// config, overridden by the link's target config and secrets.
#[derive(Debug, Clone, Copy)]
pub struct LinkConfig<'a> {
    values: &'a BTreeMap<String, String>,
    /// Where the backend keeps data of its own, if it keeps any.
    pub place: Place<'a>,
}

/// Where a capability sits, for backends that keep data on this host (a redb file, a
/// directory of blobs).
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The application's name.
    pub app: &'a str,
    /// The capability's name in the manifest.
    pub capability: &'a str,
    /// The host's state directory.
    pub state_dir: &'a Path,
    /// The manifest's directory: relative paths in the config are relative to it.
    pub base_dir: &'a Path,
}

impl Place<'_> {
    /// This capability's own place under the state directory for `interface` data
    /// (`<state>/<interface>/<app>/<capability>`), the same across restarts.
    pub fn data_path(&self, interface: &str) -> PathBuf {
        self.state_dir.join(interface).join(self.app).join(self.capability)
    }
}

impl<'a> LinkConfig<'a> {
    /// The config `values` of a capability at `place`.
    pub fn new(values: &'a BTreeMap<String, String>, place: Place<'a>) -> LinkConfig<'a> {
        LinkConfig { values, place }
    }

    /// A value by case-insensitive key, as wasmCloud's providers read them.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        lookup(self.values, key)
    }

    /// Whether `key` is set to `true` (any case).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `key` parsed as a `T`, `None` when unset; the error names the key and the value.
    pub fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, OpenError> {
        self.get(key).map(|v| v.parse().map_err(|_| OpenError::Config(format!("{key} `{v}` is not {what}")))).transpose()
    }

    /// `key`, or an error saying it is missing, with an example of a value.
    pub fn require(&self, key: &str, example: &str) -> Result<&'a str, OpenError> {
        self.get(key).ok_or_else(|| {
            OpenError::Unavailable(format!("no `{key}` in the link's target config or the capability's config (e.g. {key}: {example})"))
        })
    }
}

/// A value of `config` by case-insensitive key, as wasmCloud's providers read them.
pub fn lookup<'a>(config: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    config.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// The backends of one capability interface, as the binary registered them.
pub struct Backends<T: ?Sized> {
    all: Vec<Arc<dyn Backend<T>>>,
}

impl<T: ?Sized> Default for Backends<T> {
    fn default() -> Self {
        Backends { all: Vec::new() }
    }
}

impl<T: ?Sized> Clone for Backends<T> {
    fn clone(&self) -> Self {
        Backends { all: self.all.clone() }
    }
}

impl<T: ?Sized + 'static> Backends<T> {
    /// Adds `backend`.
    ///
    /// # Panics
    /// If one of its names or its provider image is registered already: a registry is built
    /// once, by the binary, so that is a programming error.
    pub fn register(&mut self, backend: impl Backend<T>) {
        for name in backend.names() {
            assert!(self.named(name).is_none(), "two backends are named `{name}`");
        }
        if let Some(repository) = backend.replaces() {
            assert!(self.replacing(repository).is_none(), "two backends replace `{repository}`");
        }
        self.all.push(Arc::new(backend));
    }

    /// The backend named `name` (`wasmcloud+builtin://<name>`).
    pub fn named(&self, name: &str) -> Option<&Arc<dyn Backend<T>>> {
        self.all.iter().find(|b| b.names().contains(&name))
    }

    /// The backend that stands in for wasmCloud's provider image `repository`.
    pub fn replacing(&self, repository: &str) -> Option<&Arc<dyn Backend<T>>> {
        self.all.iter().find(|b| b.replaces() == Some(repository))
    }

    /// Every backend, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Backend<T>>> {
        self.all.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static [&'static str], Option<&'static str>);

    #[async_trait::async_trait]
    impl Backend<str> for Fixed {
        fn names(&self) -> &'static [&'static str] {
            self.0
        }
        fn replaces(&self) -> Option<&'static str> {
            self.1
        }
        fn describe(&self) -> &'static str {
            "fixed backend"
        }
        async fn open(&self, link: &LinkConfig<'_>) -> Result<Arc<str>, OpenError> {
            Ok(Arc::from(link.require("value", "x")?))
        }
    }

    fn place() -> Place<'static> {
        Place { app: "shop", capability: "kv", state_dir: Path::new("/state"), base_dir: Path::new("/app") }
    }

    #[test]
    fn keys_are_read_regardless_of_case_and_checked() {
        let values = BTreeMap::from([("URL".to_owned(), "redis://x".to_owned()), ("num".to_owned(), "x".to_owned()), ("On".to_owned(), "TRUE".to_owned())]);
        let link = LinkConfig::new(&values, place());
        assert_eq!(link.get("url"), Some("redis://x"));
        assert!(link.flag("on") && !link.flag("off"));
        assert_eq!(link.parse::<u32>("NUM", "a number").unwrap_err(), OpenError::Config("NUM `x` is not a number".into()));
        assert_eq!(link.parse::<u32>("missing", "a number").unwrap(), None);
        assert_eq!(
            link.require("bucket", "counters").unwrap_err().to_string(),
            "no `bucket` in the link's target config or the capability's config (e.g. bucket: counters)"
        );
        assert_eq!(place().data_path("keyvalue"), Path::new("/state/keyvalue/shop/kv"));
    }

    #[tokio::test]
    async fn backends_are_found_by_name_or_by_the_image_they_replace() {
        let mut backends = Backends::<str>::default();
        backends.register(Fixed(&["one", "uno"], Some("wasmcloud/one")));
        backends.register(Fixed(&["two"], None));
        assert_eq!(backends.named("uno").unwrap().describe(), "fixed backend");
        assert!(backends.replacing("wasmcloud/one").is_some() && backends.replacing("wasmcloud/two").is_none());
        let values = BTreeMap::from([("value".to_owned(), "v".to_owned())]);
        let opened = backends.named("two").unwrap().open(&LinkConfig::new(&values, place())).await.unwrap();
        assert_eq!(&*opened, "v");
        assert_eq!(backends.iter().count(), 2);
    }

    #[test]
    #[should_panic(expected = "two backends are named `one`")]
    fn a_name_registered_twice_is_refused() {
        let mut backends = Backends::<str>::default();
        backends.register(Fixed(&["one"], None));
        backends.register(Fixed(&["one"], None));
    }
}
