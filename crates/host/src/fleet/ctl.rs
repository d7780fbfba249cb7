//! The control interface of a [`LocalFleet`]'s hosts (`wasmbus.ctl.v1.<lattice>.*`), their
//! events and heartbeats (`wasmbus.evt.<lattice>.*`), and the subjects a Trellis manager
//! places applications with (`trellis.host.v1.<lattice>.<host>.apply|remove`).
//!
//! Each host subscribes to its own subjects, so in a lattice of many processes only the host
//! named answers, and a request for a host nobody runs gets "no responders". `host.ping` and
//! auctions are answered by every host that hears them (scatter/gather).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::json;
use trellis_lattice::{Lattice, LatticeError, Message, respond};
use trellis_types::ctl::{AuctionBid, AuctionRequest, CtlReply, HostLabel, HostOp, Request};
use trellis_types::inventory::{CloudEvent, ComponentDescription, ctl_prefix, event_subject};
use trellis_types::placement::{Assignment, AssignmentMessage, Failure, placement_prefix};

use super::LocalFleet;
use crate::Host;

/// Publishes a host's CloudEvents on `wasmbus.evt.<lattice>.*`.
pub(super) struct Events {
    lattice: Arc<dyn Lattice>,
    name: String,
}

impl Events {
    pub(super) async fn emit(&self, host: &Host, event: &str, data: serde_json::Value) {
        let envelope = CloudEvent::now(host.id(), event, data);
        let body = serde_json::to_vec(&envelope).expect("events serialize");
        if let Err(e) = self.lattice.publish(Message::new(event_subject(&self.name, event), body)).await {
            tracing::warn!(host = host.id(), event, error = %e, "cannot publish event");
        }
    }

    pub(super) async fn heartbeat(&self, host: &Host) {
        let inventory = host.inventory().await;
        self.emit(host, "host_heartbeat", serde_json::to_value(inventory).expect("inventories serialize")).await;
    }

    /// `component_scaled` for every component whose count changed (0 for those gone), as
    /// wasmCloud hosts publish and wadm watches; with the claims of those that run signed.
    pub(super) async fn scaled(&self, host: &Host, before: &[ComponentDescription], after: &[ComponentDescription]) {
        let gone = before.iter().filter(|b| !after.iter().any(|a| a.id == b.id)).map(|b| (b, 0));
        let changed = after
            .iter()
            .filter(|a| !before.iter().any(|b| b.id == a.id && b.max_instances == a.max_instances && b.image_ref == a.image_ref))
            .map(|a| (a, a.max_instances));
        for (component, max_instances) in gone.chain(changed).collect::<Vec<_>>() {
            let mut data = json!({
                "annotations": component.annotations.clone().unwrap_or_default(),
                "host_id": host.id(),
                "image_ref": component.image_ref,
                "max_instances": max_instances,
                "component_id": component.id,
            });
            // Signed components say who they are, as wasmCloud's events do.
            if let Some((public_key, claims)) = host.signature(&component.id).await {
                data["public_key"] = public_key.into();
                data["claims"] = claims;
            }
            self.emit(host, "component_scaled", data).await;
        }
    }

    async fn host_started(&self, host: &Host) {
        let info = host.info(&self.name);
        self.emit(host, "host_started", json!({"friendly_name": info.friendly_name, "labels": info.labels, "uptime_seconds": 0, "version": info.version}))
            .await;
    }

    pub(super) async fn host_stopped(&self, host: &Host) {
        self.emit(host, "host_stopped", json!({"labels": host.labels()})).await;
        // The process may exit next; the event must not die in its buffer.
        let _ = self.lattice.flush().await;
    }

    pub(super) async fn labels_changed(&self, host: &Host) {
        self.emit(host, "labels_changed", json!({"host_id": host.id(), "labels": host.labels()})).await;
        self.heartbeat(host).await;
    }
}

/// The part of a CloudEvent a host reads of the events it listens to.
#[derive(Deserialize)]
struct Event<T> {
    data: T,
}

