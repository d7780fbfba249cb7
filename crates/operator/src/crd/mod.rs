//! The custom resources: wasmCloud's `WasmCloudHostConfig`, accepted unchanged, and the
//! `Application` a wadm manifest becomes when `kubectl apply` sends it.

mod application;
mod host_config;

pub use application::{Application, ApplicationSpec, ApplicationStatus, Phase, ScalerState};
pub use host_config::{AppRef, WasmCloudHostConfig, WasmCloudHostConfigSpec, WasmCloudHostConfigStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt as _;

/// Both definitions, as the cluster gets them (`trellis operator crds | kubectl apply -f -`).
pub fn definitions() -> Vec<CustomResourceDefinition> {
    vec![WasmCloudHostConfig::crd(), Application::crd()]
}

/// A field whose content is Kubernetes' business (a pod spec, resource requirements) or the
/// user's (a manifest's spec): kept as written, checked when it is used, so an invalid value
/// becomes a condition naming the field instead of an object the API server refuses to store.
fn preserved_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A `metav1.Condition` list, written out because 1.20's structural schemas want every field typed.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": { "type": "string" },
                "status": { "type": "string" },
                "observedGeneration": { "type": "integer", "format": "int64" },
                "lastTransitionTime": { "type": "string", "format": "date-time" },
                "reason": { "type": "string" },
                "message": { "type": "string" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_structural_where_1_20_requires_it() {
        for crd in definitions() {
            let version = &crd.spec.versions[0];
            let schema = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("a schema");
            let json = serde_json::to_value(schema).unwrap();
            // Every property has a type or preserves unknown fields: what a structural schema is.
            fn check(path: &str, node: &serde_json::Value) {
                let typed = node.get("type").is_some() || node.get("x-kubernetes-preserve-unknown-fields").is_some() || node.get("x-kubernetes-int-or-string").is_some();
                assert!(typed, "{path} has no type: {node}");
                for (name, child) in node.get("properties").and_then(|p| p.as_object()).into_iter().flatten() {
                    check(&format!("{path}.{name}"), child);
                }
                if let Some(items) = node.get("items") {
                    check(&format!("{path}[]"), items);
                }
                if let Some(extra) = node.get("additionalProperties").filter(|a| a.is_object()) {
                    check(&format!("{path}{{}}"), extra);
                }
            }
            check(&crd.spec.names.kind, &json);
            assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "{} has a status subresource", crd.spec.names.kind);
        }
    }

    #[test]
    fn names_are_upstreams() {
        let [whc, app] = <[_; 2]>::try_from(definitions()).ok().unwrap();
        assert_eq!(whc.metadata.name.as_deref(), Some("wasmcloudhostconfigs.k8s.wasmcloud.dev"));
        assert_eq!(whc.spec.names.short_names, Some(vec!["whc".to_owned()]));
        assert_eq!(whc.spec.scope, "Namespaced");
        assert_eq!(app.metadata.name.as_deref(), Some("applications.core.oam.dev"));
        assert_eq!(app.spec.names.short_names, Some(vec!["app".to_owned()]));
        assert_eq!(app.spec.names.categories, Some(vec!["oam".to_owned()]));
        assert_eq!(app.spec.versions[0].name, "v1beta1");
    }

    /// The chart installs the CRDs from `deploy/helm/trellis/crds/` (Helm applies that folder
    /// before any template, so a WasmCloudHostConfig can come in the same install): those files
    /// must be what this operator defines. `TRELLIS_BLESS=1` rewrites them.
    #[test]
    fn the_charts_crds_are_the_operators() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/trellis/crds");
        for crd in definitions() {
            let name = crd.metadata.name.clone().unwrap();
            let path = dir.join(format!("{name}.json"));
            let ours = serde_json::to_value(&crd).unwrap();
            if std::env::var_os("TRELLIS_BLESS").is_some() {
                std::fs::write(&path, serde_json::to_string_pretty(&ours).unwrap() + "\n").unwrap();
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let chart: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(chart == ours, "{} differs from the operator's {name}: run `TRELLIS_BLESS=1 cargo test -p trellis-operator the_charts_crds`", path.display());
        }
    }
}
