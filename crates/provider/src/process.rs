//! One provider process under supervision: started with HostData on its stdin, restarted when
//! it exits on its own, told of link and config changes, and shut down gracefully (asked,
//! then killed) once nothing holds it.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};
use trellis_lattice::Message;

use crate::contract::{HostData, Keys, LinkDefinition, OtelConfig, Secrets, Subjects, provider_log_level, wire_secrets};
use crate::{LauncherInner, ProviderError, Unhealthy};

/// How long a new provider has to answer its first health request.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// The pause before a provider that exited is started again, as wasmCloud hosts pause.
const RESTART_PAUSE: Duration = Duration::from_secs(5);
/// How long a provider asked to shut down has before it is killed.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(3);
/// How many of its last output lines are kept to explain a failed start.
const KEPT_LINES: usize = 20;
/// The call timeout providers are told to use, as wasmCloud's default.
const RPC_TIMEOUT_MS: u64 = 2000;

/// What a process is started with, and told of as it changes.
pub(crate) struct Current {
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) links: Vec<LinkDefinition>,
    /// Its own secrets. A provider reads them only at start: a change reaches it at its next.
    pub(crate) secrets: Secrets,
    /// The xkeys of the running process: its public key names where its link puts go, and
    /// link secrets are sealed to it.
    keys: Keys,
    /// Why the process is not running, while it waits to be restarted.
    exited: Option<String>,
}

/// What the supervisor and the handles share.
pub(crate) struct State {
    pub(crate) launcher: Arc<LauncherInner>,
    pub(crate) host_id: String,
    pub(crate) provider_id: String,
    pub(crate) binary: PathBuf,
    pub(crate) current: Mutex<Current>,
    /// The last lines it wrote, to explain a failed start.
    output: Mutex<VecDeque<String>>,
    /// Asks the supervisor to restart the process, so it reads what it reads only at start.
    restart: Notify,
}

/// A running provider process; it is shut down when the last handle to it is dropped.
pub(crate) struct Process {
    pub(crate) state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl State {
    fn subjects(&self) -> Subjects<'_> {
        Subjects { lattice: &self.launcher.lattice_name, provider_id: &self.provider_id }
    }