impl LocalFleet {
    /// Serves the hosts' control interface on `lattice`, announces them (`host_started`) and
    /// sends each one's heartbeat, and checks their capabilities' health, every `heartbeat`,
    /// until the process ends.
    pub async fn serve_ctl(self: Arc<Self>, lattice: Arc<dyn Lattice>, lattice_name: &str, heartbeat: Duration) -> Result<(), LatticeError> {
        let events = Events { lattice: lattice.clone(), name: lattice_name.to_owned() };
        let events = self.events.get_or_init(|| events);
        let ctl = ctl_prefix(lattice_name);
        let placement = placement_prefix(lattice_name);
        let mut subscriptions = vec![
            lattice.subscribe(&format!("{ctl}.host.ping"), None).await?,
            lattice.subscribe(&format!("{ctl}.component.auction"), None).await?,
            lattice.subscribe(&format!("{ctl}.provider.auction"), None).await?,
            lattice.subscribe(&format!("{ctl}.claims.get"), Some(&format!("{ctl}.claims"))).await?,
            lattice.subscribe(&format!("{ctl}.registry.put"), None).await?,
            lattice.subscribe(&format!("{ctl}.link.*"), Some(&format!("{ctl}.link"))).await?,
            lattice.subscribe(&format!("{ctl}.config.>"), Some(&format!("{ctl}.config"))).await?,
            lattice.subscribe(&format!("{placement}.heartbeat"), None).await?,
            lattice.subscribe(&format!("{placement}.claims"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "linkdef_set"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "linkdef_deleted"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "config_set"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "config_deleted"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "provider_started"), None).await?,
            lattice.subscribe(&event_subject(lattice_name, "provider_stopped"), None).await?,
            lattice.subscribe(&super::health::health_subject(lattice_name, "*"), None).await?,
        ];
        for host in self.hosts() {
            subscriptions.push(lattice.subscribe(&format!("{ctl}.*.*.{}", host.id()), None).await?);
            subscriptions.push(lattice.subscribe(&format!("{placement}.{}.*", host.id()), None).await?);
        }
        let mut messages = futures::stream::select_all(subscriptions);
        let fleet = self.clone();
        let name = lattice_name.to_owned();
        tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                // An apply may take minutes (pulls, compiles); nothing waits behind it.
                let (fleet, lattice, name) = (fleet.clone(), lattice.clone(), name.clone());
                tokio::spawn(async move { fleet.handle(lattice.as_ref(), &name, message).await });
            }
        });
        for host in self.hosts() {
            events.host_started(&host).await;
            events.heartbeat(&host).await;
        }
        let fleet = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                fleet.heartbeats().await;
            }
        });
        // Apart from the heartbeats, so a backend slow to answer never delays one.
        let fleet = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                fleet.check_health().await;
            }
        });
        Ok(())
    }

    async fn heartbeats(&self) {
        let Some(events) = self.events.get() else {
            return;
        };
        for host in self.hosts() {
            events.heartbeat(&host).await;
        }
    }

    async fn handle(&self, lattice: &dyn Lattice, lattice_name: &str, message: Message) {
        let placement = placement_prefix(lattice_name);
        if let Some(rest) = message.subject.strip_prefix(&format!("{placement}.")) {
            return self.placement(lattice, rest, &message).await;
        }
        if let Some(provider_id) = super::health::health_request_for(lattice_name, &message.subject) {
            return self.answer_health(lattice, provider_id, &message).await;
        }
        if message.subject.starts_with(&event_subject(lattice_name, "linkdef_")) {
            #[derive(Deserialize)]
            struct Data {
                source_id: String,
                #[serde(default)]
                target: Option<String>,
            }
            if let Ok(event) = serde_json::from_slice::<Event<Data>>(&message.payload) {
                self.relink(lattice, lattice_name, &event.data.source_id).await;
                // A provider process is told of the links that call it too.
                if let Some(target) = &event.data.target {
                    self.relink(lattice, lattice_name, target).await;
                }
            }
            return;
        }
        if message.subject.starts_with(&event_subject(lattice_name, "config_")) {
            #[derive(Deserialize)]
            struct Data {
                config_name: String,
            }
            if let Ok(event) = serde_json::from_slice::<Event<Data>>(&message.payload) {
                self.reconfigure(lattice, lattice_name, &event.data.config_name).await;
            }
            return;
        }
        // A provider that starts or stops changes what links naming it give their sources.
        if message.subject.starts_with(&event_subject(lattice_name, "provider_")) {
            #[derive(Deserialize)]
            struct Data {
                provider_id: String,
            }
            let Ok(event) = serde_json::from_slice::<Event<Data>>(&message.payload) else { return };
            let links = match super::scale::all_links(lattice, lattice_name).await {
                Ok(links) => links,
                Err(error) => return tracing::warn!(provider = %event.data.provider_id, %error, "cannot read the links that name the provider"),
            };
            let sources: std::collections::BTreeSet<&str> = links.iter().filter(|l| l.target == event.data.provider_id).map(|l| l.source_id.as_str()).collect();
            for source in sources {
                self.relink(lattice, lattice_name, source).await;
            }
            return;
        }
        let Some(request) = Request::parse(lattice_name, &message.subject) else {
            return;
        };
        match request {
            Request::Link(_) | Request::Config(..) => self.lattice_data(lattice, lattice_name, request, &message).await,
            Request::HostPing => {
                for host in self.hosts() {
                    let reply = CtlReply::ok(host.info(lattice_name));
                    let _ = respond(lattice, &message, serde_json::to_vec(&reply).expect("replies serialize")).await;
                }
            }
            Request::ComponentAuction => self.auction(lattice, false, &message).await,
            Request::ProviderAuction => self.auction(lattice, true, &message).await,
            Request::ClaimsGet => self.claims_get(lattice, &placement_prefix(lattice_name), &message).await,
            Request::RegistryPut => {
                let reply = match registry_credentials(&message.payload) {
                    Ok(credentials) => {
                        for host in self.hosts() {
                            for (registry, c) in &credentials {
                                host.shared().registries().set_credentials(registry, c.clone());
                            }
                        }
                        tracing::info!(registries = ?credentials.keys().collect::<Vec<_>>(), "registry credentials put");
                        CtlReply::<()>::done("successfully put registry credentials")
                    }
                    Err(e) => CtlReply::fail(e),
                };
                let _ = respond(lattice, &message, serde_json::to_vec(&reply).expect("replies serialize")).await;
            }
            Request::OnHost(op @ (HostOp::ComponentScale | HostOp::ComponentUpdate), id) => {
                self.component_command(lattice, lattice_name, op, id, &message).await;
            }
            Request::OnHost(op @ (HostOp::ProviderStart | HostOp::ProviderStop), id) => {
                self.provider_command(lattice, lattice_name, op, id, &message).await;
            }
            Request::OnHost(op, id) => {
                let reply = self.host_op(op, id, &message).await;
                let _ = respond(lattice, &message, serde_json::to_vec(&reply).expect("replies serialize")).await;
                // wasmCloud acknowledges `host.stop` first, then stops.
                if op == HostOp::HostStop && reply.success {
                    let _ = lattice.flush().await;
                    self.stop_host(id).await;
                }
            }
        }
    }

    /// `component.auction` and `provider.auction`: every host whose labels satisfy the
    /// constraints and that does not run the component (or provider) yet bids. A provider
    /// auction for an image that is no built-in gets bids only from hosts that run provider
    /// processes (those joined to NATS).
    async fn auction(&self, lattice: &dyn Lattice, provider: bool, message: &Message) {
        let Ok(auction) = serde_json::from_slice::<AuctionRequest>(&message.payload) else {
            return;
        };
        for host in self.hosts() {
            let process = provider && !host.shared().capabilities.is_builtin_provider(&auction.component_ref);
            if process && !host.runs_provider_processes() {
                continue;
            }
            let labels = host.labels();
            let fits = auction.constraints.iter().all(|(k, v)| labels.get(k) == Some(v));
            let runs = match provider {
                true => host.provider(&auction.component_id).await.is_some(),
                false => host.inventory().await.components.iter().any(|c| c.id == auction.component_id),
            };
            if fits && !runs {
                let bid = AuctionBid { request: auction.clone(), host_id: host.id().to_owned(), provider };
                let _ = respond(lattice, message, serde_json::to_vec(&CtlReply::ok(bid)).expect("replies serialize")).await;
            }
        }
    }

    async fn host_op(&self, op: HostOp, id: &str, message: &Message) -> CtlReply {
        let Some(host) = self.host(id) else {
            return CtlReply::fail(format!("no host `{id}` here"));
        };
        match op {
            HostOp::HostGet => CtlReply::ok(serde_json::to_value(host.inventory().await).expect("inventories serialize")),
            HostOp::HostStop => CtlReply::done(format!("host {id} is stopping")),
            HostOp::LabelPut | HostOp::LabelDel => {
                let Ok(label) = serde_json::from_slice::<HostLabel>(&message.payload) else {
                    return CtlReply::fail(r#"the body must be {"key": ..., "value": ...}"#);
                };
                if label.key.starts_with("hostcore.") {
                    return CtlReply::fail(format!("label `{}`: labels starting with `hostcore.` are set by the host and cannot be changed", label.key));
                }
                let value = (op == HostOp::LabelPut).then_some(label.value.as_str());
                self.set_label(id, &label.key, value).await;
                CtlReply::done(format!("label {} {}", label.key, if value.is_some() { "set" } else { "removed" }))
            }
            other => CtlReply::fail(format!("unsupported subject {}", other.as_str())),
        }
    }

    /// `<host>.apply` and `<host>.remove`: the manager's placement of one application.
    async fn placement(&self, lattice: &dyn Lattice, rest: &str, message: &Message) {
        match rest {
            "heartbeat" => return self.heartbeats().await,
            "claims" => return self.share_claims(lattice, message).await,
            _ => {}
        }
        let Some((id, op)) = rest.split_once('.') else {
            return;
        };
        let Some(host) = self.host(id) else { return };
        let before = host.inventory().await.components;
        let result: Result<(), Failure> = match op {
            "apply" => match serde_json::from_slice::<AssignmentMessage>(&message.payload) {
                Ok(m) => {
                    let revision = m.revision.clone();
                    match Assignment::try_from(m) {
                        Ok(assignment) => host.apply(&assignment).await,
                        Err(e) => Err(Failure { revision, field: None, message: e.to_string() }),
                    }
                }
                Err(e) => Err(Failure { revision: String::new(), field: None, message: format!("not an assignment: {e}") }),
            },
            "remove" => {
                let app = String::from_utf8_lossy(&message.payload);
                host.remove(&app).await;
                Ok(())
            }
            _ => return,
        };
        let after = host.inventory().await;
        let body = match result {
            Ok(()) => json!({"ok": after}),
            Err(failure) => json!({"failed": failure}),
        };
        let _ = respond(lattice, message, serde_json::to_vec(&body).expect("replies serialize")).await;
        if let Some(events) = self.events.get() {
            events.scaled(&host, &before, &after.components).await;
            events.heartbeat(&host).await;
        }
    }
}

/// wasmCloud's `registry.put` body: `{"<registry>": {"username"?, "password"?, "token"?,
/// "registryType"?}}`.
fn registry_credentials(body: &[u8]) -> Result<BTreeMap<String, trellis_oci::Credentials>, String> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        token: Option<String>,
        #[serde(default, rename = "registryType")]
        registry_type: Option<String>,
    }
    let entries: BTreeMap<String, Entry> =
        serde_json::from_slice(body).map_err(|e| format!(r#"the body must be {{"<registry>": {{"username", "password"}} or {{"token"}}}}: {e}"#))?;
    entries
        .into_iter()
        .map(|(registry, e)| {
            if e.registry_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("oci")) {
                return Err(format!("registry `{registry}`: only OCI registries are supported"));
            }
            let credentials = match (e.username, e.password, e.token) {
                (_, _, Some(token)) => trellis_oci::Credentials::Token(token),
                (Some(username), Some(password), None) => trellis_oci::Credentials::Basic { username, password },
                _ => return Err(format!("registry `{registry}`: give a username and password, or a token")),
            };
            Ok((registry, credentials))
        })
        .collect()
}
