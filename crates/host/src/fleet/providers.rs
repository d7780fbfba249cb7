//! `provider.start.<host>` and `provider.stop.<host>`: providers started and stopped through
//! the control interface, as `wash start provider` and wadm send them. wasmCloud's well-known
//! provider images (and `wasmcloud+builtin://` names) are served in-process, under the provider
//! id that links name; any other image is a provider archive, run as a process.


use serde_json::json;
use trellis_lattice::{Lattice, Message, respond};
use trellis_types::ctl::{CtlReply, HostOp, StartProviderCommand, StopProviderCommand};

use super::LocalFleet;
use super::scale::{provider_links, resolve_configs};
use crate::{Host, ProviderStart};

impl LocalFleet {
    /// Answers `op` (`provider.start` or `provider.stop`) for host `id` once it is done, and
    /// publishes `provider_started`, `provider_start_failed` or `provider_stopped`.
    pub(super) async fn provider_command(&self, lattice: &dyn Lattice, lattice_name: &str, op: HostOp, id: &str, message: &Message) {
        let _one_at_a_time = self.relinking.lock().await;
        let reply = match self.host(id) {
            None => CtlReply::<()>::fail(format!("no host `{id}` here")),
            Some(host) => match op {
                HostOp::ProviderStart => self.start_provider(&host, lattice, lattice_name, &message.payload).await,
                _ => self.stop_provider(&host, &message.payload).await,
            },
        };
        let _ = respond(lattice, message, serde_json::to_vec(&reply).expect("replies serialize")).await;
    }

    async fn start_provider(&self, host: &Host, lattice: &dyn Lattice, lattice_name: &str, body: &[u8]) -> CtlReply<()> {
        let command: StartProviderCommand = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(e) => return CtlReply::fail(format!("not a StartProviderCommand: {e}")),
        };
        if host.provider(&command.provider_id).await.is_some() {
            return CtlReply::done(format!("provider {} already runs on host {}", command.provider_id, host.id()));
        }
        let started = async {
            if command.provider_id.is_empty() {
                return Err("provider_id is empty".to_owned());
            }
            let configs = resolve_configs(lattice, lattice_name, &command.config).await?;
            let links = provider_links(&host.shared().capabilities, (lattice, lattice_name), &command.provider_id, &command.provider_ref).await?;
            let start = ProviderStart {
                provider_id: command.provider_id.clone(),
                image_ref: command.provider_ref.clone(),
                configs,
                annotations: command.annotations.clone().unwrap_or_default(),
                links,
            };
            host.start_provider(&start).await.map_err(|f| f.message)
        }
        .await;
        let Some(events) = self.events.get() else { return CtlReply::done("successfully started provider") };
        match started {
            Ok(()) => {
                tracing::info!(host = host.id(), provider = %command.provider_id, image = %command.provider_ref, "provider started");
                let data = json!({
                    "annotations": command.annotations.unwrap_or_default(),
                    "host_id": host.id(),
                    "image_ref": command.provider_ref,
                    "provider_id": command.provider_id,
                });
                events.emit(host, "provider_started", data).await;
                events.heartbeat(host).await;
                CtlReply::done("successfully started provider")
            }
            Err(error) => {
                tracing::warn!(host = host.id(), provider = %command.provider_id, image = %command.provider_ref, %error, "provider start failed");
                let data = json!({
                    "provider_ref": command.provider_ref,
                    "provider_id": command.provider_id,
                    "host_id": host.id(),
                    "error": error,
                    "link_name": "default",
                });
                events.emit(host, "provider_start_failed", data).await;
                CtlReply::fail(format!("provider {}: {error}", command.provider_id))
            }
        }
    }

    async fn stop_provider(&self, host: &Host, body: &[u8]) -> CtlReply<()> {
        let command: StopProviderCommand = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(e) => return CtlReply::fail(format!("not a StopProviderCommand: {e}")),
        };
        let Some(running) = host.provider(&command.provider_id).await else {
            return CtlReply::fail(format!("provider {} does not run on host {}", command.provider_id, host.id()));
        };
        host.stop_provider(&command.provider_id).await;
        tracing::info!(host = host.id(), provider = %command.provider_id, "provider stopped");
        if let Some(events) = self.events.get() {
            let data = json!({
                "annotations": running.annotations,
                "host_id": host.id(),
                "provider_id": command.provider_id,
                "reason": "stop",
            });
            events.emit(host, "provider_stopped", data).await;
            events.heartbeat(host).await;
        }
        CtlReply::done("successfully stopped provider")
    }
}
