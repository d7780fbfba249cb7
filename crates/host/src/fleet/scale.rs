//! `component.scale.<host>` and `component.update.<host>`: components started, rescaled,
//! updated and stopped through the control interface, outside any manifest, with wasmCloud's
//! request shapes and its asynchronous answer: the reply says the request was accepted, and
//! `component_scaled` or `component_scale_failed` follows once the host is done.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use trellis_lattice::{Lattice, LatticeError, Message, respond};
use trellis_types::ctl::{CtlReply, HostOp, Link, ScaleComponentCommand, UpdateComponentCommand};
use trellis_types::manifest::Limits;
use trellis_types::inventory::{HostInfo, HostInventory, ctl_prefix};

use super::LocalFleet;
use crate::capabilities::{self, Capabilities};
use crate::{ComponentScale, Host, PutLinks, Unmanaged};

/// How long a host waits for named config and links from the lattice.
const CONFIG_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after the last host answered `host.ping` a host stops waiting for more.
const HOSTS_QUIET: Duration = Duration::from_millis(250);

impl LocalFleet {
    /// Answers `op` (`component.scale` or `component.update`) for host `id`, then does it.
    pub(super) async fn component_command(&self, lattice: &dyn Lattice, lattice_name: &str, op: HostOp, id: &str, message: &Message) {
        let accepted = match self.host(id) {
            None => Err(format!("no host `{id}` here")),
            Some(host) => self.accept(&host, op, &message.payload).await.map(|scale| (host, scale)),
        };
        let reply = match &accepted {
            Ok((_, scale)) if op == HostOp::ComponentUpdate => CtlReply::<()>::done(format!("updating component {} to {}", scale.component_id, scale.image_ref)),
            Ok((_, scale)) => CtlReply::done(format!("scaling component {} to {}", scale.component_id, scale.count)),
            Err(reason) => CtlReply::fail(reason.clone()),
        };
        let _ = respond(lattice, message, serde_json::to_vec(&reply).expect("replies serialize")).await;
        let Ok((host, mut scale)) = accepted else { return };
        let _one_at_a_time = self.relinking.lock().await;
        let before = host.inventory().await.components;
        let names: Vec<String> = scale.configs.iter().map(|(name, _)| name.clone()).collect();
        let resolved = match resolve_configs(lattice, lattice_name, &names).await {
            Ok(configs) => links_of(lattice, lattice_name, &scale.component_id).await.map(|links| (configs, links)),
            Err(reason) => Err(reason),
        };
        let result = match resolved {
            Ok((configs, links)) => {
                scale.configs = configs;
                scale.links = links;
                host.scale_component(&scale).await.map_err(|f| f.message)
            }
            Err(reason) => {
                host.record_scale_failure(&scale.component_id, &reason);
                Err(reason)
            }
        };
        let Some(events) = self.events.get() else { return };
        match result {
            Ok(()) => {
                tracing::info!(host = id, component = %scale.component_id, image = %scale.image_ref, count = scale.count, "component scaled");
                events.scaled(&host, &before, &host.inventory().await.components).await;
                events.heartbeat(&host).await;
            }
            Err(error) => {
                tracing::warn!(host = id, component = %scale.component_id, image = %scale.image_ref, %error, "component scale failed");
                let data = json!({
                    "annotations": scale.annotations,
                    "host_id": host.id(),
                    "image_ref": scale.image_ref,
                    "max_instances": scale.count,
                    "component_id": scale.component_id,
                    "error": error,
                });
                events.emit(&host, "component_scale_failed", data).await;
            }
        }
    }

    /// Checks the request against what runs; the scale to do (config still by name, values empty).
    async fn accept(&self, host: &Host, op: HostOp, body: &[u8]) -> Result<ComponentScale, String> {
        let running = host.inventory().await.components;
        let (component_id, image_ref, count, configs, annotations, limits) = match op {
            HostOp::ComponentScale => {
                let c: ScaleComponentCommand = serde_json::from_slice(body).map_err(|e| format!("not a ScaleComponentCommand: {e}"))?;
                let current = running.iter().find(|r| r.id == c.component_id);
                // wasmCloud keeps the running image unless the request allows an update.
                let image_ref = match current {
                    Some(r) if !c.allow_update && c.max_instances > 0 => r.image_ref.clone(),
                    _ => c.component_ref,
                };
                let limits = limits(c.component_limits.as_ref())?;
                (c.component_id, image_ref, c.max_instances, c.config, c.annotations, limits)
            }
            HostOp::ComponentUpdate => {
                let c: UpdateComponentCommand = serde_json::from_slice(body).map_err(|e| format!("not an UpdateComponentCommand: {e}"))?;
                let Some(current) = host.unmanaged_scale(&c.component_id).await else {
                    return Err(format!("component `{}` does not run on host {} outside a manifest", c.component_id, host.id()));
                };
                let configs = current.configs.into_iter().map(|(name, _)| name).collect();
                (c.component_id, c.new_component_ref, current.count, configs, c.annotations.or(Some(current.annotations)), current.limits)
            }
            other => return Err(format!("unsupported subject {}", other.as_str())),
        };
        if component_id.is_empty() {
            return Err("component_id is empty".into());
        }
        if let Some(app) = host.application_of(&component_id).await {
            return Err(format!("component `{component_id}` belongs to application `{app}`: change it in its manifest (`trellis app deploy`)"));
        }
        host.forget_scale_failure(&component_id);
        let configs = configs.into_iter().map(|name| (name, BTreeMap::new())).collect();
        Ok(ComponentScale { component_id, image_ref, count, configs, annotations: annotations.unwrap_or_default(), limits, links: PutLinks::default() })
    }

