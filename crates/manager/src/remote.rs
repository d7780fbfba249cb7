//! The hosts of a lattice as a manager in another process sees them: known from their
//! heartbeats and events, reached with `trellis.host.v1.<lattice>.<host>.apply|remove`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::time::Instant;
use trellis_lattice::{Lattice, LatticeError, Message};
use trellis_types::inventory::{CloudEvent, HostInventory, event_subject};
use trellis_types::manifest::Manifest;
use trellis_types::placement::{Assignment, AssignmentMessage, Failure, HostReport, placement_prefix};

use crate::{Claim, Fleet};

/// What a manifest would take exclusively, by what the hosts make of it: given by whoever knows
/// the capabilities (the binary hands over the host's rule), since the manager does not.
pub type ClaimsOf = Box<dyn Fn(&Manifest, &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim> + Send + Sync>;

/// How long an apply may take on a host: pulls and compiles of large components included.
const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// The Trellis hosts of a lattice, for a manager that runs apart from them.
pub struct RemoteFleet {
    lattice: Arc<dyn Lattice>,
    name: String,
    hosts: Mutex<HashMap<String, Seen>>,
    on_change: Box<dyn Fn() + Send + Sync>,
    claims: ClaimsOf,
}

struct Seen {
    report: HostReport,
    last: Instant,
}

impl RemoteFleet {
    /// Starts following the hosts of lattice `name`. A host counts as gone once nothing was
    /// heard from it for 1.5 × `heartbeat`, so its share is re-placed within two intervals.
    /// `on_change` is called whenever a host comes, goes, or reports something new; `claims`
    /// says what a manifest would take exclusively.
    pub async fn start(
        lattice: Arc<dyn Lattice>,
        name: &str,
        heartbeat: Duration,
        on_change: impl Fn() + Send + Sync + 'static,
        claims: ClaimsOf,
    ) -> Result<Arc<RemoteFleet>, LatticeError> {
        let fleet = Arc::new(RemoteFleet { lattice: lattice.clone(), name: name.to_owned(), hosts: Mutex::default(), on_change: Box::new(on_change), claims });
        let mut events = futures::stream::select_all([
            lattice.subscribe(&event_subject(name, "host_heartbeat"), None).await?,
            lattice.subscribe(&event_subject(name, "host_stopped"), None).await?,
        ]);
        let follower = fleet.clone();
        tokio::spawn(async move {
            while let Some(message) = events.next().await {
                follower.heard(&message);
            }
        });
        // wasmCloud's clients (its dashboard library) read the lattice's hosts where wadm keeps them.
        if let Err(e) = crate::host_directory::keep(lattice.clone(), name, heartbeat).await {
            tracing::warn!(error = %e, "wadm's host directory (wadm_state) is not kept: wasmCloud's dashboard will list no hosts");
        }
        // Every host answers with a heartbeat at once, so a fresh manager need not wait a whole
        // interval to know the lattice.
        lattice.publish(Message::new(format!("{}.heartbeat", placement_prefix(name)), Vec::new())).await?;
        let expiry = heartbeat.mul_f32(1.5);
        let reaper = Arc::downgrade(&fleet);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat / 4);
            loop {
                ticks.tick().await;
                let Some(fleet) = reaper.upgrade() else {
                    return;
                };
                fleet.expire(expiry);
            }
        });
        Ok(fleet)
    }

    fn heard(&self, message: &Message) {
        let Ok(event) = serde_json::from_slice::<CloudEvent>(&message.payload) else {
            return;
        };
        let changed = match event.name() {
            "host_heartbeat" => {
                let Ok(inventory) = serde_json::from_value::<HostInventory>(event.data) else {
                    return;
                };
                // Hosts that are not Trellis hosts cannot take assignments; they are not ours to place on.
                let Some(report) = inventory.report() else {
                    return;
                };
                self.update(report)
            }
            "host_stopped" => self.hosts.lock().expect("host table poisoned").remove(&event.source).is_some(),
            _ => false,
        };
        if changed {
            (self.on_change)();
        }
    }

    /// Records `report`; true if it differs from what was known.
    fn update(&self, report: HostReport) -> bool {
        let mut hosts = self.hosts.lock().expect("host table poisoned");
        let last = Instant::now();
        match hosts.get_mut(&report.id) {
            Some(seen) if seen.report == report => {
                seen.last = last;
                false
            }
            _ => {
                tracing::debug!(host = %report.id, "host report changed");
                hosts.insert(report.id.clone(), Seen { report, last });
                true
            }
        }
    }

    fn expire(&self, expiry: Duration) {
        let gone: Vec<String> = {
            let mut hosts = self.hosts.lock().expect("host table poisoned");
            let gone = hosts.iter().filter(|(_, s)| s.last.elapsed() > expiry).map(|(id, _)| id.clone()).collect::<Vec<_>>();
            for id in &gone {
                hosts.remove(id);
            }
            gone
        };
        for id in &gone {
            tracing::warn!(host = %id, "no heartbeat for {} ms: host is gone", expiry.as_millis());
        }
        if !gone.is_empty() {
            (self.on_change)();
        }
    }

    async fn call(&self, host: &str, op: &str, body: Vec<u8>) -> Result<serde_json::Value, String> {
        let subject = format!("{}.{host}.{op}", placement_prefix(&self.name));
        let reply = self.lattice.request(Message::new(subject, body), APPLY_TIMEOUT).await.map_err(|e| match e {
            LatticeError::NoResponders { .. } => format!("host {host} is gone"),
            other => other.to_string(),
        })?;
        serde_json::from_slice(&reply.payload).map_err(|e| format!("host {host} answered with something else than a placement reply: {e}"))
    }

    /// Takes the inventory a host answered with as its newest report.
    fn take(&self, reply: &serde_json::Value) {
        let Some(report) = serde_json::from_value::<HostInventory>(reply["ok"].clone()).ok().and_then(|i| i.report()) else {
            return;
        };
        self.update(report);
    }
}

#[async_trait::async_trait]
impl Fleet for RemoteFleet {
    async fn reports(&self) -> Vec<HostReport> {
        let mut reports: Vec<HostReport> = self.hosts.lock().expect("host table poisoned").values().map(|s| s.report.clone()).collect();
        reports.sort_by(|a, b| a.id.cmp(&b.id));
        reports
    }

    async fn apply(&self, host: &str, assignment: Assignment) -> Result<(), Failure> {
        let revision = assignment.revision.clone();
        let fail = |message: String| Failure { revision: revision.clone(), field: None, message };
        let body = serde_json::to_vec(&AssignmentMessage::from(&assignment)).expect("assignments serialize");
        let reply = self.call(host, "apply", body).await.map_err(fail)?;
        if let Some(failure) = reply.get("failed") {
            return Err(serde_json::from_value(failure.clone()).unwrap_or_else(|e| fail(format!("unreadable failure from host {host}: {e}"))));
        }
        self.take(&reply);
        Ok(())
    }

    async fn remove(&self, host: &str, app: &str) {
        match self.call(host, "remove", app.as_bytes().to_vec()).await {
            Ok(reply) => self.take(&reply),
            Err(e) => tracing::warn!(host, app, "cannot remove: {e}"),
        }
    }

    fn claims(&self, manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim> {
        (self.claims)(manifest, configs)
    }
}
