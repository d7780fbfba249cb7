//! `trellis operator` on a real Kubernetes control plane (kube-apiserver 1.20 and the
//! controller-manager from Debian's source package, `scripts/k8s/`), with `nats-server -js`, a
//! manager and a `trellis host` outside the cluster: WasmCloudHostConfig → host workload,
//! `kubectl apply` of wadm's hello-world → deployed and answering, new versions, `-w`, a bad
//! manifest, an unreachable manager, `kill -9` of the operator, and delete. The operator runs
//! with its least-privilege ServiceAccount's token, never as admin.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::kube::{self, Kubectl, REPO, WAIT};
use crate::lattice::Node;
use crate::util::{Nats, free_port, get, guests, trellis, try_get, until};


/// etcd, kube-apiserver and kube-controller-manager on free loopback ports, stopped when dropped.
struct ControlPlane {
    kubectl: Kubectl,
    dir: tempfile::TempDir,
}

impl ControlPlane {
    fn start() -> ControlPlane {
        let bin = kube::binaries();
        let dir = tempfile::tempdir().unwrap();
        let (etcd, peer, api) = (free_port(), free_port(), free_port());
        let started = Command::new("bash")
            .arg(Path::new(REPO).join("scripts/k8s/start.sh"))
            .args([bin.as_os_str(), dir.path().as_os_str()])
            .args([etcd.to_string(), peer.to_string(), api.to_string()])
            .status()
            .unwrap();
        assert!(started.success(), "scripts/k8s/start.sh failed; logs in {}", dir.path().display());
        ControlPlane { kubectl: Kubectl { binary: bin.join("kubectl"), kubeconfig: dir.path().join("kubeconfig") }, dir }
    }

    /// A kubeconfig holding the token of ServiceAccount `namespace/name`.
    fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let secret = until("the ServiceAccount's token secret", WAIT, || {
            let out = self.run(&["-n", namespace, "get", "serviceaccount", name, "-o", "jsonpath={.secrets[0].name}"]);
            Some(String::from_utf8(out.stdout).unwrap()).filter(|s| !s.is_empty())
        });
        let token = self.ok(&["-n", namespace, "get", "secret", &secret, "-o", "jsonpath={.data.token}"]);
        let token = String::from_utf8(base64_decode(token.trim())).unwrap();
        let admin = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, admin.replace("name: admin", &format!("name: {name}")).replace("user: admin", &format!("user: {name}")).replace("{token: admin-token}", &format!("{{token: {token}}}"))).unwrap();
        path
    }
}

impl std::ops::Deref for ControlPlane {
    type Target = Kubectl;

    fn deref(&self) -> &Kubectl {
        &self.kubectl
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut child = Command::new("base64").arg("-d").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    child.wait_with_output().unwrap().stdout
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(Path::new(REPO).join("scripts/k8s/stop.sh")).arg(self.dir.path()).status();
    }
}

/// `trellis operator`, killed (SIGKILL) when dropped.
struct Operator {
    child: Child,
}

