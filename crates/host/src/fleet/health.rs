//! Capability health on the lattice, as wasmCloud hosts report their providers': after each
//! heartbeat every capability is checked and `health_check_passed` or `health_check_failed` is
//! published when its state changes (`health_check_status` otherwise); a provider started here
//! answers `wasmbus.rpc.<lattice>.<provider_id>.health`.

use serde_json::json;
use trellis_lattice::{Lattice, Message, respond};

use super::LocalFleet;

/// The subject a provider's health is asked on.
pub(super) fn health_subject(lattice_name: &str, provider_id: &str) -> String {
    format!("wasmbus.rpc.{lattice_name}.{provider_id}.health")
}

/// The provider a health request on `subject` asks about, if it is one.
pub(super) fn health_request_for<'a>(lattice_name: &str, subject: &'a str) -> Option<&'a str> {
    subject.strip_prefix("wasmbus.rpc.")?.strip_prefix(lattice_name)?.strip_prefix('.')?.strip_suffix(".health")
}

impl LocalFleet {
    /// One round of health checks on every host here. A change of state is also a change of
    /// the hosts' reports, which the manager turns into status.
    pub(super) async fn check_health(&self) {
        let mut changed = false;
        for host in self.hosts() {
            let checked = host.check_health().await;
            let host_changed = checked.iter().any(|c| c.changed);
            if let Some(events) = self.events.get() {
                for c in &checked {
                    let name = match (c.changed, &c.result) {
                        (true, Ok(())) => "health_check_passed",
                        (true, Err(_)) => "health_check_failed",
                        (false, _) => "health_check_status",
                    };
                    events.emit(&host, name, json!({"host_id": host.id(), "provider_id": c.id})).await;
                }
                if host_changed {
                    events.heartbeat(&host).await;
                }
            }
            changed |= host_changed;
        }
        if changed {
            (self.on_change)();
        }
    }

    /// Answers a health request for `provider_id` if it runs here, as wasmCloud's provider SDK
    /// does: `{"healthy": bool, "message"?: string}`.
    pub(super) async fn answer_health(&self, lattice: &dyn Lattice, provider_id: &str, message: &Message) {
        for host in self.hosts() {
            if let Some(result) = host.provider_health(provider_id).await {
                let body = match result {
                    Ok(()) => json!({"healthy": true}),
                    Err(error) => json!({"healthy": false, "message": error}),
                };
                let _ = respond(lattice, message, body.to_string()).await;
                return;
            }
        }
    }
}
