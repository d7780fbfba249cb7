//! `trellis up`: one process with hosts, the deployment manager and the loopback API, deploying
//! the given manifests. Embedded (an in-process lattice) unless `--nats` names a lattice to join.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use trellis_host::{Host, LocalFleet};
use trellis_lattice::{InProcess, Lattice};
use trellis_manager::{Fleet, RemoteFleet};
use trellis_types::wadm::StatusType;

use crate::app::Connection;
use crate::client::{self, Client};
use crate::node::{self, HostArgs, ManagerState};

#[derive(Args)]
pub(crate) struct UpArgs {
    /// Manifest to put and deploy at start (repeatable). Relative image paths resolve against its directory.
    #[arg(long = "deploy", value_name = "FILE")]
    deploy: Vec<std::path::PathBuf>,
    /// Start a host with these labels (repeatable: one host each), e.g. `--host region=eu,zone=a`.
    /// Without it, one host with no labels of its own.
    #[arg(long = "host", value_name = "LABELS", value_parser = node::parse_labels)]
    hosts: Vec<BTreeMap<String, String>>,
    /// How often the manager recomputes every application from scratch.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    resync_interval_ms: u64,
    #[command(flatten)]
    host: HostArgs,
}

pub(crate) fn run(args: UpArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    let api = api_address(connection)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let telemetry = args.host.common.start_telemetry("trellis").await?;
        let outcome = up(args, api, connection).await;
        telemetry.shutdown().await;
        outcome
    })
}

/// Where `up` (or `dev`) listens: `--api` names the URL clients use.
pub(crate) fn api_address(connection: &Connection) -> anyhow::Result<SocketAddr> {
    let url = connection.api.trim_end_matches('/');
    let address = url.strip_prefix("http://").unwrap_or(url);
    address.parse().map_err(|_| anyhow::anyhow!("--api {url}: Trellis listens on it, so give it as http://IP:PORT, e.g. http://127.0.0.1:7151"))
}

/// Serves the API and the dashboard for `lattice` at `address` (given as `flag`, which errors
/// name), with `--api-token` if set.
pub(crate) async fn serve_api(
    (flag, address): (&str, SocketAddr),
    connection: &Connection,
    mode: &str,
    lattice: Arc<dyn Lattice>,
) -> anyhow::Result<trellis_api::Serving> {
    let options = trellis_api::ApiOptions {
        address,
        lattice: connection.lattice.clone(),
        access: trellis_api::Access::from_token(connection.api_token.clone()),
        mode: mode.to_owned(),
    };
    trellis_api::serve(options, lattice).await.map_err(|e| anyhow::anyhow!("{flag} {e}"))
}

impl UpArgs {
    /// One host with `host`'s settings, deploying nothing at start.
    pub(crate) fn embedded(host: HostArgs) -> UpArgs {
        UpArgs { deploy: Vec::new(), hosts: Vec::new(), resync_interval_ms: 5000, host }
    }
}

