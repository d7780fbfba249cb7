//! The hosts of one process, as a manager's [`Fleet`], and their control subjects on the
//! lattice (`wasmbus.ctl.v1.<lattice>.host.*` and `label.*`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use futures::StreamExt as _;
use serde::Deserialize;
use trellis_lattice::{Lattice, LatticeError, Message, respond};
use trellis_manager::{Claim, Fleet};
use trellis_types::ctl::CtlReply;
use trellis_types::manifest::Manifest;
use trellis_types::placement::{Assignment, Failure, HostReport};

use crate::Host;

/// Several hosts in one process (embedded mode), so placement is real without NATS.
pub struct LocalFleet {
    hosts: RwLock<Vec<Arc<Host>>>,
    /// Called when a host leaves or its labels change.
    on_change: Box<dyn Fn() + Send + Sync>,
}

impl LocalFleet {
    /// A fleet of `hosts`; `on_change` is called whenever one stops or its labels change.
    pub fn new(hosts: Vec<Arc<Host>>, on_change: impl Fn() + Send + Sync + 'static) -> LocalFleet {
        LocalFleet { hosts: RwLock::new(hosts), on_change: Box::new(on_change) }
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
            let Some(i) = hosts.iter().position(|h| h.id() == id) else { return false };
            hosts.remove(i)
        };
        host.stop().await;
        tracing::info!(host = id, "host stopped");
        (self.on_change)();
        true
    }

    /// Answers the hosts' control subjects until the lattice closes.
    pub async fn serve_ctl(self: Arc<Self>, lattice: Arc<dyn Lattice>, lattice_name: &str) -> Result<(), LatticeError> {
        let prefix = format!("wasmbus.ctl.v1.{lattice_name}.");
        let mut host = lattice.subscribe(&format!("{prefix}host.>"), None).await?;
        let mut label = lattice.subscribe(&format!("{prefix}label.>"), None).await?;
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    Some(m) = host.next() => m,
                    Some(m) = label.next() => m,
                    else => break,
                };
                let rest = message.subject.strip_prefix(&prefix).unwrap_or_default().to_owned();
                let reply = self.ctl(&rest, &message).await;
                let _ = respond(lattice.as_ref(), &message, serde_json::to_vec(&reply).expect("replies serialize")).await;
            }
        });
        Ok(())
    }

    async fn ctl(&self, rest: &str, message: &Message) -> CtlReply {
        let (op, id) = match rest.rsplit_once('.') {
            Some((op, id)) if op.contains('.') => (op, Some(id)),
            _ => (rest, None),
        };
        match (op, id) {
            ("host.ping", None) | ("host.list", None) => {
                let mut reports = Vec::new();
                for h in self.hosts() {
                    reports.push(h.report().await);
                }
                CtlReply::ok(serde_json::to_value(reports).expect("reports serialize"))
            }
            (op, Some(id)) => {
                let Some(host) = self.host(id) else { return CtlReply::fail(format!("no host `{id}` in this lattice")) };
                match op {
                    "host.get" => CtlReply::ok(serde_json::to_value(host.report().await).expect("reports serialize")),
                    "host.stop" => {
                        self.stop_host(id).await;
                        CtlReply::done(format!("host {id} stopped"))
                    }
                    "label.put" | "label.del" => {
                        let Ok(label) = serde_json::from_slice::<Label>(&message.payload) else {
                            return CtlReply::fail(r#"the body must be {"key": ..., "value": ...}"#);
                        };
                        let value = (op == "label.put").then_some(label.value.as_deref().unwrap_or_default());
                        host.set_label(&label.key, value);
                        (self.on_change)();
                        CtlReply::done(format!("label {} {}", label.key, if value.is_some() { "set" } else { "removed" }))
                    }
                    other => CtlReply::fail(format!("unsupported subject {other}")),
                }
            }
            (other, None) => CtlReply::fail(format!("unsupported subject {other}")),
        }
    }
}

#[derive(Deserialize)]
struct Label {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

#[async_trait::async_trait]
impl Fleet for LocalFleet {
    async fn reports(&self) -> Vec<HostReport> {
        let mut reports = Vec::new();
        for host in self.hosts() {
            reports.push(host.report().await);
        }
        reports
    }

    async fn apply(&self, host: &str, assignment: Assignment) -> Result<(), Failure> {
        match self.host(host) {
            Some(h) => h.apply(&assignment).await,
            None => Err(Failure { revision: assignment.revision, field: None, message: format!("host {host} is gone") }),
        }
    }

    async fn remove(&self, host: &str, app: &str) {
        if let Some(h) = self.host(host) {
            h.remove(app).await;
        }
    }

    fn claims(&self, manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Claim> {
        crate::http_claims(manifest, configs).into_iter().map(|(resource, field)| Claim { resource, field }).collect()
    }
}
