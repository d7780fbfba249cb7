//! Components in an OCI registry (Debian's `docker-registry`): pushed with `trellis push`,
//! deployed by reference as wasmCloud manifests name them, pulled back with `trellis pull`;
//! a missing tag and `latest` fail the deploy, naming the reference.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::*;

/// A `docker-registry` (the CNCF distribution registry) on a free loopback port, over plain
/// HTTP, killed when dropped.
pub(crate) struct Registry {
    child: Child,
    pub(crate) address: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub(crate) fn start() -> Registry {
        Registry::start_on("127.0.0.1")
    }

    /// On `ip` (a Kubernetes node's address, for pods to pull from).
    pub(crate) fn start_on(ip: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("{ip}:{}", free_port());
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        std::fs::write(&config, format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n", storage.display())).unwrap();
        let binary = std::env::var("TRELLIS_TEST_REGISTRY").unwrap_or_else(|_| "docker-registry".into());
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e}; these tests need an OCI registry (apt-get install docker-registry)"));
        let mut registry = Registry { child, address, _dir: dir };
        let what = format!("docker-registry to answer on {}", registry.address);
        until(&what, Duration::from_secs(30), || {
            if let Some(status) = registry.child.try_wait().unwrap() {
                panic!("docker-registry exited at start ({status})");
            }
            (try_get(&format!("http://{}/v2/", registry.address)) == Some(200)).then_some(())
        });
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn trellis_ok(args: &[&str]) -> String {
    let out = trellis().args(args).output().unwrap();
    assert!(out.status.success(), "trellis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The hello-world component by OCI reference, served on `port`.
fn hello_app(name: &str, reference: &str, port: u16) -> ManifestFile {
    let component = component("hello", reference, 1, "").replace("file://", "");
    manifest(&app(name, &[component, http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])]))
}

#[test]
fn components_pushed_to_a_registry_deploy_by_reference_and_pull_back() {
    let registry = Registry::start();
    let reference = format!("{}/trellis/hello:0.1.0", registry.address);
    let pushed = trellis_ok(&["push", &reference, guests::HELLO_WORLD_EXAMPLE, "--insecure"]);
    assert!(pushed.contains(&format!("{}/v2/trellis/hello/manifests/", registry.address)), "{pushed}");
    // A file that is neither a component nor a provider archive is refused before anything is sent.
    let not_a_component = trellis().args(["push", &reference, "Cargo.toml", "--insecure"]).output().unwrap();
    assert!(!not_a_component.status.success());
    assert!(String::from_utf8_lossy(&not_a_component.stderr).contains("neither a WebAssembly component nor a provider archive"));

    let port = free_port();
    let up = Up::start(&[&hello_app("greeter", &reference, port).path], &["--allowed-insecure", &registry.address]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");
    up.wait_for_log(&["component pulled", &reference]);

    // What is not there, and `latest`, fail the deploy naming the reference; the first app runs on.
    let missing = format!("{}/trellis/hello:9.9.9", registry.address);
    let out = up.cli(&["app", "deploy", hello_app("missing", &missing, free_port()).path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success());
    let status = up.cli_json(&["app", "status", "missing", "-o", "json"]);
    let message = status["status"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{missing}`")) && message.contains("spec.components[0].properties.image"), "{message}");
    let untagged = format!("{}/trellis/hello", registry.address);
    let out = up.cli(&["app", "deploy", hello_app("floating", &untagged, free_port()).path.to_str().unwrap(), "--wait"]);
    assert!(!out.status.success());
    let status = up.cli_json(&["app", "status", "floating", "-o", "json"]);
    assert!(status["status"]["message"].as_str().unwrap().contains("the `latest` tag (or no tag) can change"), "{status}");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");

    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("hello.wasm");
    trellis_ok(&["pull", &reference, "-o", output.to_str().unwrap(), "--insecure"]);
    assert_eq!(std::fs::read(&output).unwrap(), std::fs::read(guests::HELLO_WORLD_EXAMPLE).unwrap());

    // The puller reports progress up to the size the registry gives, and a component over the
    // size limit is refused from its manifest, before it is downloaded.
    let size = std::fs::metadata(guests::HELLO_WORLD_EXAMPLE).unwrap().len();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let policy = |max_bytes| trellis_oci::Policy { insecure: vec![registry.address.clone()], max_bytes, ..Default::default() };
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |done: u64, total: Option<u64>| seen.lock().unwrap().push((done, total));
    let (bytes, kind) = runtime.block_on(trellis_oci::Registries::new(policy(u64::MAX)).pull_any(&reference, &progress)).unwrap();
    assert_eq!((bytes.len() as u64, kind), (size, trellis_oci::Kind::Component));
    assert_eq!(seen.lock().unwrap().last(), Some(&(size, Some(size))));
    let err = runtime.block_on(trellis_oci::Registries::new(policy(1000)).pull(&reference)).unwrap_err().to_string();
    assert_eq!(err, format!("the component is {size} bytes, over the 1000-byte component size limit"));
}
