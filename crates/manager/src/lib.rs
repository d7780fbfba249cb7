//! The Trellis deployment manager: keeps declared applications running, with wadm's semantics.
//!
//! **Owns** the manifest store and its versions ([`Store`]), the wadm API on
//! `wadm.api.<lattice>.model.*`, named config, the scalers (pure functions in [`scaler`]), a
//! level-triggered reconciler, deploy-time checks across applications, and a status per
//! application and scaler that says why.
//!
//! **Must not** talk to wasmtime or run components: it reaches hosts only through a [`Fleet`],
//! and clients only through the lattice.
//!
//! Start at [`Manager::start`].
#![warn(missing_docs)]

mod api;
mod catalogue;
mod checks;
mod links;
mod plan;
mod reconcile;
pub mod scaler;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use trellis_lattice::Lattice;
use trellis_types::manifest::Manifest;
use trellis_types::placement::{Assignment, Failure, HostReport};
use trellis_types::wadm::Status;

pub use api::{BASE_DIR_HEADER, SOURCE_HEADER};
pub use store::{Store, StoreError};

/// Settings of a manager.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// The lattice's name: the `<lattice>` in every subject.
    pub lattice: String,
    /// How often every deployed application is recomputed from scratch, whatever happened.
    pub resync_interval: Duration,
}

/// Something an application takes exclusively, such as an HTTP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// What is taken, for people and for comparison (`HTTP address 0.0.0.0:8080`).
    pub resource: String,
    /// The manifest field that takes it.
    pub field: String,
}

/// The hosts a manager places applications on.
#[async_trait::async_trait]
pub trait Fleet: Send + Sync + 'static {
    /// What every live host runs, with its labels.
    async fn reports(&self) -> Vec<HostReport>;
    /// Makes `host` run `assignment` for its application (replacing what ran before only once
    /// the new one serves), or says why it cannot.
    async fn apply(&self, host: &str, assignment: Assignment) -> Result<(), Failure>;
    /// Stops the application `app` on `host`.
    async fn remove(&self, host: &str, app: &str);
    /// What `manifest` would take exclusively if deployed (HTTP addresses and routes).
    fn claims(&self, manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim>;
}

/// A running manager. Dropping it does not stop its tasks; call [`Manager::stop`].
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: ManagerConfig,
    fleet: Arc<dyn Fleet>,
    lattice: Arc<dyn Lattice>,
    catalogue: tokio::sync::Mutex<catalogue::Catalogue>,
    /// App → (the version it was computed for, its status).
    statuses: Mutex<BTreeMap<String, (String, Status)>>,
    work: Mutex<reconcile::Work>,
    dirty: Mutex<reconcile::Dirty>,
    wake: Notify,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Manager {
    /// Loads the catalogue from `store`, serves the API on `lattice` and starts reconciling.
    pub async fn start(config: ManagerConfig, store: Store, lattice: Arc<dyn Lattice>, fleet: Arc<dyn Fleet>) -> Result<Manager, StartError> {
        let catalogue = catalogue::Catalogue::load(store)?;
        let inner = Arc::new(Inner {
            config,
            fleet,
            lattice,
            catalogue: tokio::sync::Mutex::new(catalogue),
            statuses: Mutex::default(),
            work: Mutex::new(reconcile::Work { in_flight: HashMap::new(), backoff: HashMap::new() }),
            dirty: Mutex::default(),
            wake: Notify::new(),
            tasks: Mutex::default(),
        });
        let subscriptions = api::subscribe(&inner).await?;
        let api = tokio::spawn(api::serve(inner.clone(), subscriptions));
        let reconciler = tokio::spawn(reconcile::run(inner.clone()));
        inner.tasks.lock().expect("task list poisoned").extend([api, reconciler]);
        Ok(Manager { inner })
    }

    /// Tells the manager the fleet changed (a host came, went or changed labels).
    pub fn hosts_changed(&self) {
        self.inner.mark_all();
    }

    /// The last computed status of `app`.
    pub fn status(&self, app: &str) -> Option<Status> {
        self.inner.statuses.lock().expect("status map poisoned").get(app).map(|(_, s)| s.clone())
    }

    /// Stops serving the API and reconciling. Running applications keep running.
    pub fn stop(&self) {
        for task in self.inner.tasks.lock().expect("task list poisoned").drain(..) {
            task.abort();
        }
    }
}

/// Why a manager could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The API subjects could not be subscribed.
    #[error("serving the wadm API: {0}")]
    Lattice(#[from] trellis_lattice::LatticeError),
}
