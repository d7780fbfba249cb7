//! The reconciler: level-triggered. An event only marks an application (or, when hosts or
//! named config change, every application) dirty; a pass recomputes desired against observed
//! from scratch for what is dirty, and every resync interval for everything, so status cannot
//! go stale and a missed event costs at most one interval. Marks made while a pass runs
//! coalesce into the next one, so a burst of completions costs one pass, not one each.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use trellis_lattice::Message;
use trellis_types::wadm::{STATUS_PREFIX, Status, StatusType};

use crate::Inner;
use crate::plan::{self, AppPlan};

/// Longest an apply may take before the manager stops waiting and counts it failed.
const APPLY_TIMEOUT: Duration = Duration::from_secs(300);
/// Backoff after failures: doubles from the first step up to the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// Commands issued and not yet finished, and failures being backed off, per (app, host).
pub(crate) struct Work {
    pub(crate) in_flight: HashMap<(String, String), String>,
    pub(crate) backoff: HashMap<(String, String), Backoff>,
}

/// What changed since the last pass.
#[derive(Default)]
pub(crate) struct Dirty {
    all: bool,
    apps: BTreeSet<String>,
}

impl Inner {
    /// Replans `app` at the next pass.
    pub(crate) fn mark(&self, app: &str) {
        self.dirty.lock().expect("dirty set poisoned").apps.insert(app.to_owned());
        self.wake.notify_one();
    }

    /// Replans every application at the next pass (hosts or named config changed).
    pub(crate) fn mark_all(&self) {
        self.dirty.lock().expect("dirty set poisoned").all = true;
        self.wake.notify_one();
    }
}

pub(crate) struct Backoff {
    revision: String,
    failures: u32,
    retry_at: Instant,
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut resync = tokio::time::interval(inner.config.resync_interval);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = resync.tick() => inner.dirty.lock().expect("dirty set poisoned").all = true,
            _ = inner.wake.notified() => {}
        }
        let dirty = std::mem::take(&mut *inner.dirty.lock().expect("dirty set poisoned"));
        pass(&inner, dirty).await;
    }
}

async fn pass(inner: &Arc<Inner>, dirty: Dirty) {
    let started = Instant::now();
    let full = dirty.all;
    pass_over(inner, dirty).await;
    crate::telemetry::pass(full, started.elapsed());
}

async fn pass_over(inner: &Arc<Inner>, dirty: Dirty) {
    let reports = inner.fleet.reports().await;
    let (deployed, configs, known) = {
        let catalogue = inner.catalogue.lock().await;
        let deployed: Vec<_> = catalogue.apps.iter().filter_map(|(n, app)| Some((n.clone(), app.deployed()?))).collect();
        let known: BTreeSet<String> = catalogue.apps.keys().cloned().collect();
        (deployed, catalogue.configs.clone(), known)
    };
    let now = Instant::now();
    let mut statuses = Vec::new();
    for (name, app) in deployed.iter().filter(|(name, _)| dirty.all || dirty.apps.contains(name)) {
        let plan = plan::plan(app, &reports, &configs);
        let in_flight = issue(inner, name, &plan, &reports, now);
        let status = plan::status(name, &app.stored.source, &plan, &reports, &in_flight);
        statuses.push((name.clone(), app.stored.version.clone(), status));
    }
    // Anything running that is no longer deployed goes.
    let deployed_names: BTreeSet<&str> = deployed.iter().map(|(n, _)| n.as_str()).collect();
    for report in &reports {
        for app in report.apps.keys().filter(|a| !deployed_names.contains(a.as_str())) {
            remove(inner, app, &report.id);
        }
    }
    let deployed_names: BTreeSet<String> = deployed_names.into_iter().map(str::to_owned).collect();
    let replanned: BTreeSet<String> = match dirty.all {
        true => known,
        false => dirty.apps,
    };
    publish(inner, statuses, &replanned, &deployed_names).await;
}

