//! A component's own links: each binds one of its imports to a capability, and is the only way
//! the component reaches that capability.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use trellis_cap_blobstore::BlobStore;
use trellis_cap_keyvalue::{Store, Watched};
use trellis_cap_messaging::Broker;
use trellis_cap_secrets::Asker;
use trellis_capability::{Backend, LinkConfig, OpenError, Place};
use trellis_runtime::wasmtime::component::Linker;
use trellis_rpc::{Calls, ImportLinks};
use trellis_runtime::{Grants, InvocationState};
use trellis_types::manifest::{Component, ComponentKind, LinkProperty, Manifest};

use crate::health::{Backend as Checked, Probe};
use crate::{DeployError, SecretsBackend};
use crate::artifact::ImageRef;
use crate::capabilities::{Builtin, Capabilities};
use crate::config::Configs;

/// Backends opened by this deploy, by capability name: components linked to the same
/// capability share its store, and only they do.
pub(crate) struct Backends {
    state_dir: PathBuf,
    /// Each wrapped so watcher links can be told of the changes made through it.
    keyvalue: HashMap<String, Arc<Watched>>,
    blobstores: HashMap<String, Arc<dyn BlobStore>>,
    brokers: HashMap<String, Arc<dyn Broker>>,
    /// The backends the binary registered.
    pub(crate) capabilities: Arc<Capabilities>,
    /// Where secret references are resolved.
    pub(crate) secrets: Arc<dyn SecretsBackend>,
    /// The host deploying, by id: it asks for the secrets.
    pub(crate) host: String,
    /// Every backend connected, once each, for health checks.
    pub(crate) probes: Vec<Probe>,
    /// Where components are pulled from.
    pub(crate) registries: Arc<trellis_oci::Registries>,
    /// Message delivery loops and export servers started by this deploy.
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
    /// How components reach each other.
    pub(crate) calls: Calls,
    /// Where external providers start, on a NATS lattice.
    pub(crate) providers: Option<trellis_provider::Launcher>,
}

impl Backends {
    /// What a deploy on `host` reaches through `shared`.
    pub(crate) fn new(shared: &crate::Shared, host: &str) -> Backends {
        let (keyvalue, blobstores, brokers, tasks, probes) = Default::default();
        Backends {
            state_dir: shared.state_dir.clone(),
            keyvalue,
            blobstores,
            brokers,
            capabilities: shared.capabilities.clone(),
            secrets: shared.secrets.clone(),
            host: host.to_owned(),
            tasks,
            calls: shared.calls.clone(),
            probes,
            registries: shared.registries.clone(),
            providers: shared.providers.clone(),
        }
    }

    /// The broker of messaging capability `capability` of `app` (one connection per
    /// capability), opened by `backend` from `config` the first time.
    pub(crate) async fn broker(
        &mut self,
        (app, capability): (&str, &str),
        backend: &dyn Backend<dyn Broker>,
        config: &BTreeMap<String, String>,
        base_dir: &std::path::Path,
    ) -> Result<(Arc<dyn Broker>, bool), NotOpened> {
        if let Some(b) = self.brokers.get(capability) {
            return Ok((b.clone(), false));
        }
        let broker = open(backend, config, self.place(app, capability, base_dir)).await?;
        self.brokers.insert(capability.to_owned(), broker.clone());
        Ok((broker, true))
    }

    fn place<'a>(&'a self, app: &'a str, capability: &'a str, base_dir: &'a std::path::Path) -> Place<'a> {
        Place { app, capability, state_dir: &self.state_dir, base_dir }
    }
}

/// Opens `backend` with `config`, or says what it is and why it did not open.
async fn open<T: ?Sized + 'static>(backend: &dyn Backend<T>, config: &BTreeMap<String, String>, place: Place<'_>) -> Result<Arc<T>, NotOpened> {
    backend
        .open(&LinkConfig::new(config, place))
        .await
        .map_err(|error| NotOpened { describe: backend.describe(), capability: place.capability.to_owned(), error })
}

/// A capability's backend that did not open.
pub(crate) struct NotOpened {
    describe: &'static str,
    capability: String,
    error: OpenError,
}