    /// Applies the links put for `source` (`linkdef_set` / `linkdef_deleted` named it as the
    /// source, or as the target of a provider process) to every host here that runs it outside
    /// a manifest, as a component or a provider.
    pub(super) async fn relink(&self, lattice: &dyn Lattice, lattice_name: &str, source: &str) {
        let _one_at_a_time = self.relinking.lock().await;
        for host in self.hosts() {
            let scale = host.unmanaged_scale(source).await;
            let provider = host.provider(source).await;
            if scale.is_none() && provider.is_none() {
                continue;
            }
            let found = match &provider {
                Some(provider) => provider_links(&host.shared().capabilities, (lattice, lattice_name), source, &provider.image_ref).await,
                None => links_of(lattice, lattice_name, source).await,
            };
            let links = match found {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(host = host.id(), source, %error, "cannot read the links; it keeps the ones it has");
                    continue;
                }
            };
            let result = match (scale, provider) {
                (Some(mut scale), _) if scale.links != links => {
                    scale.links = links;
                    host.scale_component(&scale).await
                }
                (_, Some(mut provider)) if provider.links != links => {
                    provider.links = links;
                    host.start_provider(&provider).await
                }
                _ => continue,
            };
            match result {
                Ok(()) => tracing::info!(host = host.id(), source, "links applied"),
                Err(failure) => tracing::warn!(host = host.id(), source, error = %failure.message, "links not applied; it keeps the ones it had"),
            }
        }
    }

    /// Applies the new values of config `name` (`config_set` / `config_deleted` named it) to
    /// every component and provider here that runs outside a manifest and names it, in its own
    /// config or its links'. A provider gets its new config as wasmCloud hosts send it
    /// (`config.update`); a component's next instances read it. A config that is gone leaves
    /// each with the values it has.
    pub(super) async fn reconfigure(&self, lattice: &dyn Lattice, lattice_name: &str, name: &str) {
        let _one_at_a_time = self.relinking.lock().await;
        for host in self.hosts() {
            for entry in host.unmanaged().await {
                let (id, own, links) = match &entry {
                    Unmanaged::Component(s) => (s.component_id.clone(), &s.configs, &s.links),
                    Unmanaged::Provider(p) => (p.provider_id.clone(), &p.configs, &p.links),
                };
                let in_links = links.links.iter().chain(&links.incoming).any(|l| l.source_config.iter().chain(&l.target_config).any(|n| n == name));
                if !in_links && !own.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let names: Vec<String> = own.iter().map(|(n, _)| n.clone()).collect();
                let resolved = match resolve_configs(lattice, lattice_name, &names).await {
                    Ok(configs) => match &entry {
                        Unmanaged::Component(_) => links_of(lattice, lattice_name, &id).await,
                        Unmanaged::Provider(p) => provider_links(&host.shared().capabilities, (lattice, lattice_name), &id, &p.image_ref).await,
                    }
                    .map(|links| (configs, links)),
                    Err(reason) => Err(reason),
                };
                let (configs, links) = match resolved {
                    Ok(found) => found,
                    Err(error) => {
                        tracing::warn!(host = host.id(), id = %id, config = name, %error, "cannot read its config; it keeps the values it has");
                        continue;
                    }
                };
                let result = match entry {
                    Unmanaged::Component(mut scale) => {
                        (scale.configs, scale.links) = (configs, links);
                        host.scale_component(&scale).await
                    }
                    Unmanaged::Provider(mut start) => {
                        (start.configs, start.links) = (configs, links);
                        host.start_provider(&start).await
                    }
                };
                match result {
                    Ok(()) => tracing::info!(host = host.id(), id = %id, config = name, "config applied"),
                    Err(failure) => tracing::warn!(host = host.id(), id = %id, config = name, error = %failure.message, "config not applied; it keeps the values it had"),
                }
            }
        }
    }
}

/// wasmCloud's `component_limits` as Trellis's limits: `max_memory_limit` in bytes,
/// `max_execution_time` in seconds.
fn limits(given: Option<&BTreeMap<String, String>>) -> Result<Limits, String> {
    let mut limits = Limits::default();
    for (key, value) in given.into_iter().flatten() {
        let number = || value.trim().parse::<u64>().map_err(|_| format!("component_limits.{key}: `{value}` is not a whole number"));
        match key.as_str() {
            "max_memory_limit" => limits.max_linear_memory_bytes = Some(number()?),
            "max_execution_time" => limits.max_execution_time_ms = Some(number()?.saturating_mul(1000)),
            other => return Err(format!("component_limits.{other} is not a limit Trellis knows (max_memory_limit, max_execution_time)")),
        }
    }
    Ok(limits)
}