async fn up(args: UpArgs, api: SocketAddr, connection: &Connection) -> anyhow::Result<ExitCode> {
    let started = start(&args, api, connection).await?;
    for path in &args.deploy {
        started.deploy_file(path).await?;
    }
    println!("Trellis is up ({}). Press Ctrl-C to stop.", started.mode);

    node::shutdown_signal().await;
    eprintln!("stopping: finishing in-flight requests");
    started.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// A running `trellis up`: hosts, the deployment manager and the API, in this process.
pub(crate) struct Started {
    /// A client of this instance, in process.
    pub(crate) client: Client,
    /// `embedded` or `joined to NATS`.
    pub(crate) mode: &'static str,
    fleet: Arc<dyn Fleet>,
    manager: trellis_manager::Manager,
    local: Arc<LocalFleet>,
    shared: trellis_host::Shared,
}

/// Starts hosts, the manager and the API listener at `api` as `args` say; deploys nothing.
pub(crate) async fn start(args: &UpArgs, api: SocketAddr, connection: &Connection) -> anyhow::Result<Started> {
    let state_dir = node::state_dir(args.host.state_dir.as_ref())?;
    let name = connection.lattice.clone();
    let embedded = connection.nats.options("").is_none();
    let nats = if embedded { None } else { Some(node::connect(connection, "up").await?) };
    let lattice: Arc<dyn Lattice> = match &nats {
        Some(nats) => nats.clone(),
        None => Arc::new(InProcess::new()),
    };
    let (shared, secrets) = node::shared(&args.host, &state_dir, nats.clone().map(|n| n as Arc<dyn Lattice>))?;
    let shared = node::join(shared, lattice.clone(), connection, "up", &state_dir).await?;
    let allocation = shared.runtime().allocation();
    let labels = if args.hosts.is_empty() { vec![BTreeMap::new()] } else { args.hosts.clone() };
    let hosts: Vec<Arc<Host>> = labels.iter().map(|l| Arc::new(Host::new(shared.clone(), node::host_labels(l)))).collect();
    for h in &hosts {
        tracing::info!(host = h.id(), name = h.friendly_name(), labels = ?h.labels(), "host started");
    }

    let heartbeat = args.host.common.heartbeat();
    let timing = (Duration::from_millis(args.resync_interval_ms), heartbeat);
    // Embedded, the manager places on this process's hosts directly; on NATS, on every host of
    // the lattice, these included, as it learns of them from heartbeats.
    let (manager, local, fleet): (_, Arc<LocalFleet>, Arc<dyn Fleet>) = if let Some(nats) = &nats {
        let (manager, remote) = node::start_manager(lattice.clone(), ManagerState::Nats(nats), &name, timing, async |on_change| {
            Ok(RemoteFleet::start(lattice.clone(), &name, heartbeat, on_change, crate::fleet::claims_of()).await?)
        })
        .await?;
        (manager, Arc::new(LocalFleet::new(hosts, || {})), remote)
    } else {
        let (manager, embedded) = node::start_manager(lattice.clone(), ManagerState::Dir(&state_dir), &name, timing, async |on_change| {
            Ok(Arc::new(crate::fleet::Embedded(Arc::new(LocalFleet::new(hosts, on_change)))))
        })
        .await?;
        (manager, embedded.0.clone(), embedded)
    };
    local.clone().serve_ctl(lattice.clone(), &name, heartbeat).await?;
    if embedded {
        // Secret values travel in the clear on the lattice, so the store is served only where
        // the lattice is this process.
        trellis_host::serve_secret_store(secrets, lattice.clone(), &name).await?;
    }
    let mode = if embedded { "embedded" } else { "joined to NATS" };
    let serving = serve_api(("--api", api), connection, mode, lattice.clone()).await?;
    tracing::info!(state_dir = %state_dir.display(), ?allocation, lattice = %name, "Trellis started ({mode})");
    println!("API: http://{}", serving.address);
    println!("Dashboard: {}", serving.dashboard_url);

    Ok(Started { client: Client::in_process(lattice, &name), mode, fleet, manager, local, shared })
}

impl Started {
    /// Puts and deploys the manifest at `path`, waits until it is deployed, and prints its
    /// version, routes and warnings.
    pub(crate) async fn deploy_file(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let client = &self.client;
        let (app, version) = client::put_file(client, path, true).await?;
        self.deploy(&app, &version, &path.display().to_string()).await
    }

    /// Deploys `version` of `app` (put already), waits until it is deployed, and prints its
    /// routes and warnings, naming `source` in them.
    pub(crate) async fn deploy(&self, app: &str, version: &str, source: &str) -> anyhow::Result<()> {
        let client = &self.client;
        client::deploy(client, app, Some(version)).await.with_context(|| format!("deploying {source}"))?;
        let status = client::wait_for_status(client, app, Duration::from_secs(300)).await?;
        if status.info.status_type != StatusType::Deployed {
            anyhow::bail!("{source}: {app} {version} is {}: {}", status.info.status_type.as_str(), status.info.message);
        }
        println!("deployed {app} {version}");
        for report in self.fleet.reports().await {
            let Some(on_host) = report.apps.get(app) else {
                continue;
            };
            for warning in &on_host.warnings {
                eprintln!("warning: {source}: {warning}");
            }
            for route in &on_host.routes {
                println!("  {route}");
            }
        }
        Ok(())
    }

    /// The runtime its hosts run components on.
    pub(crate) fn runtime(&self) -> &trellis_runtime::Runtime {
        self.shared.runtime()
    }

    /// Stops everything it started; in-flight requests finish first.
    pub(crate) async fn stop(self) {
        self.manager.stop().await;
        self.local.stop_all().await;
        self.shared.shutdown().await;
    }
}