impl NotOpened {
    /// The error of a deploy: a wrong config value points at `config_field`, on the link from
    /// `source`; anything else at the link itself (`at_link`).
    pub(crate) fn into_deploy_error(self, config_field: String, source: &str, at_link: impl FnOnce(String) -> DeployError) -> DeployError {
        match self.error {
            OpenError::Config(reason) => DeployError::Config { field: config_field, reason: format!("the link from `{source}` to `{}`: {reason}", self.capability) },
            OpenError::Unavailable(reason) => at_link(format!("{} of `{}`: {reason}", self.describe, self.capability)),
        }
    }
}

pub(crate) use trellis_capability::lookup;

/// Where a link sits in the manifest, for errors.
struct At<'a> {
    source: &'a Component,
    link: &'a LinkProperty,
    field: String,
}

impl At<'_> {
    fn error(&self, reason: String) -> DeployError {
        DeployError::Link {
            source_name: self.source.name.clone(),
            target: self.link.target.name.clone(),
            interface: format!("{}:{}/{}", self.link.namespace, self.link.package, self.link.interfaces.join(",")),
            field: self.field.clone(),
            reason,
        }
    }
}

/// Adds to `linker` what each of component `i`'s links to capabilities grants (their secrets
/// asked for as `asker`, the component, which the capability serves); `warnings`
/// collects what the user should know (e.g. egress granted without an allowlist). Returns the
/// targets of its links to other components, which [`trellis_rpc::Calls`] links.
#[expect(clippy::too_many_arguments, reason = "one call site; the arguments are the deploy's context")]
pub(crate) async fn grant_links(
    manifest: &Manifest,
    base_dir: &std::path::Path,
    (i, asker): (usize, Asker<'_>),
    configs: &Configs<'_>,
    backends: &mut Backends,
    linker: &mut Linker<InvocationState>,
    grants: &mut Grants,
    warnings: &mut Vec<String>,
) -> Result<ImportLinks, DeployError> {
    let c = &manifest.spec.components[i];
    let mut calls = ImportLinks::new();
    // Each capability is granted once, with its backend for every link name the component
    // has for it; `wasmcloud:bus/lattice.set-link-name` picks among them at run time.
    let mut stores: BTreeMap<String, Arc<dyn Store>> = BTreeMap::new();
    let mut blobs: BTreeMap<String, Arc<dyn BlobStore>> = BTreeMap::new();
    let mut brokers: BTreeMap<String, Arc<dyn Broker>> = BTreeMap::new();
    let mut databases: BTreeMap<String, Arc<trellis_cap_postgres::Database>> = BTreeMap::new();
    let mut egress: Option<(String, Option<trellis_cap_http_client::AllowList>)> = None;
    for (t, trait_) in c.traits.iter().enumerate() {
        let trellis_types::manifest::TraitProperty::Link(link) = &trait_.properties else { continue };
        let at = At { source: c, link, field: format!("spec.components[{i}].traits[{t}]") };
        let Some(target) = manifest.component(&link.target.name) else {
            return Err(at.error("no such component".into()));
        };
        let name = link.link_name().to_owned();
        let image = target.properties.image.as_deref().unwrap_or_default();
        // A provider process serves its interfaces over wRPC under its id, as a component does;
        // it has the link's config (the host sent it), so none of it is read here.
        let builtin_capability = backends.capabilities.find(&ImageRef::parse(image, base_dir)).filter(|_| target.kind == ComponentKind::Capability);
        let Some(kind) = builtin_capability else {
            let (source_id, target_id) = (c.id(manifest.name()), target.id(manifest.name()));
            // A provider process serves wasi:keyvalue and wasi:blobstore as wasmCloud's do,
            // resource-free (wrpc:keyvalue, wrpc:blobstore): the host keeps the resources and
            // forwards each operation.
            let bridged = target.kind == ComponentKind::Capability
                && match (link.namespace.as_str(), link.package.as_str()) {
                    ("wasi", "keyvalue") => {
                        stores.insert(name.clone(), Arc::new(trellis_cap_keyvalue_wrpc::ProviderStore::new(&target_id, (&source_id, &name), backends.calls.clone())));
                        true
                    }
                    ("wasi", "blobstore") => {
                        blobs.insert(name.clone(), Arc::new(trellis_cap_blobstore_wrpc::ProviderBlobs::new(&target_id, (&source_id, &name), backends.calls.clone())));
                        true
                    }
                    _ => false,
                };
            if bridged {
                for interface in &link.interfaces {
                    grants.link(&format!("{}:{}/{interface}", link.namespace, link.package), &name);
                }
                continue;
            }
            // Served by the target wherever it runs: in-process or over wRPC (trellis-rpc).
            for interface in &link.interfaces {
                let interface = format!("{}:{}/{interface}", link.namespace, link.package);
                calls.entry(interface).or_default().insert(name.clone(), target_id.clone());
            }
            continue;
        };
        // The capability's own config, overridden by the link's target config.
        let target_index = manifest.spec.components.iter().position(|x| x.name == target.name).expect("found above");
        let probe = |backend| Probe {
            capability: target.name.clone(),
            field: format!("spec.components[{target_index}]"),
            id: target.id(manifest.name()),
            backend,
        };
        let mut config = configs.merge(&target.properties.config, &format!("spec.components[{target_index}].properties.config"))?;
        config.extend(configs.merge(&link.target.config, &format!("{}.properties.target.config", at.field))?);
        // The link's target secrets reach the capability as config keys (a Redis `URL` with a
        // password in it), as wasmCloud's providers read them; they are not kept.
        config.extend(link_secrets(manifest, link, &at, (backends.secrets.as_ref(), asker)).await?);
        for interface in &link.interfaces {
            grants.link(&format!("{}:{}/{interface}", link.namespace, link.package), &name);
        }
        let config_field = format!("{}.properties.target.config", at.field);
        let not_opened = |e: NotOpened| e.into_deploy_error(config_field.clone(), &c.name, |reason| at.error(reason));
        match (kind, link.namespace.as_str(), link.package.as_str()) {
            (Builtin::HttpClient, "wasi", "http") if link.interfaces.iter().any(|f| f == "outgoing-handler") => {
                let allowed = lookup(&config, "allowed_hosts");
                let allow = match allowed {
                    Some(text) => Some(trellis_cap_http_client::AllowList::parse(text).map_err(|e| DeployError::Config {
                        field: config_field.clone(),
                        reason: format!("allowed_hosts of the link from `{}` to `{}`: {e}", c.name, target.name),
                    })?),
                    None => {
                        warnings.push(format!(
                            "{}: component `{}` may send HTTP requests to any host (unrestricted egress); set `allowed_hosts` in the link's target config to narrow it",
                            at.field, c.name
                        ));
                        None
                    }
                };
                // Outbound HTTP has one policy per component: the `default` link's, else the first.
                if egress.is_none() || name == "default" {
                    egress = Some((name, allow));
                }
            }
            (Builtin::Messaging(backend), "wasmcloud", "messaging")
                if link.interfaces.iter().any(|f| ["consumer", "producer", "request-reply"].contains(&f.as_str())) =>
            {
                let (broker, fresh) = backends.broker((manifest.name(), &target.name), backend.as_ref(), &config, base_dir).await.map_err(not_opened)?;
                if fresh {
                    backends.probes.push(probe(Checked::Broker(broker.clone())));
                }
                brokers.insert(name, broker);
            }
            (Builtin::Postgres(backend), "wasmcloud", "postgres") => {
                let place = backends.place(manifest.name(), &target.name, base_dir);
                let database = open(backend.as_ref(), &config, place).await.map_err(not_opened)?;
                backends.probes.push(probe(Checked::Postgres(database.clone())));
                databases.insert(name, database);
            }
            (Builtin::KeyValue(backend), "wasi", "keyvalue") => {
                let store = backends.keyvalue((manifest.name(), &target.name), backend.as_ref(), &config, base_dir, probe).await.map_err(not_opened)?;
                stores.insert(name, store);
            }
            (Builtin::Blobstore(backend), "wasi", "blobstore") => {
                let store = backends.blobstore((manifest.name(), &target.name), backend.as_ref(), &config, base_dir, probe).await.map_err(not_opened)?;
                blobs.insert(name, store);
            }
            (Builtin::HttpServer, _, _) => {
                return Err(at.error("the http-server capability is linked from the capability to the component, not the other way".into()));
            }
            (_, ns, pkg) => {
                return Err(at.error(format!("capability `{}` ({image}) does not provide {ns}:{pkg}", target.name)));
            }
        }
    }
    let linking = |e: anyhow::Error| DeployError::Link {
        source_name: c.name.clone(),
        target: String::new(),
        interface: String::new(),
        field: format!("spec.components[{i}].traits"),
        reason: format!("{e:#}"),
    };
    // A watcher is handed buckets of the store it watches, so it gets the interface even with
    // no store link of its own; only those buckets reach a store.
    if !stores.is_empty() || watches_keyvalue(manifest, c) {
        trellis_cap_keyvalue::grant(linker, grants, stores).map_err(linking)?;
    }
    if !blobs.is_empty() {
        trellis_cap_blobstore::grant(linker, grants, blobs).map_err(linking)?;
    }
    if !brokers.is_empty() {
        trellis_cap_messaging::grant(linker, grants, brokers).map_err(linking)?;
    }
    if !databases.is_empty() {
        trellis_cap_postgres::grant(linker, grants, databases).map_err(linking)?;
    }
    if let Some((_, allow)) = egress {
        trellis_cap_http_client::grant(grants, allow);
    }
    Ok(calls)
}

/// Whether a capability of `manifest` links `wasi:keyvalue/watcher` to `c`.
fn watches_keyvalue(manifest: &Manifest, c: &Component) -> bool {
    manifest.spec.components.iter().flat_map(Component::links).any(|l| {
        l.target.name == c.name && l.namespace == "wasi" && l.package == "keyvalue" && l.interfaces.iter().any(|i| i == "watcher")
    })
}

/// The link's `target.secrets` as text, by their names in the manifest.
async fn link_secrets(
    manifest: &Manifest,
    link: &LinkProperty,
    at: &At<'_>,
    (backend, asker): (&dyn SecretsBackend, Asker<'_>),
) -> Result<BTreeMap<String, String>, DeployError> {
    let field = format!("{}.properties.target.secrets", at.field);
    let secret_error = |(field, reason)| DeployError::Secret { component: at.source.name.clone(), field, reason };
    let resolved = crate::secrets::resolve(manifest, &link.target.secrets, &field, backend, asker).await.map_err(secret_error)?;
    let mut out = BTreeMap::new();
    for (j, (name, value)) in resolved.into_iter().enumerate() {
        let text = value.into_text().ok_or_else(|| secret_error((format!("{field}[{j}]"), format!("secret `{name}` is bytes; link config takes text"))))?;
        out.insert(name, text);
    }
    Ok(out)
}

impl Backends {
    /// The blobstore of capability `capability` of `app`, opened by `backend` from `config`
    /// the first time (and then health-checked as `probe` describes it).
    async fn blobstore(
        &mut self,
        (app, capability): (&str, &str),
        backend: &dyn Backend<dyn BlobStore>,
        config: &BTreeMap<String, String>,
        base_dir: &std::path::Path,
        probe: impl FnOnce(Checked) -> Probe,
    ) -> Result<Arc<dyn BlobStore>, NotOpened> {
        if let Some(store) = self.blobstores.get(capability) {
            return Ok(store.clone());
        }
        let store = open(backend, config, self.place(app, capability, base_dir)).await?;
        self.blobstores.insert(capability.to_owned(), store.clone());
        self.probes.push(probe(Checked::Blobs(store.clone())));
        Ok(store)
    }

    /// The store of keyvalue capability `capability` of `app` (opened by `backend` from
    /// `config` the first time, and then health-checked as `probe` describes it), for the
    /// components linked to it and its watchers alike.
    pub(crate) async fn keyvalue(
        &mut self,
        (app, capability): (&str, &str),
        backend: &dyn Backend<dyn Store>,
        config: &BTreeMap<String, String>,
        base_dir: &std::path::Path,
        probe: impl FnOnce(Checked) -> Probe,
    ) -> Result<Arc<Watched>, NotOpened> {
        if let Some(store) = self.keyvalue.get(capability) {
            return Ok(store.clone());
        }
        let watched = Watched::new(open(backend, config, self.place(app, capability, base_dir)).await?);
        self.keyvalue.insert(capability.to_owned(), watched.clone());
        self.probes.push(probe(Checked::KeyValue(watched.clone())));
        Ok(watched)
    }
}