/// The links put through the control interface whose source is `source`, from the manager
/// (`link.get`), with the named config they name and the images of the providers they target.
/// Without a manager on the lattice there are none.
pub(super) async fn links_of(lattice: &dyn Lattice, lattice_name: &str, source: &str) -> Result<PutLinks, String> {
    put_links(lattice, lattice_name, source, false).await
}

/// The links put for provider `id`: those it is the source of and, for a provider process
/// (which is told of the links that call it, as wasmCloud tells providers), those it is the
/// target of.
pub(super) async fn provider_links(
    capabilities: &Capabilities,
    (lattice, lattice_name): (&dyn Lattice, &str),
    id: &str,
    image_ref: &str,
) -> Result<PutLinks, String> {
    let process = !capabilities.is_builtin_provider(image_ref);
    put_links(lattice, lattice_name, id, process).await
}

async fn put_links(lattice: &dyn Lattice, lattice_name: &str, id: &str, incoming: bool) -> Result<PutLinks, String> {
    let all: Vec<Link> = all_links(lattice, lattice_name).await.map_err(|e| format!("the links of `{id}`: {e}"))?;
    let (links, incoming): (Vec<Link>, Vec<Link>) = all.into_iter().filter(|l| l.source_id == id || (incoming && l.target == id)).partition(|l| l.source_id == id);
    if links.is_empty() && incoming.is_empty() {
        return Ok(PutLinks::default());
    }
    let mut names: Vec<String> = links.iter().chain(&incoming).flat_map(|l| l.source_config.iter().chain(&l.target_config)).cloned().collect();
    names.sort();
    names.dedup();
    let configs = resolve_configs(lattice, lattice_name, &names).await?.into_iter().collect();
    // Only a link of a package a built-in capability provides can name a provider; asking
    // every host for its inventory is left to those.
    let mut providers = match links.iter().any(|l| capabilities::provides(&l.wit_namespace, &l.wit_package)) {
        true => provider_images(lattice, lattice_name).await,
        false => BTreeMap::new(),
    };
    providers.retain(|id, _| links.iter().any(|l| &l.target == id));
    Ok(PutLinks { links, configs, providers, incoming })
}

/// Every link of the lattice, from the manager (`link.get`); none without a manager.
pub(super) async fn all_links(lattice: &dyn Lattice, lattice_name: &str) -> Result<Vec<Link>, String> {
    let subject = format!("{}.link.get", ctl_prefix(lattice_name));
    let reply = match lattice.request(Message::new(subject, Vec::new()), CONFIG_TIMEOUT).await {
        Ok(reply) => reply,
        Err(LatticeError::NoResponders { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let reply: CtlReply<Vec<Link>> = serde_json::from_slice(&reply.payload).map_err(|e| format!("unreadable reply: {e}"))?;
    Ok(reply.response.unwrap_or_default())
}

/// Every provider the hosts of the lattice run, by id: its image.
async fn provider_images(lattice: &dyn Lattice, lattice_name: &str) -> BTreeMap<String, String> {
    let ctl = ctl_prefix(lattice_name);
    let pings = trellis_lattice::gather(lattice, Message::new(format!("{ctl}.host.ping"), Vec::new()), HOSTS_QUIET, CONFIG_TIMEOUT).await.unwrap_or_default();
    let mut images = BTreeMap::new();
    for ping in pings {
        let Ok(CtlReply { response: Some(host), .. }) = serde_json::from_slice::<CtlReply<HostInfo>>(&ping.payload) else { continue };
        let Ok(reply) = lattice.request(Message::new(format!("{ctl}.host.get.{}", host.id), Vec::new()), CONFIG_TIMEOUT).await else { continue };
        let Ok(CtlReply { response: Some(inventory), .. }) = serde_json::from_slice::<CtlReply<HostInventory>>(&reply.payload) else { continue };
        images.extend(inventory.providers.into_iter().filter_map(|p| Some((p.id, p.image_ref?))));
    }
    images
}

/// Reads each named config from whoever keeps it on the lattice (`config.get.<name>`).
pub(super) async fn resolve_configs(
    lattice: &dyn Lattice,
    lattice_name: &str,
    names: &[String],
) -> Result<Vec<(String, BTreeMap<String, String>)>, String> {
    let mut resolved = Vec::new();
    for name in names {
        let subject = format!("{}.config.get.{name}", ctl_prefix(lattice_name));
        let reply = lattice.request(Message::new(subject, Vec::new()), CONFIG_TIMEOUT).await.map_err(|e| format!("config `{name}`: {e}"))?;
        let reply: CtlReply<BTreeMap<String, String>> = serde_json::from_slice(&reply.payload).map_err(|e| format!("config `{name}`: unreadable reply: {e}"))?;
        match reply.response {
            Some(values) if reply.success => resolved.push((name.clone(), values)),
            _ => return Err(format!("config `{name}` is not defined; put it with `trellis config put {name} KEY=VALUE`")),
        }
    }
    Ok(resolved)
}
