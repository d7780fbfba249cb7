//! One deploy: a manifest in, running components and bound routes out, or nothing at all.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tokio::task::JoinHandle;
use trellis_cap_http_server::{HttpServer, HttpTarget, LinkSettings, Owner, Route, ServerConfig};
use trellis_cap_config::ConfigValues;
use trellis_cap_secrets::Asker;
use trellis_cap_messaging::{Handler, Subscription};
use trellis_runtime::{Grants, Limits, PreparedComponent, Runtime};
use trellis_types::manifest::{Component, ComponentKind, LinkProperty, Manifest};

use crate::artifact::{self, ImageRef};
use crate::capabilities::Builtin;
use crate::config::Configs;
use crate::links::{self, Backends};
use crate::{DeployError, Deployment, StartedComponent};

/// What of a manifest this host runs.
pub(crate) struct Share<'a> {
    /// The host it runs on, by id.
    pub(crate) host: &'a str,
    /// Component name → maximum concurrent instances here; components not listed run elsewhere.
    pub(crate) components: &'a BTreeMap<String, u32>,
    /// Named config the manifest references without defining.
    pub(crate) configs: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// Deploys this host's share of `manifest`; returns what it started and the message delivery
/// tasks it runs.
pub(crate) async fn deploy(
    shared: &crate::Shared,
    manifest: &Manifest,
    base_dir: &Path,
    share: &Share<'_>,
) -> Result<(Deployment, Vec<JoinHandle<()>>), DeployError> {
    let (runtime, http) = (&shared.runtime, &shared.http);
    let mut deployment = Deployment {
        app: manifest.name().to_owned(),
        version: manifest.version().map(str::to_owned),
        components: Vec::new(),
        routes: Vec::new(),
        warnings: Vec::new(),
        probes: Vec::new(),
        providers: Vec::new(),
    };
    let mut backends = Backends::new(shared, share.host);
    match deploy_into(runtime, http, manifest, base_dir, share, &mut backends, &mut deployment).await {
        Ok(()) => {
            deployment.probes = backends.probes;
            Ok((deployment, backends.tasks))
        }
        Err(e) => {
            for task in &backends.tasks {
                task.abort();
            }
            for route in &deployment.routes {
                http.unbind(route).await;
            }
            Err(e)
        }
    }
}

