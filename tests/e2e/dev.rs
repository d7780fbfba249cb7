//! The developer loop through the real binary: `trellis new` → `build` → `dev`, editing the
//! sources of a running app and reading the answers of each build.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::util::*;

/// One Cargo target directory for every Rust project these tests generate, so their
/// dependencies compile once per run.
fn cargo_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dev-templates")
}

/// The TypeScript toolchain `scripts/test.sh` installs once (`npm ci`).
fn js_toolchain() -> PathBuf {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/test-guests/js/node_modules");
    assert!(modules.join(".bin/jco").exists(), "run `npm ci --prefix crates/test-guests/js` (scripts/test.sh does) first");
    modules
}

/// `trellis ARGS` in `dir`, with the shared Cargo target; panics with its output on failure.
fn trellis_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = trellis().args(args).current_dir(dir).env("CARGO_TARGET_DIR", cargo_target()).env("CARGO_NET_OFFLINE", "true").output().unwrap();
    assert!(out.status.success(), "trellis {args:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

/// A new project from `template`, its generated manifest listening on a free port.
fn new_project(template: &str, name: &str) -> (tempfile::TempDir, PathBuf, u16) {
    let tmp = tempfile::tempdir().unwrap();
    let out = trellis_in(tmp.path(), &["new", name, "--template", template]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("created {name} from template {template}")));
    let dir = tmp.path().join(name);
    let port = free_port();
    edit(&dir.join("wadm.yaml"), "127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    (tmp, dir, port)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// A running `trellis dev`, killed when dropped.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: String,
    stderr: PathBuf,
    _state: tempfile::TempDir,
}

impl Dev {
    fn start(dir: &Path, extra: &[&str]) -> Dev {
        let state = tempfile::tempdir().unwrap();
        let stderr = state.path().join("stderr");
        let mut child = trellis()
            .arg("dev")
            .arg(dir)
            .args(["--api", "http://127.0.0.1:0", "--state-dir"])
            .arg(state.path().join("state"))
            .args(extra)
            .env("CARGO_TARGET_DIR", cargo_target())
            // The templates' lockfiles name what the guests' build already fetched.
            .env("CARGO_NET_OFFLINE", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Dev { child, lines, stdout: String::new(), stderr, _state: state }
    }

    /// Waits for a stdout line containing `needle` (builds included: minutes on a cold cache).
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push_str(&line);
                    self.stdout.push('\n');
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no {needle:?} from trellis dev\nstdout:\n{}\nstderr:\n{}", self.stdout, self.log()),
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn new_lists_its_templates_and_completions_print() {
    let out = trellis().args(["new", "--list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for t in ["rust-hello", "rust-kv-counter", "typescript-hello", "python-hello"] {
        assert!(list.contains(t), "{list}");
    }
    let json: serde_json::Value = serde_json::from_slice(&trellis().args(["new", "--list", "-o", "json"]).output().unwrap().stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    let bad = trellis().args(["new", "Bad_Name"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("project name `Bad_Name`"));
    for shell in ["bash", "zsh", "fish"] {
        let out = trellis().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("dev"), "{shell}");
    }
}

#[test]
fn rust_hello_is_built_served_edited_and_survives_a_syntax_error() {
    let (_tmp, dir, port) = new_project("rust-hello", "hello");
    let built = trellis_in(&dir, &["build"]);
    assert!(String::from_utf8_lossy(&built.stdout).contains("built hello"), "{}", String::from_utf8_lossy(&built.stdout));
    assert!(dir.join("build/hello_s.wasm").is_file(), "the artifact is where wadm.yaml names it");

    let url = format!("http://127.0.0.1:{port}/");
    let mut dev = Dev::start(&dir, &[]);
    let first = dev.wait_for("build #1 serving");
    assert!(first.contains("sha256:"), "{first}");
    dev.wait_for("Trellis dev is up");
    assert_eq!(get(&url, None).body, "Hello from Rust!\n");

    edit(&dir.join("src/lib.rs"), "Hello from Rust!", "Hello, edited!");
    dev.wait_for("build #2 serving");
    assert_eq!(get(&url, None).body, "Hello, edited!\n");

    // A syntax error: the compiler's message is shown, and build #2 keeps serving.
    let source = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), format!("{source}\nfn broken( {{\n")).unwrap();
    until("the failed build to be reported", Duration::from_secs(300), || dev.log().contains("still serving build #2").then_some(()));
    let log = dev.log();
    assert!(log.contains("error") && log.contains("src/lib.rs"), "the compiler's output is shown:\n{log}");
    assert_eq!(get(&url, None).body, "Hello, edited!\n");

    std::fs::write(dir.join("src/lib.rs"), source.replace("Hello, edited!", "Hello, fixed!")).unwrap();
    dev.wait_for("build #3 serving");
    assert_eq!(get(&url, None).body, "Hello, fixed!\n");
    let kept: Vec<_> = std::fs::read_dir(dev._state.path().join("state/builds")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(kept.len(), 1, "only the serving build's copy is kept: {kept:?}");
    assert!(dev.terminate().success());
    assert!(try_get(&url).is_none(), "Ctrl-C stops what dev started");
}

#[test]
fn a_keyvalue_counter_keeps_its_count_across_a_swap() {
    let (_tmp, dir, port) = new_project("rust-kv-counter", "counter");
    let mut dev = Dev::start(&dir, &[]);
    dev.wait_for("build #1 serving");
    let url = format!("http://127.0.0.1:{port}/visits");
    for n in 1..=3 {
        assert_eq!(get(&url, None).body, format!("Counter visits: {n}\n"));
    }
    edit(&dir.join("src/lib.rs"), "\"Counter {key}: {n}\\n\"", "\"Visits to {key}: {n}\\n\"");
    dev.wait_for("build #2 serving");
    assert_eq!(get(&url, None).body, "Visits to visits: 4\n", "the store, not the component, holds the count");
}

#[test]
fn a_swap_under_load_drops_nothing_and_serves_nothing_stale() {
    let (_tmp, dir, port) = new_project("rust-hello", "loaded");
    let mut dev = Dev::start(&dir, &[]);
    dev.wait_for("build #1 serving");
    let url = format!("http://127.0.0.1:{port}/");
    // The body of the newest build that has been reported serving; a response older than it
    // after the report is stale.
    let current = Arc::new(Mutex::new("Hello from Rust!\n".to_owned()));
    let stop = Arc::new(AtomicBool::new(false));
    let (failed, stale, served) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, current, stop, failed, stale, served) = (url.clone(), current.clone(), stop.clone(), failed.clone(), stale.clone(), served.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let expected = current.lock().unwrap().clone();
                    let generation = expected.trim_end().rsplit(' ').next().unwrap_or_default().to_owned();
                    let reply = get(&url, None);
                    served.fetch_add(1, Ordering::Relaxed);
                    if reply.status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    } else if reply.body != expected && !newer(&reply.body, &generation) {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut previous = "Hello from Rust!".to_owned();
    for n in 2..=4 {
        let next = format!("Hello, build {n}");
        edit(&dir.join("src/lib.rs"), &previous, &next);
        dev.wait_for(&format!("build #{n} serving"));
        *current.lock().unwrap() = format!("{next}\n");
        previous = next;
    }
    // Every client's next request starts after the last swap.
    let before = served.load(Ordering::Relaxed);
    until("requests after the last swap", Duration::from_secs(30), || (served.load(Ordering::Relaxed) > before + 20).then_some(()));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (failed, stale, served) = (failed.load(Ordering::Relaxed), stale.load(Ordering::Relaxed), served.load(Ordering::Relaxed));
    assert!(served > 100, "{served} requests");
    assert_eq!((failed, stale), (0, 0), "of {served} requests across 3 swaps:\n{}", dev.log());
}

/// Whether `body` comes from a build after the one whose body ends in `generation`: the
/// expected body is read before a request, so a swap may land during it.
fn newer(body: &str, generation: &str) -> bool {
    let number = |s: &str| s.trim_end().rsplit(' ').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    number(body) > number(generation)
}

#[test]
fn a_wash_v1_wasmcloud_toml_is_honoured_and_what_cannot_build_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::write(
        project.join("wasmcloud.toml"),
        format!(
            "name = \"http-hello-world\"\nlanguage = \"rust\"\ntype = \"component\"\nversion = \"0.1.0\"\n\n[component]\nwit_world = \"hello\"\nbuild_command = \"mkdir -p made && cp {} made/by-command.wasm\"\nbuild_artifact = \"made/by-command.wasm\"\n",
            guests::HELLO_WORLD_EXAMPLE
        ),
    )
    .unwrap();
    let out = trellis_in(project, &["build", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["path"], project.join("build/http_hello_world_s.wasm").display().to_string(), "wash's default destination");
    assert_eq!(std::fs::read(project.join("build/http_hello_world_s.wasm")).unwrap(), std::fs::read(guests::HELLO_WORLD_EXAMPLE).unwrap());

    std::fs::write(project.join("wasmcloud.toml"), "name = \"p\"\nlanguage = \"rust\"\ntype = \"provider\"\n").unwrap();
    let out = trellis().arg("build").current_dir(project).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasmcloud.toml: type = \"provider\""), "{}", String::from_utf8_lossy(&out.stderr));

    // A missing toolchain is named with what installs it.
    let py = tempfile::tempdir().unwrap();
    std::fs::write(py.path().join("app.py"), "").unwrap();
    std::fs::create_dir(py.path().join("wit")).unwrap();
    std::fs::write(py.path().join("wit/world.wit"), "package a:b;\nworld hello {}\n").unwrap();
    let out = trellis().arg("build").current_dir(py.path()).env("PATH", "/bin").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pip install componentize-py"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn typescript_and_python_templates_are_built_served_and_swapped() {
    let template: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/dev/templates/typescript-hello/package.json")).unwrap()).unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/test-guests/js/package.json")).unwrap()).unwrap();
    assert_eq!(template["devDependencies"], fixture["devDependencies"], "the test toolchain is the one the template names");
    let python = Command::new("componentize-py").arg("--version").output();
    assert!(python.is_ok_and(|o| o.status.success()), "the Python template needs componentize-py: `pip install componentize-py==0.25.1` (.ci/run does)");

    for (template, source, greeting) in [("typescript-hello", "src/app.ts", "Hello from TypeScript!"), ("python-hello", "app.py", "Hello from Python!")] {
        let (_tmp, dir, port) = new_project(template, "polyglot");
        if template == "typescript-hello" {
            std::os::unix::fs::symlink(js_toolchain(), dir.join("node_modules")).unwrap();
        }
        let mut dev = Dev::start(&dir, &[]);
        dev.wait_for("build #1 serving");
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(get(&url, None).body, format!("{greeting}\n"), "{template}");
        edit(&dir.join(source), greeting, "Swapped!");
        dev.wait_for("build #2 serving");
        assert_eq!(get(&url, None).body, "Swapped!\n", "{template}");
        assert!(dev.terminate().success());
    }
}

