//! What one reconcile of an `Application` must do, from what the object asks for and what the
//! deployment manager has: a pure function, so restarts and re-applies are tested without a
//! cluster. Level-triggered: the same inputs always give the same step, and a step already done
//! gives [`Step::Nothing`], so a restarted operator redeploys nothing.

use serde_json::{Map, Value, json};
use trellis_types::manifest::{Manifest, OAM_VERSION, APPLICATION_KIND, VERSION_ANNOTATION};
use trellis_types::wadm::{Status, StatusType};

use crate::crd::{Application, Phase, ScalerState};
use crate::manager::Observed;

/// The next step towards the object's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The manager deploys exactly this manifest already.
    Nothing,
    /// This stored version is the object's manifest; deploy it.
    Deploy(String),
    /// The manager does not have this manifest: store it as a new version, deploy that.
    PutAndDeploy,
    /// The object's `version` annotation names a stored version with a different manifest.
    Conflict(String),
}

/// Whether an annotation or label is the manifest's own (wadm's unprefixed ones, wasmCloud's and
/// Trellis's) rather than a Kubernetes tool's (`kubectl.kubernetes.io/last-applied-configuration`,
/// Argo CD's tracking id), which would otherwise mint a new version on every apply.
fn is_manifests_own(key: &str) -> bool {
    match key.rsplit_once('/') {
        None => true,
        Some((prefix, _)) => prefix.ends_with("wasmcloud.dev") || prefix.ends_with("trellis.dev"),
    }
}

/// The wadm manifest the object carries, as text for the manifest parser.
pub(crate) fn manifest_text(app: &Application) -> String {
    let keep = |map: &Option<std::collections::BTreeMap<String, String>>| -> Map<String, Value> {
        map.iter().flatten().filter(|(k, _)| is_manifests_own(k)).map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(app.metadata.name));
    let annotations = keep(&app.metadata.annotations);
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    let labels = keep(&app.metadata.labels);
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    let manifest = json!({"apiVersion": OAM_VERSION, "kind": APPLICATION_KIND, "metadata": metadata, "spec": app.spec.0});
    serde_json::to_string_pretty(&manifest).expect("a manifest serializes")
}

/// The step from `desired` to the manager's state. `stored` is the stored manifest of the
/// desired version (versioned objects) or of the newest version (unversioned ones).
pub(crate) fn plan(desired: &Manifest, observed: Option<&Observed>, stored: Option<&Manifest>) -> Step {
    let deployed = observed.and_then(Observed::deployed);
    let same = |stored: &Manifest| stored.spec == desired.spec && stored.description() == desired.description();
    let target = match desired.version() {
        Some(version) => {
            let Some(stored) = stored.filter(|_| observed.is_some_and(|o| o.versions.iter().any(|v| v.version == version))) else { return Step::PutAndDeploy };
            if !same(stored) {
                return Step::Conflict(format!(
                    "version {version} is already stored with a different manifest: give the change a new `{VERSION_ANNOTATION}` annotation, or remove the annotation and a version is minted on every change"
                ));
            }
            version
        }
        None => match (stored, observed.and_then(Observed::latest)) {
            (Some(stored), Some(latest)) if same(stored) => latest,
            _ => return Step::PutAndDeploy,
        },
    };
    if deployed == Some(target) { Step::Nothing } else { Step::Deploy(target.to_owned()) }
}

/// `status.phase` from the manager's status of the deployed version.
pub(crate) fn phase(status: Option<&Status>) -> Phase {
    match status.map(|s| s.info.status_type) {
        None | Some(StatusType::Undeployed) => Phase::Undeployed,
        Some(StatusType::Deployed) => Phase::Deployed,
        Some(StatusType::Reconciling | StatusType::Waiting) => Phase::Reconciling,
        Some(StatusType::Failed | StatusType::Unhealthy) => Phase::Failed,
    }
}

/// Each scaler as `kubectl describe` shows it.
pub(crate) fn scalers(status: Option<&Status>) -> Vec<ScalerState> {
    status
        .map(|s| s.scalers.iter().map(|sc| ScalerState { kind: sc.kind.clone(), name: sc.name.clone(), status: sc.info.status_type.as_str().to_owned(), message: sc.info.message.clone() }).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_types::wadm::VersionInfo;

    const HELLO: &str = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: hello-world, annotations: {version: v0.0.1}}
spec:
  components:
    - name: http-component
      type: component
      properties: {image: ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0}
      traits: [{type: spreadscaler, properties: {instances: 1}}]
"#;

    fn manifest(version: Option<&str>, instances: u32) -> Manifest {
        let text = HELLO.replace("instances: 1", &format!("instances: {instances}"));
        let text = match version {
            Some(v) => text.replace("v0.0.1", v),
            None => text.replace(", annotations: {version: v0.0.1}", ""),
        };
        Manifest::parse("test", &text).unwrap()
    }

    fn observed(versions: &[(&str, bool)]) -> Observed {
        Observed { versions: versions.iter().map(|(v, d)| VersionInfo { version: (*v).into(), deployed: *d }).collect(), status: None }
    }

    #[test]
    fn versioned_objects() {
        let desired = manifest(Some("v2"), 1);
        assert_eq!(plan(&desired, None, None), Step::PutAndDeploy, "new application");
        assert_eq!(plan(&desired, Some(&observed(&[("v1", true)])), None), Step::PutAndDeploy, "new version");
        let stored = manifest(Some("v2"), 1);
        assert_eq!(plan(&desired, Some(&observed(&[("v1", false), ("v2", true)])), Some(&stored)), Step::Nothing, "a restart changes nothing");
        assert_eq!(plan(&desired, Some(&observed(&[("v1", true), ("v2", false)])), Some(&stored)), Step::Deploy("v2".into()), "stored, not deployed (rolled back outside)");
        let changed = manifest(Some("v2"), 3);
        assert!(matches!(plan(&changed, Some(&observed(&[("v2", true)])), Some(&stored)), Step::Conflict(m) if m.starts_with("version v2 is already stored")));
    }

    #[test]
    fn unversioned_objects_compare_with_the_newest_version() {
        let desired = manifest(None, 1);
        let stored = manifest(Some("01JX"), 1);
        assert_eq!(plan(&desired, Some(&observed(&[("01JX", true)])), Some(&stored)), Step::Nothing);
        assert_eq!(plan(&desired, Some(&observed(&[("01JX", false)])), Some(&stored)), Step::Deploy("01JX".into()));
        assert_eq!(plan(&manifest(None, 2), Some(&observed(&[("01JX", true)])), Some(&stored)), Step::PutAndDeploy, "a changed spec is a new version");
    }

    #[test]
    fn tool_annotations_stay_out_of_the_manifest() {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "hello", "namespace": "default", "annotations": {
                "version": "v1", "description": "hi", "experimental.wasmcloud.dev/shared": "true",
                "kubectl.kubernetes.io/last-applied-configuration": "{}", "argocd.argoproj.io/tracking-id": "x"}},
            "spec": {"components": []},
        }))
        .unwrap();
        let text: Value = serde_json::from_str(&manifest_text(&app)).unwrap();
        let kept: Vec<_> = text["metadata"]["annotations"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(kept, ["description", "experimental.wasmcloud.dev/shared", "version"]);
        assert_eq!(text["metadata"]["name"], "hello");
    }
}