async fn deploy_into(
    runtime: &Runtime,
    http: &HttpServer,
    manifest: &Manifest,
    base_dir: &Path,
    share: &Share<'_>,
    backends: &mut Backends,
    deployment: &mut Deployment,
) -> Result<(), DeployError> {
    let configs = Configs::of(manifest, share.configs);
    let mut running: HashMap<&str, PreparedComponent> = HashMap::new();

    for (i, c) in manifest.spec.components.iter().enumerate() {
        if c.kind != ComponentKind::Component {
            continue;
        }
        let Some(&instances) = share.components.get(&c.name).filter(|&&n| n > 0) else { continue };
        let id = c.id(manifest.name());
        let (prepared, loaded_from, signed) =
            start_component(runtime, manifest, i, &id, base_dir, &configs, backends, instances, &mut deployment.warnings).await?;
        let image_ref = c.properties.image.clone().unwrap_or_default();
        deployment.components.push(StartedComponent { name: c.name.clone(), id, image_ref, max_instances: instances, loaded_from, signed });
        running.insert(&c.name, prepared);
    }

    for (i, c) in manifest.spec.components.iter().enumerate() {
        match c.kind {
            // A component's own links were granted when it was prepared.
            ComponentKind::Component => {}
            ComponentKind::Capability => {
                let image = c.properties.image.as_deref().unwrap_or_default();
                let kind = backends.capabilities.find(&ImageRef::parse(image, base_dir));
                let Some(kind) = kind else {
                    // A provider process runs where the manager placed it (everywhere the app
                    // runs, without a scaler); elsewhere its links reach it over the lattice.
                    if serves_from_here(c, share, &backends.calls).is_some() {
                        let provider = crate::external::start(manifest, i, base_dir, &configs, backends).await?;
                        backends.probes.push(crate::health::Probe {
                            capability: c.name.clone(),
                            field: format!("spec.components[{i}]"),
                            id: provider.id().to_owned(),
                            backend: crate::health::Backend::Provider(provider.clone()),
                        });
                        deployment.providers.push(provider);
                    }
                    continue;
                };
                if let Builtin::Messaging(backend) = &kind {
                    subscribe_handlers(manifest, (c, i), (backend.as_ref(), base_dir), share, &configs, &running, backends).await?;
                    continue;
                }
                if let Builtin::KeyValue(backend) = &kind {
                    watch_links(manifest, (c, i), (backend.as_ref(), base_dir), share, &configs, &running, backends).await?;
                    continue;
                }
                if !matches!(kind, Builtin::HttpServer) {
                    // Backends (keyvalue) are reached through the links of the components that
                    // use them; links of their own (e.g. a keyvalue watcher) are not served yet.
                    if let Some((t, link)) = c.links().enumerate().next() {
                        return Err(link_error(c, link, i, t, format!("links from capability `{}` are not supported yet", c.name)));
                    }
                    continue;
                }
                let server_config = configs.merge(&c.properties.config, &format!("spec.components[{i}].properties.config"))?;
                let server = ServerConfig::from_config(&server_config).map_err(|e| DeployError::Config {
                    field: format!("spec.components[{i}].properties.config"),
                    reason: format!("http-server capability `{}`: {e}", c.name),
                })?;
                let Some(placed) = serves_from_here(c, share, &backends.calls) else { continue };
                for (t, link) in c.traits.iter().enumerate().filter_map(|(t, tr)| match &tr.properties {
                    trellis_types::manifest::TraitProperty::Link(l) => Some((t, l)),
                    _ => None,
                }) {
                    if placed.is_none() && runs_elsewhere(manifest, share, &running, &link.target.name) {
                        continue;
                    }
                    bind_http_link(http, manifest, c, (i, t), link, &server, &configs, (&running, placed), deployment).await?;
                }
            }
        }
    }
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one call site; the arguments are the deploy's context")]
async fn start_component(
    runtime: &Runtime,
    manifest: &Manifest,
    i: usize,
    id: &str,
    base_dir: &Path,
    configs: &Configs<'_>,
    backends: &mut Backends,
    instances: u32,
    warnings: &mut Vec<String>,
) -> Result<(PreparedComponent, trellis_runtime::LoadedFrom, Option<crate::claims::Signed>), DeployError> {
    let c = &manifest.spec.components[i];
    let field = format!("spec.components[{i}].properties.image");
    let Some(image) = c.properties.image.clone() else {
        return Err(DeployError::Image {
            component: c.name.clone(),
            field: format!("spec.components[{i}].properties.application"),
            image: String::new(),
            reason: "components of shared applications need the deployment manager, which is not part of this host".into(),
        });
    };
    let image_error = |reason: String| DeployError::Image { component: c.name.clone(), field: field.clone(), image: image.clone(), reason };
    let bytes = match ImageRef::parse(&image, base_dir) {
        ImageRef::File(path) => artifact::read_file(&path).await.map_err(image_error)?,
        ImageRef::Oci(reference) => backends.registries.pull(&reference).await.map_err(|e| image_error(e.to_string()))?,
        ImageRef::Builtin(name) => return Err(image_error(format!("`{name}` is a built-in capability, not a component; use `type: capability`"))),
    };
    let invalid = |reason: String| DeployError::Invalid { component: c.name.clone(), field: field.clone(), image: image.clone(), reason };
    // Checking a signature hashes the component, and compiling it takes whole seconds of CPU:
    // both stay off the threads serving requests. The secrets go first, as they fail cheaply.
    let (signed, bytes) = tokio::task::spawn_blocking(move || (crate::claims::embedded(&bytes), bytes)).await.map_err(|e| invalid(e.to_string()))?;
    let signed = signed.map_err(&invalid)?;
    let host = backends.host.clone();
    let asker = Asker { host: &host, entity_jwt: signed.as_ref().map(|s| s.jwt.as_str()) };
    let secrets = crate::secrets::resolve(manifest, &c.properties.secrets, &format!("spec.components[{i}].properties.secrets"), backends.secrets.as_ref(), asker)
        .await
        .map_err(|(field, reason)| DeployError::Secret { component: c.name.clone(), field, reason })?;
    let compiled = {
        let runtime = runtime.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || runtime.compile(&id, &bytes))
            .await
            .map_err(|e| invalid(e.to_string()))?
            .map_err(|e| invalid(format!("{e:#}")))?
    };
    let mut linker = runtime.linker().map_err(|e| invalid(format!("{e:#}")))?;
    // Logging, config and the link-name bus are the host's own, as in wasmCloud: every
    // component gets them, each seeing only its own config and links.
    let mut grants = Grants::default();
    let config = configs.merge(&c.properties.config, &format!("spec.components[{i}].properties.config"))?;
    trellis_cap_logging::grant(&mut linker, &mut grants, id).map_err(|e| invalid(format!("{e:#}")))?;
    trellis_cap_config::grant(&mut linker, &mut grants, ConfigValues::new(config)).map_err(|e| invalid(format!("{e:#}")))?;
    trellis_cap_bus::grant(&mut linker, &mut grants).map_err(|e| invalid(format!("{e:#}")))?;
    trellis_cap_secrets::grant(&mut linker, &mut grants, trellis_cap_secrets::ComponentSecrets::new(secrets)).map_err(|e| invalid(format!("{e:#}")))?;
    let calls = links::grant_links(manifest, base_dir, (i, asker), configs, backends, &mut linker, &mut grants, warnings).await?;
    backends.calls.link_imports(&mut linker, runtime.engine(), &compiled.0, id, &calls, &mut grants).map_err(|e| invalid(format!("{e:#}")))?;
    let defaults = runtime.default_limits();
    let requested = c.limits();
    let limits = Limits {
        max_execution_time: requested.max_execution_time_ms.map_or(defaults.max_execution_time, std::time::Duration::from_millis),
        max_linear_memory_bytes: requested.max_linear_memory_bytes.unwrap_or(defaults.max_linear_memory_bytes),
    };
    let prepared = runtime.prepare(id, &compiled.0, &mut linker, grants, limits, instances).map_err(|e| invalid(format!("{e:#}")))?;
    let serving = backends.calls.serve(prepared.clone()).await.map_err(|e| invalid(format!("serving its exports: {e:#}")))?;
    backends.tasks.push(serving);
    // An HTTP server on another host reaches it as wasmCloud's http-server provider would.
    if let Ok(target) = HttpTarget::new(prepared.clone())
        && let Some(client) = backends.calls.wrpc_client(id).await
    {
        let serving_http = async { trellis_cap_http_server::serve_wrpc(&client?, target).await };
        backends.tasks.push(serving_http.await.map_err(|e| invalid(format!("serving wrpc:http/incoming-handler: {e:#}")))?);
    }
    // So does a messaging capability on another host.
    if let Ok(handler) = Handler::new(prepared.clone())
        && let Some(client) = backends.calls.wrpc_client(id).await
    {
        let serving_messages = async { trellis_cap_messaging::serve_wrpc(&client?, handler).await };
        backends.tasks.push(serving_messages.await.map_err(|e| invalid(format!("serving wasmcloud:messaging/handler: {e:#}")))?);
    }
    let signed_as = signed.as_ref().map(|s| s.subject.as_str());
    tracing::info!(component = id, instances, ?limits, loaded_from = ?compiled.1, signed_as, "component started");
    Ok((prepared, compiled.1, signed))
}

