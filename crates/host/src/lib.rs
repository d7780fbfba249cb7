//! A Trellis host: runs its share of each application's components and the built-in
//! capabilities their links call for.
//!
//! **Owns** turning an [`Assignment`] into running parts on this node: fetching component
//! artifacts, preparing each component under its limits and concurrency cap, resolving named
//! config, and wiring links to built-in capabilities, whose backends it opens through the
//! registry the binary built ([`Capabilities`]): it knows each capability's interface, never a
//! backend's link keys. Applying a new assignment starts the new
//! components beside the old ones and stops the old only once the new serve; a failed apply
//! leaves the old running and is reported with the manifest field at fault.
//!
//! It also owns how hosts are seen and reached: their control interface
//! (`wasmbus.ctl.v1.<lattice>.*`), heartbeats and events, and [`LocalFleet`] (the hosts of
//! this process, which a manager in this process places on). It knows nothing of the manager:
//! the manager's client of remote hosts lives in the manager, and the binary joins the two.
//!
//! **Must not** schedule across hosts (the deployment manager's job), know which transport the
//! lattice runs on, or configure wasmtime (the runtime's job).
//!
//! Start at [`Host::apply`].
#![warn(missing_docs)]

mod artifact;
mod capabilities;
mod claims;
mod config;
mod deploy;
mod error;
mod external;
mod fleet;
mod health;
mod inventory;
mod links;
mod secrets;
mod unmanaged;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use trellis_cap_http_server::{BoundRoute, HttpServer, Route};
use trellis_rpc::Calls;
use trellis_runtime::{LoadedFrom, Runtime};
use trellis_types::manifest::Manifest;
use trellis_types::placement::{AppOnHost, Assignment, Failure, HostReport};

pub use capabilities::Capabilities;
pub use error::DeployError;
pub use fleet::LocalFleet;
pub use secrets::{SECRET_STORE_PREFIX, serve_secret_store};
pub use unmanaged::{ComponentScale, NamedConfigs, ProviderStart, PutLinks};
use unmanaged::{Owner, Unmanaged};
pub use trellis_cap_secrets::{Backend as SecretsBackend, LocalStore};
use trellis_oci::{Policy as RegistryPolicy, Registries};

/// The backend of a host that was given none: every reference fails, saying so.
struct NoSecrets;

#[async_trait::async_trait]
impl SecretsBackend for NoSecrets {
    async fn get(&self, request: &trellis_cap_secrets::SecretRequest<'_>) -> Result<trellis_cap_secrets::SecretValue, trellis_cap_secrets::SecretsError> {
        Err(trellis_cap_secrets::SecretsError::Backend {
            backend: format!("policy backend `{}`", request.policy.get("backend").map_or("", String::as_str)),
            reason: "this host has no secrets backend".into(),
        })
    }
}

/// What every host of one process shares: one wasmtime engine and instance pool, one HTTP
/// server (so hosts of one process can serve one address together), one registry of
/// capability backends (whose in-process broker they share, as a NATS server), one secrets backend, one set of registries and their cache.
#[derive(Clone)]
pub struct Shared {
    runtime: Runtime,
    http: HttpServer,
    capabilities: Arc<Capabilities>,
    state_dir: PathBuf,
    secrets: Arc<dyn SecretsBackend>,
    calls: Calls,
    registries: Arc<Registries>,
    /// Where external providers are started; none off a NATS lattice.
    providers: Option<trellis_provider::Launcher>,
}

impl Shared {
    /// The shared parts over `runtime`, serving the `capabilities` registered; durable
    /// capability state goes under `state_dir`.
    /// Secret references fail until a backend is given with [`Shared::with_secrets`]; calls
    /// between components stay in the process until [`Shared::with_calls`] joins a lattice.
    pub fn new(runtime: Runtime, state_dir: PathBuf, capabilities: Arc<Capabilities>) -> Shared {
        let registries = Arc::new(registries(RegistryPolicy::default(), &state_dir));
        Shared {
            runtime,
            http: HttpServer::new(),
            capabilities,
            state_dir,
            secrets: Arc::new(NoSecrets),
            calls: Calls::in_process(),
            registries,
            providers: None,
        }
    }