    /// Starts the process once, with HostData built from the current links and config.
    fn spawn(self: &Arc<Self>) -> Result<Child, String> {
        let stdin = {
            let mut current = self.current.lock().expect("current poisoned");
            current.keys = Keys::new();
            let current = &*current;
            let access = &self.launcher.access;
            let link_definitions = current.links.iter().map(|l| l.to_wire(&current.keys)).collect::<Result<_, _>>()?;
            HostData {
                host_id: &self.host_id,
                lattice_rpc_prefix: &self.launcher.lattice_name,
                link_name: "default",
                lattice_rpc_user_jwt: access.jwt.as_deref().unwrap_or_default(),
                lattice_rpc_user_seed: access.seed.as_deref().unwrap_or_default(),
                lattice_rpc_url: &access.url,
                provider_key: &self.provider_id,
                env_values: BTreeMap::new(),
                instance_id: format!("{}-{}", self.provider_id, unique()),
                link_definitions,
                cluster_issuers: [],
                config: &current.config,
                secrets: wire_secrets(&current.secrets),
                host_xkey_public_key: current.keys.host_public(),
                provider_xkey_private_key: current.keys.provider_seed()?,
                default_rpc_timeout_ms: RPC_TIMEOUT_MS,
                structured_logging: trellis_telemetry::current().is_some_and(|s| s.log_format == trellis_telemetry::LogFormat::Json),
                log_level: provider_log_level(trellis_telemetry::current()),
                otel_config: OtelConfig::of_host(trellis_telemetry::current()),
            }
            .to_stdin()
        };
        let mut command = Command::new(&self.binary);
        // A provider sees none of the host's environment but its log filter, as on wasmCloud.
        command.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for (key, value) in std::env::vars().filter(|(k, _)| k == "RUST_LOG" || k.starts_with("OTEL_")) {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        let mut input = child.stdin.take().expect("stdin is piped");
        tokio::spawn(async move {
            let _ = input.write_all(&stdin).await;
        });
        let streams: [Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>; 2] =
            [child.stdout.take().map(|s| Box::new(s) as _), child.stderr.take().map(|s| Box::new(s) as _)];
        for stream in streams.into_iter().flatten() {
            let state = self.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::info!(provider = %state.provider_id, host = %state.host_id, "{line}");
                    let mut output = state.output.lock().expect("output poisoned");
                    if output.len() == KEPT_LINES {
                        output.pop_front();
                    }
                    output.push_back(line);
                }
            });
        }
        Ok(child)
    }

    /// Asks the provider whether it is healthy, as wasmCloud hosts ask.
    pub(crate) async fn health(&self, timeout: Duration) -> Result<(), Unhealthy> {
        if let Some(why) = &self.current.lock().expect("current poisoned").exited {
            return Err(Unhealthy::Exited(why.clone()));
        }
        let request = Message::new(self.subjects().health(), "{}");
        let reply = self.launcher.lattice.request(request, timeout).await.map_err(|e| Unhealthy::NoAnswer(e.to_string()))?;
        #[derive(serde::Deserialize)]
        struct Health {
            healthy: bool,
            #[serde(default)]
            message: Option<String>,
        }
        match serde_json::from_slice::<Health>(&reply.payload) {
            Ok(Health { healthy: true, .. }) => Ok(()),
            Ok(Health { message, .. }) => Err(Unhealthy::Reported(message.unwrap_or_else(|| "it reports itself unhealthy".into()))),
            Err(e) => Err(Unhealthy::Malformed(e.to_string())),
        }
    }

    /// Sends the provider the links that are new, deletes those that are gone, and sends its
    /// config if it changed; what it restarts with from now on. A provider reads a link only
    /// once (the SDK ignores a put for a link it has) and its own secrets only at start, so a
    /// change to either restarts it.
    pub(crate) async fn update(&self, config: BTreeMap<String, String>, links: Vec<LinkDefinition>, secrets: Secrets) {
        let subjects = self.subjects();
        let (messages, restart) = {
            let mut current = self.current.lock().expect("current poisoned");
            let mut messages = Vec::new();
            let mut send = |subject: String, link: &LinkDefinition| match link.to_wire(&current.keys) {
                Ok(wire) => messages.push(Message::new(subject, serde_json::to_vec(&wire).expect("links serialize"))),
                Err(e) => tracing::warn!(provider = %self.provider_id, link = %link.name, "{e}"),
            };
            for old in current.links.iter().filter(|old| !links.iter().any(|new| new.same_link(old))) {
                send(subjects.link_del(), old);
            }
            let put = subjects.link_put(&current.keys.provider_public());
            let mut changed = Vec::new();
            for new in links.iter().filter(|new| !current.links.contains(new)) {
                match current.links.iter().any(|old| old.same_link(new)) {
                    true => changed.push(format!("link `{}` from `{}` to `{}`", new.name, new.source_id, new.target)),
                    false => send(put.clone(), new),
                }
            }
            if current.config != config {
                messages.push(Message::new(subjects.config_update(), serde_json::to_vec(&config).expect("config serializes")));
            }
            if current.secrets != secrets {
                changed.push("its own secrets".into());
            }
            (current.links, current.config, current.secrets) = (links, config, secrets);
            (messages, changed)
        };
        if !restart.is_empty() {
            tracing::info!(provider = %self.provider_id, host = %self.host_id, "{} changed; restarting the provider, which reads it only at start", restart.join(", "));
            self.restart.notify_one();
            return;
        }
        let lattice = &self.launcher.lattice;
        for message in messages {
            let _ = lattice.publish(message).await;
        }
        let _ = lattice.flush().await;
    }

    fn last_output(&self) -> String {
        let output = self.output.lock().expect("output poisoned");
        if output.is_empty() { "it wrote nothing".into() } else { format!("its last output:\n{}", output.iter().cloned().collect::<Vec<_>>().join("\n")) }
    }
}

