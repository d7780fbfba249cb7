//! A Trellis host: runs the components of an application and the built-in capabilities their
//! links call for.
//!
//! **Owns** turning a validated manifest into running parts on this node: fetching component
//! artifacts, preparing each component under its limits and concurrency cap, resolving named
//! config, and wiring links to built-in capabilities (the HTTP server today). A deploy either
//! completes or leaves nothing behind.
//!
//! **Must not** schedule across hosts (the deployment manager's job), speak a wire protocol, or
//! configure wasmtime (the runtime's job).
//!
//! Start at [`Host::deploy`].
#![warn(missing_docs)]

mod artifact;
mod builtins;
mod config;
mod deploy;
mod error;
mod links;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use trellis_cap_http_server::{BoundRoute, HttpServer};
use trellis_cap_messaging::InProcessBroker;
use trellis_runtime::{LoadedFrom, Runtime, RuntimeConfig};
use trellis_types::manifest::Manifest;

pub use error::DeployError;

/// Settings of one host.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The wasmtime runtime's settings.
    pub runtime: RuntimeConfig,
    /// Where durable state lives (e.g. the redb files of keyvalue capabilities).
    pub state_dir: PathBuf,
}

/// One host: its runtime, its HTTP server and the applications deployed on it.
pub struct Host {
    runtime: Runtime,
    http: HttpServer,
    state_dir: PathBuf,
    /// The in-process message broker every app on this host shares.
    broker: Arc<InProcessBroker>,
    apps: Mutex<BTreeMap<String, Running>>,
}

/// A deployed application and the background work it owns.
struct Running {
    deployment: Deployment,
    tasks: Vec<JoinHandle<()>>,
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
}

/// A component running on this host.
#[derive(Debug, Clone)]
pub struct StartedComponent {
    /// Name in the manifest.
    pub name: String,
    /// Lattice id.
    pub id: String,
    /// Maximum concurrent instances.
    pub max_instances: u32,
    /// Whether compiled now or loaded from the cache.
    pub loaded_from: LoadedFrom,
}

impl Host {
    /// A host with no applications.
    pub fn new(config: HostConfig) -> anyhow::Result<Host> {
        Ok(Host {
            runtime: Runtime::new(config.runtime)?,
            http: HttpServer::new(),
            state_dir: config.state_dir,
            broker: Arc::new(InProcessBroker::new()),
            apps: Mutex::default(),
        })
    }

    /// The runtime, for its allocation mode and defaults.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Starts `manifest`'s components and capabilities. Relative image paths resolve against
    /// `base_dir` (the manifest's directory). On any error, everything this deploy started is
    /// stopped again and the error names the component and field.
    pub async fn deploy(&self, manifest: &Manifest, base_dir: &Path) -> Result<Deployment, DeployError> {
        let mut apps = self.apps.lock().await;
        if apps.contains_key(manifest.name()) {
            return Err(DeployError::AlreadyDeployed { app: manifest.name().to_owned() });
        }
        let (deployment, tasks) = deploy::deploy(&self.runtime, &self.http, &self.state_dir, self.broker.clone(), manifest, base_dir).await?;
        apps.insert(deployment.app.clone(), Running { deployment: deployment.clone(), tasks });
        Ok(deployment)
    }

    /// Stops an application's routes; in-flight requests finish. Returns whether it was deployed.
    pub async fn undeploy(&self, app: &str) -> bool {
        let Some(running) = self.apps.lock().await.remove(app) else { return false };
        for task in &running.tasks {
            task.abort();
        }
        for route in &running.deployment.routes {
            self.http.unbind(route).await;
        }
        true
    }

    /// The applications deployed here.
    pub async fn deployments(&self) -> Vec<Deployment> {
        self.apps.lock().await.values().map(|r| r.deployment.clone()).collect()
    }

    /// Stops accepting requests and waits for in-flight ones to finish.
    pub async fn shutdown(&self) {
        for running in self.apps.lock().await.values() {
            for task in &running.tasks {
                task.abort();
            }
        }
        self.http.shutdown().await;
    }
}
