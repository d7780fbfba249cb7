//! `trellis up`: one process with a host and its HTTP server, serving the given manifests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use trellis_cap_http_server::Route;
use trellis_host::{Host, HostConfig};
use trellis_runtime::{Limits, RuntimeConfig};

#[derive(Args)]
pub(crate) struct UpArgs {
    /// Manifest to deploy at start (repeatable). Relative image paths resolve against its directory.
    #[arg(long = "deploy", value_name = "FILE")]
    deploy: Vec<PathBuf>,
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

pub(crate) fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    init_logging(&args.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(up(args))
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

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    if args.max_execution_time_ms == 0 || args.max_linear_memory_bytes == 0 {
        anyhow::bail!("--max-execution-time-ms and --max-linear-memory-bytes must be greater than zero");
    }
    let state_dir = args.state_dir.unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir).with_context(|| format!("creating state directory {}", state_dir.display()))?;
    let host = Host::new(HostConfig {
        runtime: RuntimeConfig {
            limits: Limits {
                max_execution_time: Duration::from_millis(args.max_execution_time_ms),
                max_linear_memory_bytes: args.max_linear_memory_bytes,
            },
            max_instances: args.max_instances,
            cache_dir: Some(state_dir.join("compiled")),
            pooling: !args.no_pooling,
        },
        state_dir: state_dir.clone(),
    })?;
    tracing::info!(state_dir = %state_dir.display(), allocation = ?host.runtime().allocation(), "host started");

    for path in &args.deploy {
        let manifest = crate::app::load(path)?;
        let base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let base_dir = if base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { base_dir };
        let deployment = host.deploy(&manifest, &base_dir).await.with_context(|| format!("deploying {}", path.display()))?;
        for warning in &deployment.warnings {
            eprintln!("warning: {}: {warning}", path.display());
        }
        let version = deployment.version.as_deref().unwrap_or("unversioned");
        println!("deployed {} {version}", deployment.app);
        for route in &deployment.routes {
            println!("  {} -> {}", url(&route.route, route.local_address), route.owner.component);
        }
    }
    println!("Trellis is up (embedded). Press Ctrl-C to stop.");

    shutdown_signal().await;
    eprintln!("stopping: finishing in-flight requests");
    host.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The URL a person can open: the bound address, with `0.0.0.0` shown as `127.0.0.1`.
fn url(route: &Route, local: SocketAddr) -> String {
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
