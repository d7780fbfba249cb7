//! A component's own links: each binds one of its imports to a capability, and is the only way
//! the component reaches that capability.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use trellis_cap_blobstore::{BlobStore, FsStore, MemoryStore as MemoryBlobs};
use trellis_cap_blobstore_nats::{NatsBlobConfig, NatsBlobStore};
use trellis_cap_keyvalue::{MemoryStore, RedbStore, Store, Watched};
use trellis_cap_keyvalue_redis::RedisStore;
use trellis_cap_messaging::{Broker, InProcessBroker};
use trellis_cap_messaging_nats::NatsBroker;
use trellis_cap_secrets::Asker;
use trellis_runtime::wasmtime::component::Linker;
use trellis_rpc::{Calls, ImportLinks};
use trellis_runtime::{Grants, InvocationState};
use trellis_types::manifest::{Component, ComponentKind, LinkProperty, Manifest};

use crate::health::{Backend, Probe};
use crate::{DeployError, SecretsBackend};
use crate::artifact::ImageRef;
use crate::builtins::{Builtin, builtin};
use crate::config::Configs;

/// Backends opened by this deploy, by capability name: components linked to the same
/// capability share its store, and only they do.
pub(crate) struct Backends {
    state_dir: PathBuf,
    /// Each wrapped so watcher links can be told of the changes made through it.
    keyvalue: HashMap<String, Arc<Watched>>,
    blobstores: HashMap<String, Arc<dyn BlobStore>>,
    brokers: HashMap<String, Arc<dyn Broker>>,
    /// The host's own broker, shared by every app on it, as a NATS server would be.
    in_process: Arc<InProcessBroker>,
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
            in_process: shared.broker.clone(),
            secrets: shared.secrets.clone(),
            host: host.to_owned(),
            tasks,
            calls: shared.calls.clone(),
            probes,
            registries: shared.registries.clone(),
            providers: shared.providers.clone(),
        }
    }

    /// The broker of messaging capability `capability` (one connection per capability).
    pub(crate) async fn broker(
        &mut self,
        capability: &str,
        kind: Builtin,
        config: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Broker>, String> {
        if let Some(b) = self.brokers.get(capability) {
            return Ok(b.clone());
        }
        let broker: Arc<dyn Broker> = match kind {
            Builtin::MessagingInProcess => self.in_process.clone(),
            Builtin::MessagingNats => {
                let uris = lookup(config, "cluster_uris").unwrap_or(trellis_cap_messaging_nats::DEFAULT_CLUSTER_URIS);
                Arc::new(NatsBroker::connect(uris).await.map_err(|e| format!("nats backend of `{capability}`: {e:#}"))?)
            }
            other => unreachable!("{other:?} is not a messaging capability"),
        };
        self.brokers.insert(capability.to_owned(), broker.clone());
        Ok(broker)
    }
}

