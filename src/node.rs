//! The process modes that join a NATS lattice: `trellis host` (hosts only) and `trellis
//! manager` (the deployment manager only), and what they share with `trellis up`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use trellis_host::{Host, LocalFleet, LocalStore, Shared};
use trellis_lattice::{Lattice, Nats};
use trellis_manager::{Lease, Manager, ManagerConfig, Store};
use trellis_rpc::{Calls, Wrpc};
use trellis_runtime::{Limits, Runtime, RuntimeConfig};

use crate::app::Connection;

/// Settings of a process that runs hosts.
#[derive(Args)]
pub(crate) struct HostArgs {
    /// Holds the compiled-component cache and all state. Default: the per-user data directory.
    #[arg(long, env = "TRELLIS_STATE_DIR", value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
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
    /// Resolve manifest secrets through wasmCloud secrets backends listening under this subject
    /// prefix (e.g. `wasmcloud.secrets`; needs --nats). Without it, from the local encrypted store.
    #[arg(long, env = "WASMCLOUD_SECRETS_TOPIC", value_name = "PREFIX")]
    secrets_topic: Option<String>,
    /// Allow pulling components by the `latest` tag (or no tag), which can change under a
    /// running application.
    #[arg(long, env = "WASMCLOUD_OCI_ALLOW_LATEST")]
    allow_latest: bool,
    /// Registries (`host:port`, comma-separated) to pull from over plain HTTP.
    #[arg(long, env = "WASMCLOUD_OCI_ALLOWED_INSECURE", value_delimiter = ',', value_name = "REGISTRY")]
    allowed_insecure: Vec<String>,
    /// A registry to log in to with --oci-user and --oci-password (more with `registry.put`).
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY", requires_all = ["oci_user", "oci_password"])]
    oci_registry: Option<String>,
    /// User name for --oci-registry.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_USER", requires = "oci_registry")]
    oci_user: Option<String>,
    /// Password for --oci-registry.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_PASSWORD", hide_env_values = true, requires = "oci_registry")]
    oci_password: Option<String>,
    /// Registry credentials from a Docker `config.json` (what `docker login` writes, and the
    /// `.dockerconfigjson` of a Kubernetes `kubernetes.io/dockerconfigjson` Secret).
    #[arg(long, env = "TRELLIS_REGISTRY_AUTH_FILE", value_name = "FILE")]
    registry_auth_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Settings every long-running mode has.
#[derive(Args)]
pub(crate) struct CommonArgs {
    /// Log filter (tracing's `RUST_LOG` syntax), e.g. `info` or `trellis=debug,guest=info`.
    #[arg(long, env = "WASMCLOUD_LOG_LEVEL", default_value = "info")]
    pub(crate) log_level: String,
    /// Seconds between heartbeats; a host silent for 1.5 intervals is taken as gone and its
    /// share re-placed. Hosts and managers of one lattice should agree on it.
    #[arg(long, env = "WASMCLOUD_HEARTBEAT_INTERVAL", value_name = "SECONDS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub(crate) heartbeat_interval: f64,
    #[command(flatten)]
    pub(crate) telemetry: trellis_telemetry::TelemetryArgs,
}

impl CommonArgs {
    pub(crate) fn heartbeat(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat_interval)
    }