    /// Runs capabilities that are no built-in as provider processes started by `launcher`.
    pub fn with_providers(mut self, launcher: trellis_provider::Launcher) -> Shared {
        self.providers = Some(launcher);
        self
    }

    /// Reaches components with `calls` (joined to a lattice: over wRPC too).
    pub fn with_calls(mut self, calls: Calls) -> Shared {
        self.calls = calls;
        self
    }

    /// Pulls components from OCI registries under `policy` (its size limit is the host's).
    pub fn with_registries(mut self, policy: RegistryPolicy) -> Shared {
        self.registries = Arc::new(registries(policy, &self.state_dir));
        self
    }

    /// Where components are pulled from: `registry.put` gives it credentials.
    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// Resolves manifests' secret references through `backend`.
    pub fn with_secrets(mut self, backend: Arc<dyn SecretsBackend>) -> Shared {
        self.secrets = backend;
        self
    }

    /// The runtime, for its allocation mode and defaults.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Stops accepting requests and waits for in-flight ones to finish.
    pub async fn shutdown(&self) {
        self.http.shutdown().await;
    }
}

/// Registries under `policy`, with the host's component size limit, caching under `state_dir`.
fn registries(policy: RegistryPolicy, state_dir: &std::path::Path) -> Registries {
    Registries::new(RegistryPolicy { max_bytes: artifact::MAX_COMPONENT_BYTES, ..policy }).with_cache(state_dir.join("oci"))
}

/// One host: an id, labels, and the applications it runs.
pub struct Host {
    id: String,
    friendly_name: String,
    started: std::time::Instant,
    labels: RwLock<BTreeMap<String, String>>,
    shared: Shared,
    apps: Mutex<BTreeMap<Owner, Running>>,
    /// The newest failed apply per app, until an apply of that app succeeds.
    failures: std::sync::Mutex<BTreeMap<Owner, Failure>>,
    /// The last health check of each capability here, by lattice id.
    health: std::sync::Mutex<BTreeMap<String, Result<(), String>>>,
}

/// A deployed application and the background work it owns.
struct Running {
    deployment: Deployment,
    revision: String,
    tasks: Vec<JoinHandle<()>>,
    /// Set for a component or provider started through the control interface: what started it.
    unmanaged: Option<Unmanaged>,
    /// Capabilities the manager placed here (those with a scaler of their own), by name.
    capabilities: BTreeMap<String, u32>,
    /// The capabilities that failed the last health check, as `field: message`.
    unhealthy: Vec<String>,
}

impl Running {
    /// The provider id, for a provider started through the control interface.
    fn provider_id(&self) -> Option<String> {
        match &self.unmanaged {
            Some(Unmanaged::Provider(start)) => Some(start.provider_id.clone()),
            _ => None,
        }
    }

    async fn stop(self, http: &HttpServer) {
        for task in &self.tasks {
            task.abort();
        }
        for route in &self.deployment.routes {
            http.unbind(route).await;
        }
    }
}

/// What a deploy started.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Application name.
    pub app: String,
    /// Manifest version, if it names one.
    pub version: Option<String>,
    /// Components started, in manifest order.
    pub components: Vec<StartedComponent>,
    /// Routes now served.
    pub routes: Vec<BoundRoute>,
    /// Things the user should know that did not stop the deploy.
    pub warnings: Vec<String>,
    /// The backends it connected for its capabilities, for health checks.
    pub(crate) probes: Vec<health::Probe>,
    /// The external provider processes it runs; each stops once no deployment holds it.
    pub(crate) providers: Vec<trellis_provider::Provider>,
}