#[expect(clippy::too_many_arguments, reason = "one call site; the arguments are the deploy's context")]
async fn bind_http_link(
    http: &HttpServer,
    manifest: &Manifest,
    c: &Component,
    (i, t): (usize, usize),
    link: &LinkProperty,
    server: &ServerConfig,
    configs: &Configs<'_>,
    (running, lattice): (&HashMap<&str, PreparedComponent>, Option<&trellis_rpc::Calls>),
    deployment: &mut Deployment,
) -> Result<(), DeployError> {
    if !(link.namespace == "wasi" && link.package == "http" && link.interfaces.iter().any(|f| f == "incoming-handler")) {
        return Err(link_error(c, link, i, t, "the http-server capability links only wasi:http/incoming-handler".into()));
    }
    let target = &link.target.name;
    let http_target = match (running_target(manifest, running, target), lattice) {
        (Ok(prepared), _) => HttpTarget::new(prepared.clone()).map_err(|e| link_error(c, link, i, t, e.to_string()))?,
        // Placed on other hosts: reached there, over wRPC (or in this process if a host of
        // it runs the component).
        (Err(_), Some(calls)) if scaled_up(manifest, target) => {
            let id = manifest.component(target).expect("scaled_up found it").id(manifest.name());
            HttpTarget::on_lattice(&id, calls.clone())
        }
        (Err(reason), _) => return Err(link_error(c, link, i, t, reason)),
    };
    let config_field = format!("spec.components[{i}].traits[{t}].properties.source.config");
    let source = link.source.as_ref().map(|s| s.config.as_slice()).unwrap_or_default();
    let link_config = configs.merge(source, &config_field)?;
    let (route, ignored) = Route::from_link_config(server, &link_config)
        .map_err(|e| DeployError::Config { field: config_field.clone(), reason: format!("link to `{target}`: {e}") })?;
    for key in ignored {
        deployment.warnings.push(format!("{config_field}: `{key}` is not supported yet and has no effect"));
    }
    let settings = LinkSettings::from_link_config(&link_config)
        .map_err(|e| DeployError::Config { field: config_field.clone(), reason: format!("link to `{target}`: {e}") })?;
    let owner = Owner { app: manifest.name().to_owned(), component: target.clone() };
    let bound = http
        .bind(route, owner, http_target, settings)
        .await
        .map_err(|source| DeployError::Route { field: format!("spec.components[{i}].traits[{t}]"), source: Box::new(source) })?;
    deployment.routes.push(bound);
    Ok(())
}