#[test]
fn each_component_of_a_manifest_rebuilds_only_for_its_own_sources_on_a_nats_lattice() {
    let nats = Nats::start_jetstream();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["api", "web"] {
        trellis_in(tmp.path(), &["new", name]);
    }
    let (api_port, web_port) = (free_port(), free_port());
    // One manifest over both projects, as a repository of several components has it.
    let api = std::fs::read_to_string(tmp.path().join("api/wadm.yaml")).unwrap();
    let component = |name: &str, port: u16| {
        api.split("spec:\n  components:\n")
            .nth(1)
            .unwrap()
            .replace("http-component", &format!("{name}-component"))
            .replace("httpserver", &format!("{name}-http"))
            .replace("default-http", &format!("{name}-http"))
            .replace("./build/api_s.wasm", &format!("./{name}/build/{name}_s.wasm"))
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"))
    };
    let manifest = format!(
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: both\n  annotations:\n    version: v1\nspec:\n  components:\n{}{}",
        component("api", api_port),
        component("web", web_port)
    );
    std::fs::write(tmp.path().join("wadm.yaml"), manifest).unwrap();

    let mut dev = Dev::start(tmp.path(), &["--nats", &nats.url, "--lattice", "devloop"]);
    dev.wait_for("build #1 serving: api-component");
    dev.wait_for("build #1 serving: web-component");
    let (api_url, web_url) = (format!("http://127.0.0.1:{api_port}/"), format!("http://127.0.0.1:{web_port}/"));
    assert_eq!((get(&api_url, None).body.as_str(), get(&web_url, None).body.as_str()), ("Hello from Rust!\n", "Hello from Rust!\n"));

    edit(&tmp.path().join("web/src/lib.rs"), "Hello from Rust!", "Hello from web!");
    let swapped = dev.wait_for("build #2 serving");
    assert!(!swapped.contains("api-component"), "{swapped}\n{}", dev.log());
    assert_eq!((get(&api_url, None).body.as_str(), get(&web_url, None).body.as_str()), ("Hello from Rust!\n", "Hello from web!\n"));
    let log = dev.log();
    let builds_of = |name: &str| log.matches(&format!("building {name}-component")).count();
    assert_eq!((builds_of("api"), builds_of("web")), (1, 2), "only web's sources changed:\n{log}");
    // A component that fails to build keeps its last good build serving, and holds back no other.
    let api_source = std::fs::read_to_string(tmp.path().join("api/src/lib.rs")).unwrap();
    std::fs::write(tmp.path().join("api/src/lib.rs"), format!("{api_source}\nfn broken( {{\n")).unwrap();
    until("api's failed build", Duration::from_secs(120), || dev.log().contains("still serving build #2 of api-component").then_some(()));
    edit(&tmp.path().join("web/src/lib.rs"), "Hello from web!", "Hello from web, again!");
    let swapped = dev.wait_for("build #3 serving");
    assert!(swapped.contains("web-component"), "{swapped}");
    assert_eq!((get(&api_url, None).body.as_str(), get(&web_url, None).body.as_str()), ("Hello from Rust!\n", "Hello from web, again!\n"));
    std::fs::write(tmp.path().join("api/src/lib.rs"), api_source.replace("Hello from Rust!", "Hello from api!")).unwrap();
    let swapped = dev.wait_for("build #4 serving");
    assert!(swapped.contains("api-component"), "{swapped}");
    assert_eq!((get(&api_url, None).body.as_str(), get(&web_url, None).body.as_str()), ("Hello from api!\n", "Hello from web, again!\n"));

    // The lattice's manager has the deployed version, as any client of it sees.
    let status = trellis().args(["--nats", &nats.url, "--lattice", "devloop", "app", "list", "-o", "json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).contains("v1-dev."), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn a_project_without_a_manifest_is_served_on_the_address_given_and_ignores_what_it_is_told() {
    let (_tmp, dir, _) = new_project("rust-hello", "bare");
    std::fs::remove_file(dir.join("wadm.yaml")).unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut dev = Dev::start(&dir, &["--address", &address, "-i", "notes.md"]);
    dev.wait_for("build #1 serving: bare");
    let url = format!("http://{address}/");
    assert_eq!(get(&url, None).body, "Hello from Rust!\n");
    std::fs::write(dir.join("notes.md"), "not a source").unwrap();
    edit(&dir.join("src/lib.rs"), "Hello from Rust!", "Hello, bare!");
    dev.wait_for("build #2 serving: bare");
    assert_eq!(get(&url, None).body, "Hello, bare!\n");
    let log = dev.log();
    assert!(log.contains("changed: src/lib.rs") && !log.contains("notes.md"), "{log}");
}