    /// Installs logging, tracing and metrics for this process, named `service` in traces.
    pub(crate) async fn start_telemetry(&self, service: &str) -> anyhow::Result<trellis_telemetry::Telemetry> {
        let settings = trellis_telemetry::Settings::resolve(&self.telemetry, &self.log_level)?;
        Ok(trellis_telemetry::init(service, &settings).await?)
    }
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
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

/// Labels every host carries, as wasmCloud's do.
fn builtin_labels() -> BTreeMap<String, String> {
    use std::env::consts::{ARCH, FAMILY, OS};
    BTreeMap::from([("hostcore.arch".into(), ARCH.into()), ("hostcore.os".into(), OS.into()), ("hostcore.osfamily".into(), FAMILY.into())])
}

/// A host's labels: the built-in ones, then `WASMCLOUD_LABEL_<key>` variables, then `given`.
pub(crate) fn host_labels(given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = builtin_labels();
    for (name, value) in std::env::vars() {
        if let Some(key) = name.strip_prefix("WASMCLOUD_LABEL_").filter(|k| !k.is_empty()) {
            labels.insert(key.to_owned(), value);
        }
    }
    labels.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

/// Log lines alone, for the modes that export no telemetry (`ui`, `operator`).
pub(crate) fn init_logging(filter: &str) {
    trellis_telemetry::init_logs(filter);
}

pub(crate) fn state_dir(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = given.cloned().unwrap_or_else(|| {
        directories::ProjectDirs::from("dev", "trellis", "trellis").map(|d| d.data_dir().to_owned()).unwrap_or_else(|| PathBuf::from(".trellis"))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating state directory {}", dir.display()))?;
    Ok(dir)
}

/// The engine, pool and shared parts of this process's hosts, and the local secret store.
/// `nats` is the lattice when it is a NATS server, where secrets backends may listen.
pub(crate) fn shared(args: &HostArgs, state_dir: &std::path::Path, nats: Option<Arc<dyn Lattice>>) -> anyhow::Result<(Shared, LocalStore)> {
    if args.max_execution_time_ms == 0 || args.max_linear_memory_bytes == 0 {
        anyhow::bail!("--max-execution-time-ms and --max-linear-memory-bytes must be greater than zero");
    }
    let runtime = Runtime::new(RuntimeConfig {
        limits: Limits { max_execution_time: Duration::from_millis(args.max_execution_time_ms), max_linear_memory_bytes: args.max_linear_memory_bytes },
        max_instances: args.max_instances,
        cache_dir: Some(state_dir.join("compiled")),
        pooling: !args.no_pooling,
    })?;
    let local = LocalStore::open(state_dir).context("opening the local secret store")?;
    let backend: Arc<dyn trellis_host::SecretsBackend> = match (&args.secrets_topic, nats) {
        (None, _) => Arc::new(local.clone()),
        (Some(prefix), Some(nats)) => {
            trellis_lattice::Pattern::parse(&format!("{prefix}.x")).map_err(|e| anyhow::anyhow!("--secrets-topic {prefix}: {e}"))?;
            Arc::new(trellis_cap_secrets_nats::NatsSecrets::new(nats, prefix.trim_end_matches('.')))
        }
        (Some(_), None) => anyhow::bail!("--secrets-topic names where secrets backends listen on a NATS lattice; give --nats too"),
    };
    let policy = trellis_oci::Policy { insecure: args.allowed_insecure.clone(), allow_latest: args.allow_latest, ..Default::default() };
    let shared = Shared::new(runtime, state_dir.to_owned(), crate::capabilities::registry()).with_secrets(backend).with_registries(policy);
    if let (Some(registry), Some(username), Some(password)) = (&args.oci_registry, &args.oci_user, &args.oci_password) {
        shared.registries().set_credentials(registry, trellis_oci::Credentials::Basic { username: username.clone(), password: password.clone() });
    }
    if let Some(path) = &args.registry_auth_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("--registry-auth-file {}", path.display()))?;
        let found = trellis_oci::docker_config_credentials(&text).map_err(|e| anyhow::anyhow!("--registry-auth-file {}: {e}", path.display()))?;
        for (registry, credentials) in found {
            shared.registries().set_credentials(&registry, credentials);
        }
    }
    Ok((shared, local))
}

/// Where a manager keeps its state.
pub(crate) enum ManagerState<'a> {
    /// Embedded: a redb file in this directory; the only manager.
    Dir(&'a std::path::Path),
    /// JetStream buckets of this connection's server; one of possibly several managers, acting
    /// while it holds the lattice's lease, which lapses after three silent heartbeat intervals.
    Nats(&'a Nats),
}

/// Starts a deployment manager on `lattice`, placing on `fleet` (built by `fleet` from the
/// manager's change callback).
pub(crate) async fn start_manager<F: trellis_manager::Fleet>(
    lattice: Arc<dyn Lattice>,
    state: ManagerState<'_>,
    name: &str,
    timing: (Duration, Duration),
    fleet: impl AsyncFnOnce(Box<dyn Fn() + Send + Sync>) -> anyhow::Result<Arc<F>>,
) -> anyhow::Result<(Manager, Arc<F>)> {
    let (resync, heartbeat) = timing;
    let cell: Arc<OnceLock<Manager>> = Arc::default();
    let notify = cell.clone();
    let fleet = fleet(Box::new(move || {
        if let Some(m) = notify.get() {
            m.hosts_changed();
        }
    }))
    .await?;
    let (store, lease) = match state {
        ManagerState::Dir(dir) => (Store::open(&dir.join("manager.redb"))?, None),
        ManagerState::Nats(nats) => (Store::jetstream(nats.client().clone(), name).await?, Some(Lease::jetstream(nats.client().clone(), name, heartbeat * 3).await?)),
    };
    let config = ManagerConfig { lattice: name.to_owned(), resync_interval: resync.max(Duration::from_millis(10)) };
    let manager = Manager::start(config, store, lease, lattice, fleet.clone()).await?;
    let _ = cell.set(manager.clone());
    Ok((manager, fleet))
}

pub(crate) async fn connect(connection: &Connection, role: &str) -> anyhow::Result<Arc<Nats>> {
    let Some(options) = connection.nats.options(&format!("trellis-{role}")) else {
        anyhow::bail!("`trellis {role}` joins a NATS lattice: give --nats nats://HOST:PORT (or run `trellis up` for one process with everything)");
    };
    let nats = Nats::connect(&options).await?;
    tracing::info!(url = %options.url, lattice = %connection.lattice, "connected to NATS");
    Ok(Arc::new(nats))
}

/// How long a host or manager waits for NATS at start: in a cluster the server and its clients
/// start together. After it, the last error ends the process (a pod shows it as its exit message).
const NATS_START_GRACE: Duration = Duration::from_secs(20);

/// [`connect`], tried again every second for [`NATS_START_GRACE`] while NATS cannot be reached
/// (a missing `--nats` fails at once).
pub(crate) async fn connect_patiently(connection: &Connection, role: &str) -> anyhow::Result<Arc<Nats>> {
    let deadline = tokio::time::Instant::now() + NATS_START_GRACE;
    loop {
        match connect(connection, role).await {
            Err(e) if connection.nats.options(role).is_some() && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %format!("{e:#}"), "NATS not reachable yet; retrying for up to {} s", NATS_START_GRACE.as_secs());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            result => return result,
        }
    }
}

/// `shared` joined to `lattice`: components reach each other (over wRPC too when joined to
/// NATS), and on NATS, capabilities that are no built-in run as provider processes that join
/// the same server with the host's credentials.
pub(crate) async fn join(shared: Shared, lattice: Arc<dyn Lattice>, connection: &Connection, role: &str, state_dir: &std::path::Path) -> anyhow::Result<Shared> {
    let Some(options) = connection.nats.options(&format!("trellis-{role}")) else {
        return Ok(shared.with_calls(Calls::joined(lattice, &connection.lattice, None)));
    };
    let wrpc = Wrpc::connect(&options, &connection.lattice).await?;
    let access = match &options.creds {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading NATS credentials {}", path.display()))?;
            let jwt = nkeys_section(&text, "NATS USER JWT");
            let seed = nkeys_section(&text, "USER NKEY SEED");
            trellis_provider::RpcAccess { url: options.url.clone(), jwt, seed }
        }
        None => trellis_provider::RpcAccess { url: options.url.clone(), jwt: options.jwt.clone(), seed: options.seed.clone() },
    };
    let launcher = trellis_provider::Launcher::new(lattice.clone(), &connection.lattice, access, state_dir.join("providers"));
    Ok(shared.with_calls(Calls::joined(lattice, &connection.lattice, Some(wrpc))).with_providers(launcher))
}

/// The body of a `-----BEGIN <name>-----` section of a NATS `.creds` file.
fn nkeys_section(text: &str, name: &str) -> Option<String> {
    let begin = text.find(&format!("-----BEGIN {name}-----"))?;
    let body = text[begin..].lines().nth(1)?.trim();
    (!body.is_empty()).then(|| body.to_owned())
}

#[derive(Args)]
pub(crate) struct HostCmd {
    /// A label `KEY=VALUE` (repeatable); `WASMCLOUD_LABEL_<key>` variables add more.
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE", value_parser = parse_labels)]
    labels: Vec<BTreeMap<String, String>>,
    /// A server nkey seed (`SN…`): the host's id is its public key, the same across restarts.
    /// Without it, a fresh key each start.
    #[arg(long, env = "WASMCLOUD_HOST_SEED", value_name = "SEED", hide_env_values = true)]
    host_seed: Option<String>,
    #[command(flatten)]
    host: HostArgs,
}

/// `trellis host --nats URL`: one host joined to a lattice, until Ctrl-C or `host.stop`.
pub(crate) fn host(cmd: HostCmd, connection: &Connection) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let telemetry = cmd.host.common.start_telemetry("trellis-host").await?;
        let lattice = connect_patiently(connection, "host").await?;
        let state_dir = state_dir(cmd.host.state_dir.as_ref())?;
        let (shared, _local) = shared(&cmd.host, &state_dir, Some(lattice.clone()))?;
        let shared = join(shared, lattice.clone(), connection, "host", &state_dir).await?;
        let given = cmd.labels.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
        let labels = host_labels(&given);
        let host = Arc::new(match &cmd.host_seed {
            Some(seed) => Host::from_seed(shared.clone(), labels, seed).map_err(|e| anyhow::anyhow!("--host-seed: {e}"))?,
            None => Host::new(shared.clone(), labels),
        });
        let stopped = Arc::new(tokio::sync::Notify::new());
        let on_stop = stopped.clone();
        let fleet = Arc::new(LocalFleet::new(vec![host.clone()], move || on_stop.notify_one()));
        fleet.clone().serve_ctl(lattice, &connection.lattice, cmd.host.common.heartbeat()).await?;
        tracing::info!(host = host.id(), name = host.friendly_name(), labels = ?host.labels(), lattice = %connection.lattice, "host started");
        println!("host {} ({}) joined lattice {}", host.id(), host.friendly_name(), connection.lattice);
        // `on_change` also fires on label changes; the host is done only once it is gone.
        loop {
            tokio::select! {
                () = shutdown_signal() => break,
                () = stopped.notified() => if fleet.hosts().is_empty() { break },
            }
        }
        eprintln!("stopping: finishing in-flight requests");
        fleet.stop_all().await;
        shared.shutdown().await;
        telemetry.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Args)]