/// A component running on this host.
#[derive(Debug, Clone)]
pub struct StartedComponent {
    /// Name in the manifest.
    pub name: String,
    /// Lattice id.
    pub id: String,
    /// The image it was started from, as the manifest gives it.
    pub image_ref: String,
    /// Maximum concurrent instances.
    pub max_instances: u32,
    /// Whether compiled now or loaded from the cache.
    pub loaded_from: LoadedFrom,
    /// Its valid embedded signature, if it is signed.
    pub(crate) signed: Option<claims::Signed>,
}

impl Host {
    /// A host with no applications. Its id is a fresh server nkey's public key, as in wasmCloud.
    pub fn new(shared: Shared, labels: BTreeMap<String, String>) -> Host {
        Host::with_id(shared, labels, nkeys::KeyPair::new_server().public_key())
    }

    /// A host whose id is the public key of `seed`, a server nkey seed (`SN…`), as wasmCloud's
    /// `--host-seed` gives a host a stable id across restarts.
    pub fn from_seed(shared: Shared, labels: BTreeMap<String, String>, seed: &str) -> Result<Host, String> {
        let key = nkeys::KeyPair::from_seed(seed.trim()).map_err(|e| format!("the host seed is not an nkey seed: {e}"))?;
        if key.key_pair_type() != nkeys::KeyPairType::Server {
            return Err(format!("the host seed must be a server nkey seed (SN…), not a {:?} seed", key.key_pair_type()));
        }
        Ok(Host::with_id(shared, labels, key.public_key()))
    }

    fn with_id(shared: Shared, labels: BTreeMap<String, String>, id: String) -> Host {
        let friendly_name = inventory::friendly_name(&id);
        Host {
            id,
            friendly_name,
            started: std::time::Instant::now(),
            labels: RwLock::new(labels),
            shared,
            apps: Mutex::default(),
            failures: Default::default(),
            health: Default::default(),
        }
    }

