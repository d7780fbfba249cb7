//! External capability providers: native processes that serve a capability to components over
//! wRPC on the lattice's NATS server, as wasmCloud runs them.
//!
//! **Owns** the launch contract `wasmcloud-provider-sdk` expects: unpacking the executable for
//! this machine from a provider archive ([`archive`]), starting it with HostData on its stdin,
//! waiting until it answers, restarting it when it exits, telling it of link and config
//! changes (`wasmbus.rpc.<lattice>.<id>.linkdefs.*`, `config.update`), asking its health, and
//! shutting it down gracefully once nothing uses it.
//!
//! **Must not** read manifests or decide links (the host resolves them to [`LinkDefinition`]s),
//! fetch images (the host hands over the archive's bytes), or touch wasmtime. Calls between
//! components and providers are the `trellis-rpc` crate's: a provider is just a wRPC peer.
//!
//! Start at [`Launcher::start`].
#![warn(missing_docs)]

pub mod archive;
mod contract;
mod process;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use trellis_lattice::Lattice;

pub use archive::{ArchiveClaims, Unpacked};
pub use contract::{LinkDefinition, RpcAccess, Secrets};

/// Why a provider could not be started. Each names the provider or the archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The archive is unusable here.
    #[error("provider archive `{reference}`: {reason}")]
    Archive {
        /// Where it came from.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The process did not start, or did not become ready.
    #[error("provider `{provider_id}` did not start: {reason}")]
    Start {
        /// The provider's id.
        provider_id: String,
        /// What happened.
        reason: String,
    },
}

/// Why a provider is not healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// Its process exited (and is being restarted).
    #[error("{0}")]
    Exited(String),
    /// It did not answer the health request in time.
    #[error("no answer to its health request: {0}")]
    NoAnswer(String),
    /// It answered that it is unhealthy, with its message.
    #[error("{0}")]
    Reported(String),
    /// Its answer is not wasmCloud's health shape.
    #[error("its health answer is not wasmCloud's: {0}")]
    Malformed(String),
}

/// Starts provider processes for the hosts of one process on one lattice. Cheap to clone.
#[derive(Clone)]
pub struct Launcher {
    inner: Arc<LauncherInner>,
}

pub(crate) struct LauncherInner {
    pub(crate) lattice: Arc<dyn Lattice>,
    pub(crate) lattice_name: String,
    pub(crate) access: RpcAccess,
    cache_dir: PathBuf,
    /// The processes running, by host and provider id.
    running: Mutex<HashMap<(String, String), Weak<process::Process>>>,
}

/// What to start: one provider for one host.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The host it runs for.
    pub host_id: String,
    /// Its id on the lattice: components' links name it, and it serves under it.
    pub provider_id: String,
    /// The executable, as [`archive::unpack`] left it.
    pub binary: PathBuf,
    /// Its own config, merged.
    pub config: BTreeMap<String, String>,
    /// Every link it is the source or the target of.
    pub links: Vec<LinkDefinition>,
    /// Its own secrets, resolved: HostData carries them to it in the open, as wasmCloud's does.
    pub secrets: Secrets,
}

/// A running provider. It keeps running while any clone is held, through restarts of its
/// process, and is shut down when the last is dropped.
#[derive(Clone)]
pub struct Provider {
    process: Arc<process::Process>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("id", &self.process.state.provider_id).finish_non_exhaustive()
    }
}

impl Launcher {
    /// Starts providers that join `lattice` (named `lattice_name`) at `access`, unpacking
    /// archives into `cache_dir`.
    pub fn new(lattice: Arc<dyn Lattice>, lattice_name: &str, access: RpcAccess, cache_dir: PathBuf) -> Launcher {
        let inner = LauncherInner { lattice, lattice_name: lattice_name.to_owned(), access, cache_dir, running: Mutex::default() };
        Launcher { inner: Arc::new(inner) }
    }

    /// Where archives are unpacked.
    pub fn cache_dir(&self) -> &Path {
        &self.inner.cache_dir
    }

    /// Unpacks archive `bytes` (pulled from `reference`) for this machine.
    pub async fn unpack(&self, reference: &str, bytes: &[u8]) -> Result<Unpacked, ProviderError> {
        archive::unpack(reference, bytes, &self.inner.cache_dir).await
    }

    /// The provider `launch` describes: the process already running it for that host and
    /// executable, told of the links and config that changed, or a new process once it
    /// answers its first health request.
    pub async fn start(&self, launch: Launch) -> Result<Provider, ProviderError> {
        let key = (launch.host_id.clone(), launch.provider_id.clone());
        let existing = self.inner.running.lock().expect("running poisoned").get(&key).and_then(Weak::upgrade);
        if let Some(process) = existing.filter(|p| p.state.binary == launch.binary) {
            process.state.update(launch.config, launch.links, launch.secrets).await;
            return Ok(Provider { process });
        }
        let state = process::new_state(self.inner.clone(), launch);
        let process = Arc::new(process::Process::start(state).await?);
        let mut running = self.inner.running.lock().expect("running poisoned");
        running.retain(|_, p| p.strong_count() > 0);
        running.insert(key, Arc::downgrade(&process));
        Ok(Provider { process })
    }
}

impl Provider {
    /// Its id on the lattice.
    pub fn id(&self) -> &str {
        &self.process.state.provider_id
    }

    /// Whether it answers its health request as healthy within `timeout`; why not otherwise.
    pub async fn health(&self, timeout: Duration) -> Result<(), Unhealthy> {
        self.process.state.health(timeout).await
    }
}
