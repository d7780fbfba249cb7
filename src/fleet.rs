//! Where the host and the manager meet, which know nothing of each other: the manager's
//! [`Fleet`] over this process's hosts, and the rule both fleets give the manager for what a
//! manifest takes exclusively (the host's, since only it knows the capabilities).

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_host::LocalFleet;
use trellis_manager::{Claim, ClaimsOf, Fleet};
use trellis_types::manifest::Manifest;
use trellis_types::placement::{Assignment, Failure, HostReport};

/// This process's hosts, placed on by a manager in this process.
pub(crate) struct Embedded(pub(crate) Arc<LocalFleet>);

#[async_trait::async_trait]
impl Fleet for Embedded {
    async fn reports(&self) -> Vec<HostReport> {
        self.0.reports().await
    }

    async fn apply(&self, host: &str, assignment: Assignment) -> Result<(), Failure> {
        self.0.apply(host, assignment).await
    }

    async fn remove(&self, host: &str, app: &str) {
        self.0.remove(host, app).await;
    }

    fn claims(&self, manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim> {
        claims(manifest, configs)
    }
}

/// What `manifest` would take exclusively on any host: its HTTP addresses and routes.
fn claims(manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim> {
    trellis_host::http_claims(manifest, configs).into_iter().map(|(resource, field)| Claim { resource, field }).collect()
}

/// [`claims`], for a [`trellis_manager::RemoteFleet`].
pub(crate) fn claims_of() -> ClaimsOf {
    Box::new(claims)
}