/// Issues the commands `plan` needs that are not in flight or backing off; returns the hosts
/// with a command in flight for this app.
fn issue(inner: &Arc<Inner>, name: &str, plan: &AppPlan, reports: &[trellis_types::placement::HostReport], now: Instant) -> BTreeSet<String> {
    let running = |host: &str| reports.iter().find(|h| h.id == host).and_then(|h| h.apps.get(name));
    let mut converged = true;
    for (host, assignment) in &plan.assignments {
        if running(host).and_then(|a| a.revision.as_deref()) == Some(assignment.revision.as_str()) {
            inner.work.lock().expect("work table poisoned").backoff.remove(&(name.to_owned(), host.clone()));
            continue;
        }
        converged = false;
        let key = (name.to_owned(), host.clone());
        {
            let mut work = inner.work.lock().expect("work table poisoned");
            if work.in_flight.contains_key(&key) {
                continue;
            }
            if work.backoff.get(&key).is_some_and(|b| b.revision == assignment.revision && now < b.retry_at) {
                continue;
            }
            work.in_flight.insert(key.clone(), assignment.revision.clone());
        }
        let (inner2, assignment) = (inner.clone(), assignment.clone());
        tokio::spawn(async move {
            let revision = assignment.revision.clone();
            tracing::info!(app = %key.0, host = %key.1, version = ?assignment.manifest.version(), components = ?assignment.components, "applying");
            let result = match tokio::time::timeout(APPLY_TIMEOUT, inner2.fleet.apply(&key.1, assignment)).await {
                Ok(r) => r.map_err(|f| f.message),
                Err(_) => Err(format!("the host did not finish within {} s", APPLY_TIMEOUT.as_secs())),
            };
            crate::telemetry::applied(result.is_ok());
            {
                let mut work = inner2.work.lock().expect("work table poisoned");
                work.in_flight.remove(&key);
                match result {
                    Ok(()) => {
                        work.backoff.remove(&key);
                    }
                    Err(reason) => {
                        let failures = work.backoff.get(&key).filter(|b| b.revision == revision).map_or(1, |b| b.failures + 1);
                        let delay = BACKOFF_FIRST.saturating_mul(1 << failures.min(16)).min(BACKOFF_CAP);
                        tracing::warn!(app = %key.0, host = %key.1, %reason, retry_in_ms = delay.as_millis() as u64, "apply failed");
                        work.backoff.insert(key.clone(), Backoff { revision, failures, retry_at: Instant::now() + delay });
                    }
                }
            }
            inner2.mark(&key.0);
        });
    }
    // Make before break: hosts that should no longer run the app lose it only once every host
    // that should run it does, so an upgrade or a move never leaves nothing serving.
    if converged && plan.blocked.is_none() {
        for report in reports.iter().filter(|r| r.apps.contains_key(name) && !plan.assignments.contains_key(&r.id)) {
            remove(inner, name, &report.id);
        }
    }
    let work = inner.work.lock().expect("work table poisoned");
    work.in_flight.keys().filter(|(app, _)| app == name).map(|(_, host)| host.clone()).collect()
}

fn remove(inner: &Arc<Inner>, app: &str, host: &str) {
    let key = (app.to_owned(), host.to_owned());
    if inner.work.lock().expect("work table poisoned").in_flight.insert(key.clone(), String::new()).is_some() {
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        tracing::info!(app = %key.0, host = %key.1, "removing");
        inner.fleet.remove(&key.1, &key.0).await;
        inner.work.lock().expect("work table poisoned").in_flight.remove(&key);
        inner.mark(&key.0);
    });
}

/// Stores the new statuses of the `replanned` apps and publishes the changed ones on
/// `wadm.status.<lattice>.<app>`.
async fn publish(inner: &Inner, statuses: Vec<(String, String, Status)>, replanned: &BTreeSet<String>, deployed: &BTreeSet<String>) {
    let mut changed = Vec::new();
    {
        let mut current = inner.statuses.lock().expect("status map poisoned");
        // Apps no longer deployed read as undeployed (the API answers that without a lookup);
        // a full pass also forgets apps deleted since.
        current.retain(|app, _| deployed.contains(app) || !replanned.contains(app));
        for (name, version, status) in statuses {
            if current.get(&name).map(|(_, s)| s) != Some(&status) {
                if status.info.status_type != StatusType::Deployed {
                    tracing::debug!(app = %name, status = status.info.status_type.as_str(), message = %status.info.message, "status");
                } else {
                    tracing::info!(app = %name, "deployed");
                }
                changed.push((name.clone(), status.clone()));
            }
            current.insert(name, (version, status));
        }
    }
    for (name, status) in changed {
        let subject = format!("{STATUS_PREFIX}.{}.{name}", inner.config.lattice);
        let body = serde_json::to_vec(&status).expect("status serializes");
        if let Err(e) = inner.lattice.publish(Message::new(subject, body)).await {
            tracing::debug!(app = %name, error = %e, "could not publish status");
        }
    }
}