/// How capability `c` (an http-server or messaging one) serves its components from this host.
/// With a scaler of its own it runs where that places it and reaches each target wherever it
/// runs: `Some(Some(calls))` here, `None` on another host. Without one it runs beside each
/// target on the target's host: `Some(None)`.
fn serves_from_here<'c>(c: &Component, share: &Share<'_>, calls: &'c trellis_rpc::Calls) -> Option<Option<&'c trellis_rpc::Calls>> {
    match c.scaler() {
        Some(_) => share.components.contains_key(&c.name).then_some(Some(calls)),
        None => Some(None),
    }
}

/// Whether `target` is a component placed on another host (so this host's capability leaves
/// it alone).
fn runs_elsewhere(manifest: &Manifest, share: &Share<'_>, running: &HashMap<&str, PreparedComponent>, target: &str) -> bool {
    !running.contains_key(target) && !share.components.contains_key(target) && scaled_up(manifest, target)
}

/// Whether `target` is a component the manifest runs somewhere (a scaler with instances > 0).
fn scaled_up(manifest: &Manifest, target: &str) -> bool {
    manifest.component(target).is_some_and(|t| t.kind == ComponentKind::Component && t.scaler().is_some_and(|(_, s)| s.instances > 0))
}

/// The running component a capability's link targets, or why there is none.
fn running_target<'r>(manifest: &Manifest, running: &'r HashMap<&str, PreparedComponent>, target: &str) -> Result<&'r PreparedComponent, String> {
    running.get(target).ok_or_else(|| match manifest.component(target) {
        Some(t) if t.kind == ComponentKind::Capability => format!("`{target}` is a capability, not a component"),
        _ => format!("component `{target}` is not running (it needs a spreadscaler or daemonscaler with instances > 0)"),
    })
}

fn link_error(c: &Component, link: &LinkProperty, i: usize, t: usize, reason: String) -> DeployError {
    DeployError::Link {
        source_name: c.name.clone(),
        target: link.target.name.clone(),
        interface: format!("{}:{}/{}", link.namespace, link.package, link.interfaces.join(",")),
        field: format!("spec.components[{i}].traits[{t}]"),
        reason,
    }
}

/// Where a capability's link reaches its component.
enum LinkTarget {
    /// On this host.
    Here(PreparedComponent),
    /// On the lattice, by id (a capability placed by its own scaler).
    Lattice(String, trellis_rpc::Calls),
}