impl Operator {
    fn start(kubeconfig: &Path, nats: &Nats) -> Operator {
        let health = free_port();
        let child = trellis()
            .args(["--nats", &nats.url, "operator", "--health-address", &format!("127.0.0.1:{health}"), "--host-image", "trellis:test", "--host-image-pull-policy", "Never"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn,trellis_operator=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let operator = Operator { child };
        until("the operator's /readyz", WAIT, || (try_get(&format!("http://127.0.0.1:{health}/readyz")) == Some(200)).then_some(()));
        operator
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        until("the operator to exit on SIGTERM", WAIT, || self.child.try_wait().unwrap())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOST_CONFIG: &str = r#"
apiVersion: k8s.wasmcloud.dev/v1alpha1
kind: WasmCloudHostConfig
metadata:
  name: wasmcloud-host
spec:
  lattice: default
  version: "1.0.4"
  hostReplicas: 2
  hostLabels:
    zone: east
  secretName: nats-creds
  natsLeafImage: nats:2.10-alpine
  schedulingOptions:
    resources:
      wasmCloudHost:
        limits: {cpu: 500m, memory: 256Mi}
"#;

/// wadm's hello-world as `examples/hello-world/wadm.yaml` has it, with the component at an
/// absolute path (the hosts run outside the cluster, on this machine) and a wildcard listener.
fn hello_world(port: u16, version: &str, instances: u32) -> String {
    let manifest = std::fs::read_to_string(Path::new(guests::HELLO_WORLD_EXAMPLE_DIR).join("wadm.yaml")).unwrap();
    manifest
        .replace("file://./build/http_hello_world.wasm", &format!("file://{}", guests::HELLO_WORLD_EXAMPLE))
        .replace("127.0.0.1:8000", &format!("0.0.0.0:{port}"))
        .replace("version: v0.0.1", &format!("version: {version}"))
        .replace("instances: 100", &format!("instances: {instances}"))
}

fn events(cluster: &ControlPlane, reason: &str, name: &str) -> usize {
    let out = cluster.ok(&["get", "events", "--field-selector", &format!("reason={reason},involvedObject.name={name}"), "-o", "name"]);
    out.lines().count()
}

#[test]
fn operator_runs_hosts_and_applications_from_kubectl() {
    let cluster = ControlPlane::start();
    // The user's side: the CRDs (what the chart installs) and the operator's least-privilege RBAC.
    let crds = trellis().args(["operator", "crds"]).output().unwrap();
    assert!(crds.status.success());
    cluster.apply(&String::from_utf8(crds.stdout).unwrap());
    cluster.ok(&["wait", "--for=condition=Established", "crd/wasmcloudhostconfigs.k8s.wasmcloud.dev", "crd/applications.core.oam.dev", "--timeout=60s"]);
    // The chart's RBAC, as `helm template` renders it for a release `trellis` in trellis-system.
    let rbac = kube::helm(None).args(["template", "trellis"]).arg(kube::chart()).args(["-n", "trellis-system", "--show-only", "templates/operator-rbac.yaml"]).output().unwrap();
    assert!(rbac.status.success(), "helm template: {}", String::from_utf8_lossy(&rbac.stderr));
    cluster.ok(&["create", "namespace", "trellis-system"]);
    cluster.apply_with(&String::from_utf8(rbac.stdout).unwrap(), &["-n", "trellis-system"]);
    let operator_kubeconfig = cluster.service_account_kubeconfig("trellis-system", "trellis-operator");
    let denied = Command::new(&cluster.binary).arg("--kubeconfig").arg(&operator_kubeconfig).args(["get", "secrets", "-A"]).output().unwrap();
    assert!(!denied.status.success(), "the operator's account reads no Secrets");

    let nats = Nats::start_jetstream();
    let mut manager = Node::start(&nats, "manager", &[]);
    let _host = Node::start(&nats, "host", &["--label", "zone=east"]);
    let operator = Operator::start(&operator_kubeconfig, &nats);

    // WasmCloudHostConfig → ServiceAccount and Deployment with upstream's pod template.
    cluster.apply(HOST_CONFIG);
    let containers = until("the host Deployment", WAIT, || cluster.field("deployment", "wasmcloud-host", "{.spec.template.spec.containers[*].name}"));
    assert_eq!(containers, "wasmcloud-host");
    assert_eq!(cluster.field("deployment", "wasmcloud-host", "{.spec.replicas}").unwrap(), "2");
    let labels = cluster.field("deployment", "wasmcloud-host", "{.spec.template.metadata.labels}").unwrap();
    for label in [r#""app.kubernetes.io/name":"wasmcloud""#, r#""app.kubernetes.io/instance":"wasmcloud-host""#, r#""host-label.k8s.wasmcloud.dev/zone":"east""#] {
        assert!(labels.contains(label), "{label} in {labels}");
    }
    assert_eq!(cluster.field("deployment", "wasmcloud-host", "{.spec.template.spec.containers[0].resources.limits.memory}").unwrap(), "256Mi");
    assert_eq!(cluster.field("deployment", "wasmcloud-host", "{.spec.template.spec.volumes[?(@.name==\"nats-creds\")].secret.secretName}").unwrap(), "nats-creds");
    assert_eq!(cluster.field("serviceaccount", "wasmcloud-host", "{.automountServiceAccountToken}").unwrap(), "false");
    let unhonoured = until("the FieldsHonoured condition", WAIT, || cluster.field("whc", "wasmcloud-host", "{.status.conditions[?(@.type==\"FieldsHonoured\")].message}").filter(|m| !m.is_empty()));
    assert!(unhonoured.contains("natsLeafImage"), "{unhonoured}");
    let table = cluster.ok(&["get", "whc"]);
    assert!(table.starts_with("NAME") && table.contains("APP COUNT") && table.contains("LATTICE"), "{table}");

    // hello-world through kubectl → deployed, answering, with a Service selecting host pods.
    let port = free_port();
    cluster.apply(&hello_world(port, "v0.0.1", 10));
    until("hello-world Deployed", WAIT, || (cluster.field("application", "hello-world", "{.status.phase}")? == "Deployed").then_some(()));
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");
    let table = cluster.ok(&["get", "application"]);
    let header: Vec<&str> = table.lines().next().unwrap().split("  ").filter(|c| !c.is_empty()).map(str::trim).collect();
    assert_eq!(header, ["NAME", "DEPLOYED VERSION", "LATEST VERSION", "STATUS", "AGE"], "{table}");
    assert!(table.lines().nth(1).unwrap().contains("v0.0.1"), "{table}");
    assert!(cluster.ok(&["get", "app", "-o", "wide"]).contains("default"), "-o wide shows the lattice");
    let service = until("the hello-world Service", WAIT, || cluster.field("service", "hello-world", "{.spec.ports[0].name}:{.spec.ports[0].port}:{.spec.selector}"));
    assert!(service.starts_with(&format!("http:{port}:")) && service.contains(r#""app.kubernetes.io/name":"wasmcloud""#), "{service}");
    until("the WasmCloudHostConfig's app count", WAIT, || (cluster.field("whc", "wasmcloud-host", "{.status.app_count}")? == "1").then_some(()));

    // A new version, seen by a watch.
    let mut watch = cluster.command().args(["get", "application", "hello-world", "-w"]).stdout(Stdio::piped()).spawn().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    cluster.apply(&hello_world(port, "v0.0.2", 20));
    until("DEPLOYED VERSION v0.0.2", WAIT, || (cluster.field("application", "hello-world", "{.status.deployedVersion}/{.status.phase}")? == "v0.0.2/Deployed").then_some(()));
    until("the watch to show v0.0.2 Deployed", WAIT, || seen.try_iter().find(|l| l.contains("v0.0.2") && l.contains("Deployed")));
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");

    // A manifest `trellis app validate` refuses: Failed, with the field, and nothing else moves.
    let broken = hello_world(free_port(), "v1", 1).replace("name: hello-world", "name: broken").replace("              name: http-component\n", "              name: no-such-component\n");
    cluster.apply(&broken);
    let message = until("broken Failed", WAIT, || cluster.field("application", "broken", "{.status.phase}|{.status.conditions[?(@.type==\"Valid\")].message}").filter(|s| s.starts_with("Failed|")));
    assert!(message.contains("spec.components[1].traits[0].properties.target"), "{message}");
    until("an InvalidManifest event", WAIT, || (events(&cluster, "InvalidManifest", "broken") > 0).then_some(()));
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Rust!\n");

    // kill -9 and a restart: nothing is put or deployed again.
    let deployed_events = events(&cluster, "Deployed", "hello-world");
    operator.kill();
    let operator = Operator::start(&operator_kubeconfig, &nats);
    cluster.ok(&["delete", "application", "broken", "--wait=true", "--timeout=60s"]);
    let versions = trellis().args(["--nats", &nats.url, "app", "versions", "hello-world", "-o", "json"]).output().unwrap();
    let versions: serde_json::Value = serde_json::from_slice(&versions.stdout).unwrap();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
    assert_eq!(events(&cluster, "Deployed", "hello-world"), deployed_events, "the restarted operator deployed nothing again");

    // The manager away: a condition says so; back, the application deploys.
    manager.kill();
    let second = free_port();
    cluster.apply(&hello_world(second, "v1", 1).replace("name: hello-world", "name: second"));
    until("ManagerReachable=False", WAIT, || (cluster.field("application", "second", "{.status.conditions[?(@.type==\"ManagerReachable\")].status}")? == "False").then_some(()));
    manager = Node::start(&nats, "manager", &[]);
    until("second Deployed once the manager is back", WAIT, || (cluster.field("application", "second", "{.status.phase}")? == "Deployed").then_some(()));
    assert_eq!(get(&format!("http://127.0.0.1:{second}/"), None).body, "Hello from Rust!\n");

    // Delete: undeployed, deleted from the manager, its Service collected.
    cluster.ok(&["delete", "application", "hello-world", "--wait=true", "--timeout=60s"]);
    until("hello-world to stop answering", WAIT, || (try_get(&format!("http://127.0.0.1:{port}/")).is_none()).then_some(()));
    let listed = trellis().args(["--nats", &nats.url, "app", "list", "-o", "json"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("\"hello-world\""), "{}", String::from_utf8_lossy(&listed.stdout));
    until("the hello-world Service collected", WAIT, || cluster.gone("service", "hello-world").then_some(()));
    // A field that cannot become a pod: Ready=False, InvalidField with the field's path, an
    // Event, and the running workload left as it was.
    cluster.ok(&["patch", "whc", "wasmcloud-host", "--type=merge", "-p", r#"{"spec":{"hostLabels":{"zone":"not a label value"}}}"#]);
    let invalid = until("InvalidField", WAIT, || cluster.field("whc", "wasmcloud-host", r#"{.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}"#).filter(|s| s.starts_with("InvalidField|")));
    assert!(invalid.contains("hostLabels"), "{invalid}");
    until("an InvalidField event", WAIT, || (events(&cluster, "InvalidField", "wasmcloud-host") > 0).then_some(()));
    assert_eq!(cluster.field("deployment", "wasmcloud-host", "{.spec.replicas}").unwrap(), "2", "the running workload is kept");

    // daemonset: true → a DaemonSet replaces the Deployment; false → back again.
    cluster.ok(&["patch", "whc", "wasmcloud-host", "--type=merge", "-p", r#"{"spec":{"hostLabels":{"zone":"east"},"schedulingOptions":{"daemonset":true}}}"#]);
    until("a DaemonSet in place of the Deployment", WAIT, || (cluster.field("daemonset", "wasmcloud-host", "{.metadata.name}").is_some() && cluster.gone("deployment", "wasmcloud-host")).then_some(()));
    cluster.ok(&["patch", "whc", "wasmcloud-host", "--type=merge", "-p", r#"{"spec":{"schedulingOptions":{"daemonset":false}}}"#]);
    until("the Deployment back in place of the DaemonSet", WAIT, || (cluster.field("deployment", "wasmcloud-host", "{.metadata.name}").is_some() && cluster.gone("daemonset", "wasmcloud-host")).then_some(()));

    cluster.ok(&["delete", "whc", "wasmcloud-host"]);
    until("the host Deployment collected", WAIT, || (cluster.gone("deployment", "wasmcloud-host") && cluster.gone("serviceaccount", "wasmcloud-host")).then_some(()));

    assert!(operator.terminate().success(), "SIGTERM stops the operator cleanly");
    drop(manager);
}