pub(crate) struct ManagerCmd {
    /// How often the manager recomputes every application from scratch.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    resync_interval_ms: u64,
    #[command(flatten)]
    common: CommonArgs,
}

/// `trellis manager --nats URL`: the deployment manager alone, placing on the lattice's hosts.
pub(crate) fn manager(cmd: ManagerCmd, connection: &Connection) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let telemetry = cmd.common.start_telemetry("trellis-manager").await?;
        let nats = connect_patiently(connection, "manager").await?;
        let lattice: Arc<dyn Lattice> = nats.clone();
        let heartbeat = cmd.common.heartbeat();
        let name = connection.lattice.clone();
        let timing = (Duration::from_millis(cmd.resync_interval_ms), heartbeat);
        let (manager, _fleet) = start_manager(lattice.clone(), ManagerState::Nats(&nats), &name, timing, async |on_change| {
            Ok(trellis_manager::RemoteFleet::start(lattice.clone(), &name, heartbeat, on_change, crate::fleet::claims_of()).await?)
        })
        .await?;
        if manager.acting() {
            println!("manager acting for lattice {name}, serving wadm.api.{name}.>");
        } else {
            println!("manager standing by for lattice {name}: another manager holds the lease");
        }
        shutdown_signal().await;
        manager.stop().await;
        telemetry.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) async fn shutdown_signal() {
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
