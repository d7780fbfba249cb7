//! `trellis up`: one process with the in-process lattice, its hosts, the deployment manager
//! and the loopback API, deploying the given manifests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use trellis_host::{Host, LocalFleet, LocalStore, Shared};
use trellis_lattice::{InProcess, Lattice};
use trellis_manager::{Manager, ManagerConfig, Store};
use trellis_runtime::{Limits, Runtime, RuntimeConfig};
use trellis_types::wadm::StatusType;

use crate::app::Connection;
use crate::client::{self, Client};

#[derive(Args)]
pub(crate) struct UpArgs {
    /// Manifest to put and deploy at start (repeatable). Relative image paths resolve against its directory.
    #[arg(long = "deploy", value_name = "FILE")]
    deploy: Vec<PathBuf>,
    /// Start a host with these labels (repeatable: one host each), e.g. `--host region=eu,zone=a`.
    /// Without it, one host with no labels.
    #[arg(long = "host", value_name = "LABELS", value_parser = parse_labels)]
    hosts: Vec<BTreeMap<String, String>>,
    /// How often the manager recomputes every application from scratch.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    resync_interval_ms: u64,
    /// Holds the compiled-component cache and all state. Default: the per-user data directory.
    #[arg(long, env = "TRELLIS_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Deadline of one invocation, host-wide default; a manifest may lower it per component.
    #[arg(long, env = "WASMCLOUD_MAX_EXECUTION_TIME_MS", value_name = "MS", default_value_t = 60_000)]
    max_execution_time_ms: u64,
    /// Cap on one instance's linear memory, host-wide default; a manifest may lower it per component.
    #[arg(long, env = "WASMCLOUD_MAX_LINEAR_MEMORY", value_name = "BYTES", default_value_t = 256 << 20)]
    max_linear_memory_bytes: u64,
    /// Concurrent instances the pooling allocator reserves room for, across all components.
    #[arg(long, alias = "max-components", env = "WASMCLOUD_MAX_COMPONENTS", default_value_t = 1000)]
    max_instances: u32,
    /// Allocate instance memory on demand instead of from a pre-reserved pool.
    #[arg(long)]
    no_pooling: bool,
    /// Log filter (tracing's `RUST_LOG` syntax), e.g. `info` or `trellis=debug,guest=info`.
    #[arg(long, env = "WASMCLOUD_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

/// `k=v,k=v` → labels.
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not KEY=VALUE"))?;
        if k.is_empty() {
            return Err(format!("`{pair}` has an empty key"));
        }
        labels.insert(k.to_owned(), v.to_owned());
    }
    Ok(labels)
}

pub(crate) fn run(args: UpArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    init_logging(&args.log_level);
    // `--api` names the URL clients use; `up` listens there.
    let url = connection.api.trim_end_matches('/');
    let address = url.strip_prefix("http://").unwrap_or(url);
    let api: SocketAddr = address
        .parse()
        .map_err(|_| anyhow::anyhow!("--api {url}: `up` listens on it, so give it as http://IP:PORT on loopback, e.g. http://127.0.0.1:7151"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(up(args, api, connection.lattice.clone()))
}

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn default_state_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "trellis", "trellis")
        .map(|d| d.data_dir().to_owned())
        .unwrap_or_else(|| PathBuf::from(".trellis"))
}

async fn up(args: UpArgs, api: SocketAddr, lattice_name: String) -> anyhow::Result<ExitCode> {
    if args.max_execution_time_ms == 0 || args.max_linear_memory_bytes == 0 {
        anyhow::bail!("--max-execution-time-ms and --max-linear-memory-bytes must be greater than zero");
    }
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir).with_context(|| format!("creating state directory {}", state_dir.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits {
            max_execution_time: Duration::from_millis(args.max_execution_time_ms),
            max_linear_memory_bytes: args.max_linear_memory_bytes,
        },
        max_instances: args.max_instances,
        cache_dir: Some(state_dir.join("compiled")),
        pooling: !args.no_pooling,
    })?;
    let allocation = runtime.allocation();
    let secrets = LocalStore::open(&state_dir).context("opening the local secret store")?;
    let shared = Shared::new(runtime, state_dir.clone()).with_secrets(Arc::new(secrets.clone()));
    let labels = if args.hosts.is_empty() { vec![BTreeMap::new()] } else { args.hosts.clone() };
    let hosts: Vec<Arc<Host>> = labels.into_iter().map(|l| Arc::new(Host::new(shared.clone(), l))).collect();
    for h in &hosts {
        tracing::info!(host = h.id(), labels = ?h.labels(), "host started");
    }

    let lattice = InProcess::new();
    let lattice_dyn: Arc<dyn Lattice> = Arc::new(lattice.clone());
    let manager_cell: Arc<OnceLock<Manager>> = Arc::default();
    let cell = manager_cell.clone();
    let fleet = Arc::new(LocalFleet::new(hosts, move || {
        if let Some(m) = cell.get() {
            m.hosts_changed();
        }
    }));
    let store = Store::open(&state_dir.join("manager.redb"))?;
    let config = ManagerConfig { lattice: lattice_name.clone(), resync_interval: Duration::from_millis(args.resync_interval_ms.max(10)) };
    let manager = Manager::start(config, store, lattice_dyn.clone(), fleet.clone()).await?;
    let _ = manager_cell.set(manager.clone());
    fleet.clone().serve_ctl(lattice_dyn.clone(), &lattice_name).await?;
    trellis_host::serve_secret_store(secrets, lattice_dyn.clone(), &lattice_name).await?;
    let api = crate::api_server::serve(api, lattice_dyn.clone()).await?;
    tracing::info!(state_dir = %state_dir.display(), ?allocation, lattice = %lattice_name, "Trellis started (embedded)");
    println!("API: http://{api}");

    let client = Client::in_process(lattice_dyn, &lattice_name);
    for path in &args.deploy {
        let (name, version) = client::put_file(&client, path, true).await?;
        client::deploy(&client, &name, Some(&version)).await.with_context(|| format!("deploying {}", path.display()))?;
        let status = client::wait_for_status(&client, &name, Duration::from_secs(300)).await?;
        if status.info.status_type != StatusType::Deployed {
            anyhow::bail!("{}: {name} {version} is {}: {}", path.display(), status.info.status_type.as_str(), status.info.message);
        }
        println!("deployed {name} {version}");
        for report in trellis_manager::Fleet::reports(fleet.as_ref()).await {
            let Some(app) = report.apps.get(&name) else { continue };
            for warning in &app.warnings {
                eprintln!("warning: {}: {warning}", path.display());
            }
            for route in &app.routes {
                println!("  {route}");
            }
        }
    }
    println!("Trellis is up (embedded). Press Ctrl-C to stop.");

    shutdown_signal().await;
    eprintln!("stopping: finishing in-flight requests");
    manager.stop();
    shared.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