/// A link from a capability to a component it serves from this host.
struct LinkHere<'m> {
    t: usize,
    link: &'m LinkProperty,
    target: LinkTarget,
    /// The capability's own config, overridden by the link's source config.
    config: BTreeMap<String, String>,
    /// Where that config sits, for errors about its values.
    field: String,
}

/// The links of capability `c` (component `i`) to components running here, each checked to be
/// `interface` (`ns:pkg/iface`), the only one this capability links to components.
fn links_here<'m>(
    manifest: &'m Manifest,
    c: &'m Component,
    i: usize,
    (namespace, package, names): (&str, &str, &[&str]),
    share: &Share<'_>,
    configs: &Configs<'_>,
    (running, lattice): (&HashMap<&str, PreparedComponent>, Option<&trellis_rpc::Calls>),
) -> Result<Vec<LinkHere<'m>>, DeployError> {
    let own = configs.merge(&c.properties.config, &format!("spec.components[{i}].properties.config"))?;
    let mut out = Vec::new();
    for (t, trait_) in c.traits.iter().enumerate() {
        let trellis_types::manifest::TraitProperty::Link(link) = &trait_.properties else { continue };
        if !(link.namespace == namespace && link.package == package && link.interfaces.iter().any(|f| names.contains(&f.as_str()))) {
            let names = names.join(" or ");
            return Err(link_error(c, link, i, t, format!("capability `{}` links only {namespace}:{package}/{names} to components", c.name)));
        }
        let target = match (running_target(manifest, running, &link.target.name), lattice) {
            (Ok(here), _) => LinkTarget::Here(here.clone()),
            (Err(_), Some(calls)) if scaled_up(manifest, &link.target.name) => {
                LinkTarget::Lattice(manifest.component(&link.target.name).expect("scaled_up found it").id(manifest.name()), calls.clone())
            }
            (Err(_), None) if runs_elsewhere(manifest, share, running, &link.target.name) => continue,
            (Err(reason), _) => return Err(link_error(c, link, i, t, reason)),
        };
        let field = format!("spec.components[{i}].traits[{t}].properties.source.config");
        let source = link.source.as_ref().map(|s| s.config.as_slice()).unwrap_or_default();
        let mut config = own.clone();
        config.extend(configs.merge(source, &field)?);
        out.push(LinkHere { t, link, target, config, field });
    }
    Ok(out)
}

/// Subscribes the components a messaging capability links to, per each link's `SUBSCRIPTIONS`.
async fn subscribe_handlers(
    manifest: &Manifest,
    (c, i): (&Component, usize),
    (backend, base_dir): (&dyn trellis_capability::Backend<dyn trellis_cap_messaging::Broker>, &Path),
    share: &Share<'_>,
    configs: &Configs<'_>,
    running: &HashMap<&str, PreparedComponent>,
    backends: &mut Backends,
) -> Result<(), DeployError> {
    let Some(lattice) = serves_from_here(c, share, &backends.calls) else { return Ok(()) };
    for LinkHere { t, link, target, config, field } in links_here(manifest, c, i, ("wasmcloud", "messaging", &["handler", "incoming-handler"]), share, configs, (running, lattice))? {
        let handler = match target {
            LinkTarget::Here(target) => Handler::new(target).map_err(|e| link_error(c, link, i, t, e.to_string()))?,
            LinkTarget::Lattice(id, calls) => Handler::on_lattice(&id, calls),
        };
        let subscriptions = crate::links::lookup(&config, "subscriptions")
            .map(Subscription::parse_list)
            .transpose()
            .map_err(|e| DeployError::Config { field: field.clone(), reason: format!("SUBSCRIPTIONS of the link to `{}`: {e}", link.target.name) })?
            .unwrap_or_default();
        let (broker, _) = backends
            .broker((manifest.name(), &c.name), backend, &config, base_dir)
            .await
            .map_err(|e| e.into_deploy_error(field.clone(), &c.name, |reason| link_error(c, link, i, t, reason)))?;
        for sub in subscriptions {
            let subscriber = broker
                .subscribe(&sub.subject, sub.queue.as_deref())
                .await
                .map_err(|e| link_error(c, link, i, t, e.to_string()))?;
            tracing::info!(component = handler.id(), subject = %sub.subject, queue = ?sub.queue, "subscribed");
            backends.tasks.push(trellis_cap_messaging::deliver(handler.clone(), subscriber));
        }
    }
    Ok(())
}

