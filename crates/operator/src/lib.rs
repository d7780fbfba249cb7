//! The Trellis Kubernetes operator: wasmCloud's `WasmCloudHostConfig` becomes Trellis host pods,
//! a wadm manifest applied with `kubectl` becomes a deployed application, and an application's
//! HTTP server becomes a Service.
//!
//! **Owns** the two custom resources ([`crd`]), the objects made from them (a ServiceAccount and
//! a Deployment or DaemonSet per WasmCloudHostConfig, a Service per HTTP application), their
//! status, and the translation of an `Application` object into calls to the deployment manager.
//!
//! **Must not** place, scale or start anything on the lattice itself, or talk to hosts: every
//! change goes through the deployment manager's wadm API ([`Manager`]), as `trellis app` does, so
//! the manager stays the one place that decides. The operator keeps no state of its own: every
//! reconcile reads the object and the manager, so a restarted operator carries on where it was.
//!
//! Start at [`run`].

pub mod crd;
mod apps;
mod conditions;
mod hosts;
mod manager;
mod merge;
mod services;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::events::{Recorder, Reporter};
use kube::Client;
use trellis_lattice::Lattice;

pub use hosts::{HostDefaults, HOST_CONTAINER, HOST_LABEL_PREFIX};
pub use manager::{Manager, ManagerError, Observed};

/// The field manager of every object the operator writes (server-side apply).
const FIELD_MANAGER: &str = "trellis-operator";

/// How the operator is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The lattice of Applications in a namespace without a WasmCloudHostConfig.
    pub default_lattice: String,
    /// What host pods run when a WasmCloudHostConfig names no image.
    pub hosts: HostDefaults,
    /// Names this operator in Events (`kubectl describe`): its pod name, usually.
    pub instance: String,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a call.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The custom resource definitions are not installed.
    #[error("the custom resource {0} is not installed: apply them with `trellis operator crds | kubectl apply -f -` (or run the operator with --install-crds)")]
    MissingCrd(String),
    /// The deployment manager failed (in a reconcile, where it is retried).
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// Adding or removing the Application finalizer failed.
    #[error("{0}")]
    Finalizer(String),
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) manager: Manager,
    pub(crate) settings: Settings,
    pub(crate) recorder: Recorder,
}

/// Whether the operator is ready: its controllers run (`/readyz`).
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Whether both controllers are watching.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A JSON merge patch from status `old` to `new`: fields `new` no longer has are nulled, so a
/// message that no longer applies does not linger.
pub(crate) fn status_patch<T: serde::Serialize>(old: Option<&T>, new: &T) -> serde_json::Value {
    let mut new = serde_json::to_value(new).expect("a status serializes");
    if let (Some(serde_json::Value::Object(old)), serde_json::Value::Object(fields)) = (old.map(|o| serde_json::to_value(o).expect("a status serializes")), &mut new) {
        for key in old.keys() {
            fields.entry(key.clone()).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": new })
}

/// Applies both custom resource definitions and waits until the API server serves them.
pub async fn install_crds(client: &Client) -> Result<(), Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crd::definitions() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd)).await?;
        let established = kube::runtime::wait::await_condition(api.clone(), &name, kube::runtime::wait::conditions::is_crd_established());
        let _ = tokio::time::timeout(Duration::from_secs(30), established).await;
    }
    Ok(())
}

/// Refuses to start when the custom resources are not served, naming the missing one.
async fn check_crds(client: &Client) -> Result<(), Error> {
    use kube::api::{Api, ListParams};
    let probe = ListParams::default().limit(1);
    Api::<crd::WasmCloudHostConfig>::all(client.clone()).list_metadata(&probe).await.map_err(|e| missing(e, "wasmcloudhostconfigs.k8s.wasmcloud.dev"))?;
    Api::<crd::Application>::all(client.clone()).list_metadata(&probe).await.map_err(|e| missing(e, "applications.core.oam.dev"))?;
    Ok(())
}

fn missing(e: kube::Error, name: &str) -> Error {
    match &e {
        kube::Error::Api(status) if status.code == 404 => Error::MissingCrd(name.to_owned()),
        _ => Error::Kube(e),
    }
}

/// Runs both controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(client: Client, lattice: Arc<dyn Lattice>, settings: Settings, readiness: Readiness, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), Error> {
    check_crds(&client).await?;
    let reporter = Reporter { controller: FIELD_MANAGER.to_owned(), instance: Some(settings.instance.clone()) };
    let context = Arc::new(Context { client: client.clone(), manager: Manager::new(lattice.clone()), recorder: Recorder::new(client.clone(), reporter), settings });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let when_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let hosts = hosts::controller(context.clone(), when_stopped());
    let apps = apps::controller(context.clone(), lattice, when_stopped()).await;
    readiness.0.store(true, Ordering::Relaxed);
    tracing::info!("operator running: watching WasmCloudHostConfigs and Applications");
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("stopping: finishing reconciles in flight");
        let _ = stop.send(true);
    });
    tokio::join!(hosts.for_each(|_| async {}), apps.for_each(|_| async {}));
    readiness.0.store(false, Ordering::Relaxed);
    Ok(())
}