/// A config value by case-insensitive key, as wasmCloud's providers read them.
pub(crate) fn lookup<'a>(config: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    config.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

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
        let builtin_capability = builtin(&ImageRef::parse(image, base_dir)).filter(|_| target.kind == ComponentKind::Capability);
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
        match (kind, link.namespace.as_str(), link.package.as_str()) {
            (Builtin::HttpClient, "wasi", "http") if link.interfaces.iter().any(|f| f == "outgoing-handler") => {
                let allowed = lookup(&config, "allowed_hosts");
                let allow = match allowed {
                    Some(text) => Some(trellis_cap_http_client::AllowList::parse(text).map_err(|e| DeployError::Config {
                        field: format!("{}.properties.target.config", at.field),
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
            (b @ (Builtin::MessagingNats | Builtin::MessagingInProcess), "wasmcloud", "messaging")
                if link.interfaces.iter().any(|f| ["consumer", "producer", "request-reply"].contains(&f.as_str())) =>
            {
                let fresh = !backends.brokers.contains_key(&target.name);
                let broker = backends.broker(&target.name, b, &config).await.map_err(|e| at.error(e))?;
                if fresh {
                    backends.probes.push(probe(Backend::Broker(broker.clone())));
                }
                brokers.insert(name, broker);
            }
            (Builtin::Postgres, "wasmcloud", "postgres") => {
                let config = trellis_cap_postgres::PostgresConfig::from_link(|key| lookup(&config, key)).map_err(|e| DeployError::Config {
                    field: format!("{}.properties.target.config", at.field),
                    reason: format!("the link from `{}` to `{}`: {e}", c.name, target.name),
                })?;
                let database = trellis_cap_postgres::Database::connect(&config).await.map_err(|e| at.error(format!("postgres backend of `{}`: {e}", target.name)))?;
                backends.probes.push(probe(Backend::Postgres(database.clone())));
                databases.insert(name, database);
            }
            (b @ (Builtin::KeyValueRedis | Builtin::KeyValueNats | Builtin::KeyValueRedb | Builtin::KeyValueMemory), "wasi", "keyvalue") => {
                let store = backends.keyvalue(manifest.name(), target, b, &config, probe).await.map_err(|reason| at.error(reason))?;
                stores.insert(name, store);
            }
            (b @ (Builtin::BlobstoreFs | Builtin::BlobstoreNats | Builtin::BlobstoreMemory), "wasi", "blobstore") => {
                let fresh = !backends.blobstores.contains_key(&target.name);
                let store = backends.blobstore(manifest.name(), base_dir, target, b, &config, &at).await?;
                if fresh {
                    backends.probes.push(probe(Backend::Blobs(store.clone())));
                }
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
    async fn blobstore(
        &mut self,
        app: &str,
        base_dir: &std::path::Path,
        capability: &Component,
        kind: Builtin,
        config: &BTreeMap<String, String>,
        at: &At<'_>,
    ) -> Result<Arc<dyn BlobStore>, DeployError> {
        if let Some(store) = self.blobstores.get(&capability.name) {
            return Ok(store.clone());
        }
        let store: Arc<dyn BlobStore> = match kind {
            Builtin::BlobstoreMemory => Arc::new(MemoryBlobs::new()),
            Builtin::BlobstoreFs => {
                // `ROOT` as wasmCloud's blobstore-fs takes it; relative to the manifest.
                let root = match lookup(config, "root") {
                    Some(root) => base_dir.join(root),
                    None => self.state_dir.join("blobstore").join(app).join(&capability.name),
                };
                Arc::new(FsStore::open(&root).map_err(|e| at.error(format!("filesystem blobstore of `{}`: {e}", capability.name)))?)
            }
            Builtin::BlobstoreNats => {
                let replicas = match lookup(config, "num_replicas") {
                    Some(n) => n.parse().map_err(|_| at.error(format!("nats blobstore of `{}`: num_replicas `{n}` is not a number", capability.name)))?,
                    None => 1,
                };
                let config = NatsBlobConfig {
                    cluster_uri: lookup(config, "cluster_uri").unwrap_or(trellis_cap_blobstore_nats::DEFAULT_CLUSTER_URI).to_owned(),
                    js_domain: lookup(config, "js_domain").map(str::to_owned),
                    memory_storage: lookup(config, "storage_type").is_some_and(|t| t.eq_ignore_ascii_case("memory")),
                    num_replicas: replicas,
                };
                Arc::new(NatsBlobStore::connect(config).await.map_err(|e| at.error(format!("nats blobstore of `{}`: {e}", capability.name)))?)
            }
            other => unreachable!("{other:?} is not a blobstore capability"),
        };
        self.blobstores.insert(capability.name.clone(), store.clone());
        Ok(store)
    }

    /// The store of keyvalue capability `capability` (opened from `config` the first time, and
    /// then health-checked as `probe` describes it), for the components linked to it and its
    /// watchers alike; the error is the reason.
    pub(crate) async fn keyvalue(
        &mut self,
        app: &str,
        capability: &Component,
        kind: Builtin,
        config: &BTreeMap<String, String>,
        probe: impl FnOnce(Backend) -> Probe,
    ) -> Result<Arc<Watched>, String> {
        if let Some(store) = self.keyvalue.get(&capability.name) {
            return Ok(store.clone());
        }
        let store: Arc<dyn Store> = match kind {
            Builtin::KeyValueMemory => Arc::new(MemoryStore::new()),
            Builtin::KeyValueRedb => {
                let path = self.state_dir.join("keyvalue").join(app).join(format!("{}.redb", capability.name));
                Arc::new(RedbStore::open(&path).map_err(|e| format!("redb backend: {e:#}"))?)
            }
            Builtin::KeyValueRedis => {
                let url = lookup(config, "url").ok_or_else(|| {
                    format!(
                        "redis backend of `{}`: no `URL` in the link's target config or the capability's config (e.g. URL: redis://127.0.0.1:6379)",
                        capability.name
                    )
                })?;
                Arc::new(RedisStore::connect(url).await.map_err(|e| format!("redis backend of `{}`: {e:#}", capability.name))?)
            }
            Builtin::KeyValueNats => {
                let bucket = lookup(config, "bucket")
                    .ok_or_else(|| format!("nats backend of `{}`: no `bucket` in the link's target config or the capability's config", capability.name))?;
                let config = trellis_cap_keyvalue_nats::NatsKvConfig {
                    cluster_uri: lookup(config, "cluster_uri").unwrap_or(trellis_cap_keyvalue_nats::DEFAULT_CLUSTER_URI).to_owned(),
                    bucket: bucket.to_owned(),
                    js_domain: lookup(config, "js_domain").map(str::to_owned),
                    auto_create: lookup(config, "enable_bucket_auto_create").is_some_and(|v| v.eq_ignore_ascii_case("true")),
                };
                let store = trellis_cap_keyvalue_nats::NatsKvStore::connect(&config)
                    .await
                    .map_err(|e| format!("nats backend of `{}`: {e:#}", capability.name))?;
                Arc::new(store)
            }
            other => unreachable!("{other:?} is not a keyvalue capability"),
        };
        let watched = Watched::new(store);
        self.keyvalue.insert(capability.name.clone(), watched.clone());
        self.probes.push(probe(Backend::KeyValue(watched.clone())));
        Ok(watched)
    }
}