impl Process {
    /// Starts the provider and waits until it answers a health request.
    pub(crate) async fn start(state: Arc<State>) -> Result<Process, ProviderError> {
        let failed = |reason: String| ProviderError::Start { provider_id: state.provider_id.clone(), reason };
        let mut child = state.spawn().map_err(failed)?;
        let deadline = tokio::time::Instant::now() + STARTUP_LIMIT;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
                // Give its output readers a moment to drain what it wrote before it died.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(failed(format!("it exited ({status}) before it was ready; {}", state.last_output())));
            }
            if state.health(Duration::from_millis(250)).await.is_ok() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(failed(format!("it did not answer a health request within {} s; {}", STARTUP_LIMIT.as_secs(), state.last_output())));
            }
        }
        tracing::info!(provider = %state.provider_id, host = %state.host_id, binary = %state.binary.display(), "provider process started");
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(supervise(state.clone(), child, stopped));
        Ok(Process { state, stop: Some(stop) })
    }
}

/// Restarts the process whenever it exits, and at once (gracefully) when `update` asks, until
/// `stop` fires (or its sender is dropped), then shuts it down.
async fn supervise(state: Arc<State>, child: Child, mut stop: oneshot::Receiver<()>) {
    let mut child = Some(child);
    loop {
        let Some(running) = child.as_mut() else {
            tokio::select! {
                () = tokio::time::sleep(RESTART_PAUSE) => {}
                // A change while it is down: start it now, with the change.
                () = state.restart.notified() => {}
                _ = &mut stop => return,
            }
            match state.spawn() {
                Ok(c) => {
                    tracing::info!(provider = %state.provider_id, host = %state.host_id, "provider process restarted");
                    state.current.lock().expect("current poisoned").exited = None;
                    child = Some(c);
                }
                Err(e) => state.current.lock().expect("current poisoned").exited = Some(e),
            }
            continue;
        };
        tokio::select! {
            () = state.restart.notified() => {
                shut_down(&state, running).await;
                child = None;
                match state.spawn() {
                    Ok(c) => {
                        tracing::info!(provider = %state.provider_id, host = %state.host_id, "provider process restarted");
                        child = Some(c);
                    }
                    Err(e) => state.current.lock().expect("current poisoned").exited = Some(e),
                }
            }
            status = running.wait() => {
                let why = match status {
                    Ok(status) => format!("the provider process exited ({status})"),
                    Err(e) => format!("the provider process was lost: {e}"),
                };
                tracing::warn!(provider = %state.provider_id, host = %state.host_id, "{why}; restarting it in {} s", RESTART_PAUSE.as_secs());
                state.current.lock().expect("current poisoned").exited = Some(why);
                child = None;
            }
            _ = &mut stop => {
                shut_down(&state, running).await;
                return;
            }
        }
    }
}

/// Asks the provider to shut down, as wasmCloud hosts do, and kills it if it has not exited
/// within [`SHUTDOWN_LIMIT`].
async fn shut_down(state: &State, child: &mut Child) {
    let request = Message::new(state.subjects().shutdown(), serde_json::json!({"host_id": state.host_id}).to_string());
    let _ = state.launcher.lattice.request(request, SHUTDOWN_LIMIT).await;
    if tokio::time::timeout(SHUTDOWN_LIMIT, child.wait()).await.is_err() {
        tracing::warn!(provider = %state.provider_id, host = %state.host_id, "the provider did not exit when asked; killing it");
        let _ = child.kill().await;
    }
    tracing::info!(provider = %state.provider_id, host = %state.host_id, "provider process stopped");
}

/// A number no other start in this process has had.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn new_state(launcher: Arc<LauncherInner>, launch: crate::Launch) -> Arc<State> {
    let crate::Launch { host_id, provider_id, binary, config, links, secrets } = launch;
    Arc::new(State {
        launcher,
        host_id,
        provider_id,
        binary,
        current: Mutex::new(Current { config, links, secrets, keys: Keys::new(), exited: None }),
        output: Mutex::default(),
        restart: Notify::new(),
    })
}
