//! [`LocalFleet`], the hosts of this process: what a manager in this process places on, and
//! what `ctl` serves on the control interface, so a manager in another
//! process (or a wasmCloud client) reaches them as it would reach wasmCloud hosts, and
//! `lattice_data` answers `link.*` and `config.*` as wasmCloud's hosts do, so any manager can.

mod ctl;
mod claims;
mod health;
mod lattice_data;
mod providers;
mod scale;

use std::sync::{Arc, RwLock};

use trellis_types::placement::{Assignment, Failure, HostReport};

use crate::Host;

/// The hosts of one process: several in embedded mode (so placement is real without NATS), one
/// in `trellis host`.
pub struct LocalFleet {
    hosts: RwLock<Vec<Arc<Host>>>,
    /// Called when a host leaves or its labels change.
    on_change: Box<dyn Fn() + Send + Sync>,
    /// Set once the control interface is served: where events go.
    events: std::sync::OnceLock<ctl::Events>,
    /// Held while links are read and applied, so of two quick link changes the later one's
    /// reading is the one applied last; and while a control-interface command starts, scales or
    /// stops what runs outside manifests, so a relink never brings back what a stop just
    /// stopped, nor misses what a start is starting.
    relinking: tokio::sync::Mutex<()>,
    /// Links and named config, for when no manager answers for them.
    data: lattice_data::LatticeData,
}

impl LocalFleet {
    /// A fleet of `hosts`; `on_change` is called whenever one stops or its labels change.
    pub fn new(hosts: Vec<Arc<Host>>, on_change: impl Fn() + Send + Sync + 'static) -> LocalFleet {
        LocalFleet { hosts: RwLock::new(hosts), on_change: Box::new(on_change), events: std::sync::OnceLock::new(), relinking: tokio::sync::Mutex::new(()), data: lattice_data::LatticeData::new() }
    }

    /// The live hosts.
    pub fn hosts(&self) -> Vec<Arc<Host>> {
        self.hosts.read().expect("host list poisoned").clone()
    }

    fn host(&self, id: &str) -> Option<Arc<Host>> {
        self.hosts().into_iter().find(|h| h.id() == id)
    }

    /// Stops host `id` and everything it runs; the manager re-places its share elsewhere.
    pub async fn stop_host(&self, id: &str) -> bool {
        let host = {
            let mut hosts = self.hosts.write().expect("host list poisoned");
            let Some(i) = hosts.iter().position(|h| h.id() == id) else {
                return false;
            };
            hosts.remove(i)
        };
        host.stop().await;
        tracing::info!(host = id, "host stopped");
        if let Some(events) = self.events.get() {
            events.host_stopped(&host).await;
        }
        (self.on_change)();
        true
    }

    /// Stops every host, saying so on the lattice.
    pub async fn stop_all(&self) {
        for host in self.hosts() {
            self.stop_host(host.id()).await;
        }
    }

    /// Sets (`Some`) or removes (`None`) a label of host `id`; false if it is not here.
    pub async fn set_label(&self, id: &str, key: &str, value: Option<&str>) -> bool {
        let Some(host) = self.host(id) else {
            return false;
        };
        host.set_label(key, value);
        if let Some(events) = self.events.get() {
            events.labels_changed(&host).await;
        }
        (self.on_change)();
        true
    }
}

impl LocalFleet {
    /// What every host here runs, with its labels.
    pub async fn reports(&self) -> Vec<HostReport> {
        let mut reports = Vec::new();
        for host in self.hosts() {
            reports.push(host.report().await);
        }
        reports
    }

    /// Makes host `host` run `assignment` for its application, or says why it cannot.
    pub async fn apply(&self, host: &str, assignment: Assignment) -> Result<(), Failure> {
        match self.host(host) {
            Some(h) => h.apply(&assignment).await,
            None => Err(Failure { revision: assignment.revision, field: None, message: format!("host {host} is gone") }),
        }
    }

    /// Stops application `app` on host `host`.
    pub async fn remove(&self, host: &str, app: &str) {
        if let Some(h) = self.host(host) {
            h.remove(app).await;
        }
    }
}
