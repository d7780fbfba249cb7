//! Health checks of the capabilities a host serves: every backend a deploy connected for a
//! capability (a Redis, a NATS bucket, a PostgreSQL database) is asked whether it still answers.
//! A capability is healthy while all of its backends on this host answer; a failing one makes
//! its application's status `unhealthy`, naming the capability and the backend's error, and
//! the host publishes wasmCloud's `health_check_*` events under the capability's id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use trellis_cap_blobstore::BlobStore;
use trellis_cap_keyvalue::Store;
use trellis_cap_messaging::Broker;

use crate::Host;

/// How long one backend may take to answer before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A backend, as the capability crate that checks it knows it.
#[derive(Clone)]
pub(crate) enum Backend {
    KeyValue(Arc<dyn Store>),
    Blobs(Arc<dyn BlobStore>),
    Broker(Arc<dyn Broker>),
    Postgres(Arc<trellis_cap_postgres::Database>),
    /// An external provider process, asked as wasmCloud hosts ask theirs.
    Provider(trellis_provider::Provider),
}

impl Backend {
    async fn check(&self) -> Result<(), String> {
        let checked = async {
            match self {
                Backend::KeyValue(store) => store.check().await.map_err(|e| e.to_string()),
                Backend::Blobs(store) => store.check().await.map_err(|e| e.to_string()),
                Backend::Broker(broker) => broker.check().await.map_err(|e| e.to_string()),
                Backend::Postgres(database) => database.check().await.map_err(|e| e.to_string()),
                Backend::Provider(provider) => provider.health(CHECK_TIMEOUT).await.map_err(|e| e.to_string()),
            }
        };
        tokio::time::timeout(CHECK_TIMEOUT, checked).await.unwrap_or_else(|_| Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))
    }
}

/// One backend of one capability, as a deploy connected it.
#[derive(Clone)]
pub(crate) struct Probe {
    /// The capability's name in the manifest.
    pub(crate) capability: String,
    /// Its manifest field (`spec.components[2]`), for the application's status.
    pub(crate) field: String,
    /// Its lattice id: the provider id events name.
    pub(crate) id: String,
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("capability", &self.capability).field("id", &self.id).finish_non_exhaustive()
    }
}

/// The outcome of one round for one capability: `changed` when it differs from the last round's
/// (or is the first), which is when wasmCloud publishes `health_check_passed` or `_failed`.
pub(crate) struct Checked {
    pub(crate) id: String,
    pub(crate) result: Result<(), String>,
    pub(crate) changed: bool,
}

impl Host {
    /// Checks every capability running here (the providers started through the control
    /// interface among them, healthy while nothing they serve fails) and records the results
    /// for [`Host::report`].
    pub(crate) async fn check_health(&self) -> Vec<Checked> {
        let (probes, providers): (Vec<(crate::unmanaged::Owner, Probe)>, Vec<String>) = {
            let apps = self.apps.lock().await;
            let probes = apps.iter().flat_map(|(key, r)| r.deployment.probes.iter().map(move |p| (key.clone(), p.clone()))).collect();
            let providers = apps.values().filter_map(|r| r.provider_id()).collect();
            (probes, providers)
        };
        let results = futures::future::join_all(probes.iter().map(|(_, p)| p.backend.check())).await;

        let mut by_app: BTreeMap<&crate::unmanaged::Owner, Vec<String>> = BTreeMap::new();
        let mut by_id: BTreeMap<String, Result<(), String>> = providers.into_iter().map(|id| (id, Ok(()))).collect();
        for ((app, probe), result) in probes.iter().zip(results) {
            let entry = by_id.entry(probe.id.clone()).or_insert(Ok(()));
            if let Err(error) = result {
                let message = format!("capability `{}` failed its health check: {error}", probe.capability);
                by_app.entry(app).or_default().push(format!("{}: {message}", probe.field));
                if entry.is_ok() {
                    *entry = Err(error);
                }
            }
        }
        for (key, running) in self.apps.lock().await.iter_mut() {
            running.unhealthy = by_app.remove(key).unwrap_or_default();
        }

        let mut last = self.health.lock().expect("health poisoned");
        let checked = by_id
            .into_iter()
            .map(|(id, result)| {
                let changed = last.get(&id).is_none_or(|before| before.is_ok() != result.is_ok());
                if changed {
                    match &result {
                        Ok(()) => tracing::info!(host = %self.id, capability = %id, "health check passed"),
                        Err(error) => tracing::warn!(host = %self.id, capability = %id, %error, "health check failed"),
                    }
                }
                Checked { id, result, changed }
            })
            .collect::<Vec<_>>();
        *last = checked.iter().map(|c| (c.id.clone(), c.result.clone())).collect();
        checked
    }

    /// Whether provider `id` runs here, and if so how it fares now, for a health request.
    pub(crate) async fn provider_health(&self, id: &str) -> Option<Result<(), String>> {
        let probes: Vec<Probe> = {
            let apps = self.apps.lock().await;
            apps.values().find(|r| r.provider_id().as_deref() == Some(id))?;
            // A provider process answers for itself.
            if apps.values().any(|r| r.deployment.providers.iter().any(|p| p.id() == id)) {
                return None;
            }
            apps.values().flat_map(|r| r.deployment.probes.iter().filter(|p| p.id == id).cloned()).collect()
        };
        for probe in probes {
            if let Err(error) = probe.backend.check().await {
                return Some(Err(error));
            }
        }
        Some(Ok(()))
    }
}