    /// What it shares with the other hosts of its process.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The host's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A name people can tell apart from other hosts' (`brave-otter-42`).
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// The host's labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.labels.read().expect("labels poisoned").clone()
    }

    /// Sets (`Some`) or removes (`None`) a label.
    pub fn set_label(&self, key: &str, value: Option<&str>) {
        let mut labels = self.labels.write().expect("labels poisoned");
        match value {
            Some(v) => labels.insert(key.to_owned(), v.to_owned()),
            None => labels.remove(key),
        };
    }

    /// Runs `assignment`. Its components start beside whatever ran of the app before, and the
    /// old ones stop once the new ones serve, so no request finds nothing. On failure the old
    /// version keeps running, and the failure is kept for [`Host::report`].
    pub async fn apply(&self, assignment: &Assignment) -> Result<(), Failure> {
        self.apply_as(Owner::App(assignment.manifest.name().to_owned()), assignment, None).await
    }

    /// Runs, stops (count 0) or rescales a component outside any manifest, as the control
    /// interface's `component.scale` asks.
    pub async fn scale_component(&self, scale: &ComponentScale) -> Result<(), Failure> {
        let key = Owner::Component(scale.component_id.clone());
        if scale.count == 0 {
            self.remove_owner(&key).await;
            return Ok(());
        }
        let assignment = match scale.assignment(&self.shared.capabilities) {
            Ok(a) => a,
            Err(message) => {
                self.record_scale_failure(&scale.component_id, &message);
                return Err(Failure { revision: String::new(), field: None, message });
            }
        };
        self.apply_as(key, &assignment, Some(Unmanaged::Component(scale.clone()))).await
    }

    /// The scale of unmanaged component `id`, if it runs here.
    pub async fn unmanaged_scale(&self, id: &str) -> Option<ComponentScale> {
        match self.apps.lock().await.get(&Owner::Component(id.to_owned())).and_then(|r| r.unmanaged.clone()) {
            Some(Unmanaged::Component(scale)) => Some(scale),
            _ => None,
        }
    }

    /// Serves a built-in capability as provider `start.provider_id`, as `provider.start`
    /// asks (again, with new links, to relink it).
    pub async fn start_provider(&self, start: &ProviderStart) -> Result<(), Failure> {
        let assignment = start.assignment(&self.shared.capabilities).map_err(|message| Failure { revision: String::new(), field: None, message })?;
        self.apply_as(Owner::Provider(start.provider_id.clone()), &assignment, Some(Unmanaged::Provider(start.clone()))).await
    }

    /// Whether capabilities that are no built-in run here, as provider processes.
    pub fn runs_provider_processes(&self) -> bool {
        self.shared.providers.is_some()
    }

    /// What runs here outside any manifest.
    pub(crate) async fn unmanaged(&self) -> Vec<Unmanaged> {
        self.apps.lock().await.values().filter_map(|r| r.unmanaged.clone()).collect()
    }

    /// Provider `id`, if it runs here.
    pub async fn provider(&self, id: &str) -> Option<ProviderStart> {
        match self.apps.lock().await.get(&Owner::Provider(id.to_owned())).and_then(|r| r.unmanaged.clone()) {
            Some(Unmanaged::Provider(start)) => Some(start),
            _ => None,
        }
    }

    /// The claims of the signed components running here, as `claims.get` lists them.
    pub(crate) async fn claims(&self) -> Vec<BTreeMap<String, String>> {
        let apps = self.apps.lock().await;
        apps.values().flat_map(|r| &r.deployment.components).filter_map(|c| c.signed.as_ref().map(|s| s.listed.clone())).collect()
    }

    /// The public key and claims of component `id`'s embedded signature, if it runs here signed.
    pub(crate) async fn signature(&self, id: &str) -> Option<(String, serde_json::Value)> {
        let apps = self.apps.lock().await;
        let started = apps.values().flat_map(|r| &r.deployment.components).find(|c| c.id == id)?;
        started.signed.as_ref().map(|s| (s.subject.clone(), s.event_claims.clone()))
    }

    /// Stops provider `id`; whether it ran here.
    pub async fn stop_provider(&self, id: &str) -> bool {
        self.remove_owner(&Owner::Provider(id.to_owned())).await
    }

    /// Forgets why the last scale of unmanaged component `id` failed: a new one is under way.
    pub fn forget_scale_failure(&self, id: &str) {
        self.failures.lock().expect("failures poisoned").remove(&Owner::Component(id.to_owned()));
    }

    /// Records why a scale of unmanaged component `id` failed before it reached the host.
    pub fn record_scale_failure(&self, id: &str, reason: &str) {
        let failure = Failure { revision: String::new(), field: None, message: reason.to_owned() };
        self.failures.lock().expect("failures poisoned").insert(Owner::Component(id.to_owned()), failure);
    }

    /// Why the last scale of each unmanaged component failed, by component id.
    fn scale_failures(&self) -> BTreeMap<String, String> {
        let failures = self.failures.lock().expect("failures poisoned");
        failures
            .iter()
            .filter_map(|(owner, f)| match owner {
                Owner::Component(id) => Some((id.clone(), f.message.clone())),
                _ => None,
            })
            .collect()
    }

    async fn apply_as(&self, name: Owner, assignment: &Assignment, unmanaged: Option<Unmanaged>) -> Result<(), Failure> {
        if self.apps.lock().await.get(&name).is_some_and(|r| r.revision == assignment.revision) {
            return Ok(());
        }
        let share = deploy::Share { host: &self.id, components: &assignment.components, configs: &assignment.configs };
        let base_dir = if assignment.base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { assignment.base_dir.clone() };
        let s = &self.shared;
        match deploy::deploy(s, &assignment.manifest, &base_dir, &share).await {
            Ok((deployment, tasks)) => {
                for warning in &deployment.warnings {
                    tracing::warn!(owner = %name, host = %self.id, "{warning}");
                }
                let manifest = &assignment.manifest;
                let capabilities = assignment
                    .components
                    .iter()
                    .filter(|(name, _)| manifest.component(name).is_some_and(|c| c.kind == trellis_types::manifest::ComponentKind::Capability))
                    .map(|(name, n)| (name.clone(), *n))
                    .collect();
                let running = Running { deployment, revision: assignment.revision.clone(), tasks, unmanaged, capabilities, unhealthy: Vec::new() };
                let old = self.apps.lock().await.insert(name.clone(), running);
                self.failures.lock().expect("failures poisoned").remove(&name);
                if let Some(old) = old {
                    old.stop(&s.http).await;
                }
                Ok(())
            }
            Err(e) => {
                let failure = Failure { revision: assignment.revision.clone(), field: e.field().map(str::to_owned), message: e.reason() };
                tracing::warn!(owner = %name, host = %self.id, error = %e, "deploy failed");
                self.failures.lock().expect("failures poisoned").insert(name, failure.clone());
                Err(failure)
            }
        }
    }

    /// Stops an application here; in-flight requests finish. Returns whether it ran here.
    pub async fn remove(&self, app: &str) -> bool {
        self.remove_owner(&Owner::App(app.to_owned())).await
    }

    async fn remove_owner(&self, owner: &Owner) -> bool {
        self.failures.lock().expect("failures poisoned").remove(owner);
        let Some(running) = self.apps.lock().await.remove(owner) else {
            return false;
        };
        running.stop(&self.shared.http).await;
        true
    }

    /// The application (placed by the manager) that runs component `id` here, if one does.
    pub async fn application_of(&self, id: &str) -> Option<String> {
        let apps = self.apps.lock().await;
        apps.iter().find_map(|(owner, r)| match owner {
            Owner::App(name) if r.deployment.components.iter().any(|c| c.id == id) => Some(name.clone()),
            _ => None,
        })
    }

    /// What runs here of the applications the manager placed (not unmanaged components).
    pub async fn report(&self) -> HostReport {
        let mut apps: BTreeMap<String, AppOnHost> = self
            .apps
            .lock()
            .await
            .iter()
            .filter_map(|(owner, r)| match owner {
                Owner::App(name) => Some((name, r)),
                _ => None,
            })
            .map(|(name, r)| {
                let d = &r.deployment;
                let on_host = AppOnHost {
                    revision: Some(r.revision.clone()),
                    version: d.version.clone(),
                    components: d.components.iter().map(|c| (c.name.clone(), c.max_instances)).chain(r.capabilities.clone()).collect(),
                    routes: d.routes.iter().map(|b| format!("{} -> {}", url(&b.route, b.local_address), b.owner.component)).collect(),
                    warnings: d.warnings.clone(),
                    unhealthy: r.unhealthy.clone(),
                    failure: None,
                };
                (name.clone(), on_host)
            })
            .collect();
        for (owner, failure) in self.failures.lock().expect("failures poisoned").iter() {
            if let Owner::App(name) = owner {
                apps.entry(name.clone()).or_default().failure = Some(failure.clone());
            }
        }
        HostReport { id: self.id.clone(), labels: self.labels(), apps }
    }

    /// Stops every application here (in-flight requests finish).
    pub async fn stop(&self) {
        let apps = std::mem::take(&mut *self.apps.lock().await);
        for (_, running) in apps {
            running.stop(&self.shared.http).await;
        }
    }
}

/// The HTTP addresses and routes `manifest` would take, with the field that takes each.
pub fn http_claims(manifest: &Manifest, configs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<(String, String)> {
    deploy::http_claims(manifest, configs, std::path::Path::new("."))
}

/// The URL a person can open: the bound address, with `0.0.0.0` shown as `127.0.0.1`.
pub fn url(route: &Route, local: SocketAddr) -> String {
    let mut shown = local;
    if shown.ip().is_unspecified() {
        shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match route {
        Route::Address(_) => format!("http://{shown}/"),
        Route::Path { path, .. } => format!("http://{shown}{path}"),
        Route::Host { header, host, .. } => format!("http://{shown}/ ({header}: {host})"),
    }
}