/// A keyvalue capability's links to components exporting `wasi:keyvalue/watcher`: each is told
/// of the changes to the keys its `WATCH` list selects (every key without one), by every writer
/// the backend reports (see `trellis_cap_keyvalue::watch`). The watcher needs no link of its
/// own to the store.
async fn watch_links(
    manifest: &Manifest,
    (c, i): (&Component, usize),
    (backend, base_dir): (&dyn trellis_capability::Backend<dyn trellis_cap_keyvalue::Store>, &Path),
    share: &Share<'_>,
    configs: &Configs<'_>,
    running: &HashMap<&str, PreparedComponent>,
    backends: &mut Backends,
) -> Result<(), DeployError> {
    // Watchers run beside the store they are told of: a backend only this host writes to
    // (memory, redb) knows its changes from its own writes.
    for LinkHere { t, link, target, config, field } in links_here(manifest, c, i, ("wasi", "keyvalue", &["watcher"]), share, configs, (running, None))? {
        let LinkTarget::Here(target) = target else { unreachable!("links_here without a lattice reaches only components here") };
        let watcher = trellis_cap_keyvalue::Watcher::new(target.clone()).map_err(|e| link_error(c, link, i, t, e.to_string()))?;
        let filter = trellis_cap_keyvalue::KeyFilter::parse(crate::links::lookup(&config, "watch").unwrap_or("*"))
            .map_err(|e| DeployError::Config { field: field.clone(), reason: format!("WATCH of the link to `{}`: {e}", link.target.name) })?;
        // The capability's own config and the link's source config: where wasmCloud's providers
        // read `URL`, `bucket` and `WATCH` for a watcher link.
        let probe = |backend| crate::health::Probe { capability: c.name.clone(), field: format!("spec.components[{i}]"), id: c.id(manifest.name()), backend };
        let store = backends
            .keyvalue((manifest.name(), &c.name), backend, &config, base_dir, probe)
            .await
            .map_err(|e| e.into_deploy_error(field.clone(), &c.name, |reason| link_error(c, link, i, t, reason)))?;
        let watching = trellis_cap_keyvalue::watch(watcher, &store, filter.clone()).await.map_err(|e| link_error(c, link, i, t, e.to_string()))?;
        tracing::info!(component = target.id(), capability = %c.name, ?filter, "watching keyvalue changes");
        backends.tasks.push(watching);
    }
    Ok(())
}

/// The HTTP addresses and routes `manifest` would bind, each with the link field that binds it.
/// Links whose config cannot be read claim nothing here; the deploy reports them.
pub(crate) fn http_claims(manifest: &Manifest, external: &BTreeMap<String, BTreeMap<String, String>>, base_dir: &Path) -> Vec<(String, String)> {
    let configs = Configs::of(manifest, external);
    let mut claims = Vec::new();
    for (i, c) in manifest.spec.components.iter().enumerate() {
        let image = c.properties.image.as_deref().unwrap_or_default();
        if c.kind != ComponentKind::Capability || !crate::capabilities::is_http_server(&ImageRef::parse(image, base_dir)) {
            continue;
        }
        let Ok(own) = configs.merge(&c.properties.config, "") else { continue };
        let Ok(server) = ServerConfig::from_config(&own) else { continue };
        for (t, tr) in c.traits.iter().enumerate() {
            let trellis_types::manifest::TraitProperty::Link(link) = &tr.properties else { continue };
            let source = link.source.as_ref().map(|s| s.config.as_slice()).unwrap_or_default();
            let Ok(link_config) = configs.merge(source, "") else { continue };
            let Ok((route, _)) = Route::from_link_config(&server, &link_config) else { continue };
            let resource = match &route {
                Route::Address(a) => format!("HTTP address {a}"),
                other => format!("HTTP route {other}"),
            };
            claims.push((resource, format!("spec.components[{i}].traits[{t}]")));
        }
    }
    claims
}
