//! The Trellis deployment manager: keeps declared applications running, with wadm's semantics.
//!
//! **Owns** the manifest store and its versions ([`Store`]), the wadm API on
//! `wadm.api.<lattice>.model.*`, named config, the scalers (pure functions in [`scaler`]), a
//! level-triggered reconciler, deploy-time checks across applications, a status per
//! application and scaler that says why, and the [`Lease`] that lets one of several managers of
//! a lattice act while the others stand by.
//!
//! It also owns [`RemoteFleet`], the hosts of a lattice as a manager in another process sees
//! them (from their heartbeats) and reaches them (`trellis.host.v1.<lattice>.<host>.*`).
//!
//! **Must not** talk to wasmtime or run components: it reaches hosts only through a [`Fleet`],
//! and clients only through the lattice.
//!
//! Start at [`Manager::start`].
#![warn(missing_docs)]

mod api;
mod catalogue;
mod checks;
mod host_directory;
mod lease;
mod links;
mod plan;
mod reconcile;
mod remote;
pub mod scaler;
mod store;
mod telemetry;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use trellis_lattice::Lattice;
use trellis_types::manifest::Manifest;
use trellis_types::placement::{Assignment, Failure, HostReport};
use trellis_types::wadm::Status;

pub use api::{BASE_DIR_HEADER, SOURCE_HEADER};
pub use lease::Lease;
pub use remote::{ClaimsOf, RemoteFleet};
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

/// A manager. Without a [`Lease`] it acts at once, as the only manager (embedded mode); with one
/// it stands by until it holds the lease, acts while it does, and stands by again if it loses
/// it, so several managers can run against one lattice and one takes over when another dies.
/// Dropping it does not stop its tasks; call [`Manager::stop`].
#[derive(Clone)]
pub struct Manager {
    seat: Arc<Seat>,
}

struct Seat {
    /// The term in office, while this manager acts.
    current: Mutex<Option<Term>>,
    election: Mutex<Option<tokio::task::JoinHandle<()>>>,
    lease: Option<Arc<Lease>>,
}

impl Manager {
    /// Starts a manager of `config.lattice` keeping its state in `store` and placing on `fleet`.
    /// Without a lease, the store is loaded and the API served before this returns.
    pub async fn start(
        config: ManagerConfig,
        store: Store,
        lease: Option<Lease>,
        lattice: Arc<dyn Lattice>,
        fleet: Arc<dyn Fleet>,
    ) -> Result<Manager, StartError> {
        let Some(lease) = lease else {
            let term = Term::start(config, store, lattice, fleet).await?;
            let seat = Seat { current: Mutex::new(Some(term)), election: Mutex::default(), lease: None };
            return Ok(Manager { seat: Arc::new(seat) });
        };
        // The lease is usually free when the first manager starts: then it acts before this
        // returns, and a client right behind it finds the API served.
        let mut current = None;
        if lease.acquire_if_free().await {
            match Term::start(config.clone(), store.clone(), lattice.clone(), fleet.clone()).await {
                Ok(term) => current = Some(term),
                Err(e) => {
                    lease.release().await;
                    return Err(e);
                }
            }
        }
        let lease = Arc::new(lease);
        let seat = Arc::new(Seat { current: Mutex::new(current), election: Mutex::default(), lease: Some(lease.clone()) });
        let election = tokio::spawn(elect(seat.clone(), lease, config, store, lattice, fleet));
        *seat.election.lock().expect("election poisoned") = Some(election);
        Ok(Manager { seat })
    }

    /// Whether this manager acts now (rather than standing by).
    pub fn acting(&self) -> bool {
        self.seat.current.lock().expect("term poisoned").is_some()
    }

    /// Tells the manager the fleet changed (a host came, went or changed labels).
    pub fn hosts_changed(&self) {
        if let Some(term) = self.seat.current.lock().expect("term poisoned").as_ref() {
            term.inner.mark_all();
        }
    }

    /// Stops serving the API and reconciling, and gives the lease up so a standby takes over at
    /// once. Running applications keep running.
    pub async fn stop(&self) {
        if let Some(election) = self.seat.election.lock().expect("election poisoned").take() {
            election.abort();
        }
        if let Some(term) = self.seat.current.lock().expect("term poisoned").take() {
            term.stop();
        }
        if let Some(lease) = &self.seat.lease {
            lease.release().await;
        }
    }
}

/// Acts while the lease is held, and waits for it again once it is lost.
async fn elect(seat: Arc<Seat>, lease: Arc<Lease>, config: ManagerConfig, store: Store, lattice: Arc<dyn Lattice>, fleet: Arc<dyn Fleet>) {
    let lattice_name = config.lattice.clone();
    loop {
        if seat.current.lock().expect("term poisoned").is_none() {
            lease.acquire().await;
            match Term::start(config.clone(), store.clone(), lattice.clone(), fleet.clone()).await {
                Ok(term) => *seat.current.lock().expect("term poisoned") = Some(term),
                Err(e) => {
                    tracing::error!(lattice = %lattice_name, error = %e, "cannot act for the lattice; giving the lease up");
                    lease.release().await;
                    tokio::time::sleep(lease.term()).await;
                    continue;
                }
            }
        }
        tracing::info!(lattice = %lattice_name, holder = lease.holder(), "this manager holds the lease and acts for the lattice");
        let why = lease.hold().await;
        tracing::warn!(lattice = %lattice_name, "standing by: {why}");
        if let Some(term) = seat.current.lock().expect("term poisoned").take() {
            term.stop();
        }
    }
}

/// One stretch of acting: the catalogue loaded afresh, the API served, the reconciler running.
struct Term {
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

impl Term {
    /// Loads the catalogue from `store`, serves the API on `lattice` and starts reconciling.
    async fn start(config: ManagerConfig, store: Store, lattice: Arc<dyn Lattice>, fleet: Arc<dyn Fleet>) -> Result<Term, StartError> {
        let catalogue = catalogue::Catalogue::load(store).await?;
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
        telemetry::watch_statuses(Arc::downgrade(&inner));
        let reconciler = tokio::spawn(reconcile::run(inner.clone()));
        inner.tasks.lock().expect("task list poisoned").extend([api, reconciler]);
        Ok(Term { inner })
    }

    fn stop(&self) {
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
