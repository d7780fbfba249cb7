use super::*;

fn whc(spec: Value) -> WasmCloudHostConfig {
    let mut object: WasmCloudHostConfig = serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1",
        "kind": "WasmCloudHostConfig",
        "metadata": {"name": "wasmcloud-host", "namespace": "default", "uid": "6d1b7c1e-0000-4000-8000-000000000001"},
        "spec": spec,
    }))
    .expect("a WasmCloudHostConfig");
    object.metadata.generation = Some(1);
    object
}

fn defaults() -> HostDefaults {
    HostDefaults { image: "trellis:dev".into(), image_pull_policy: Some("Never".into()) }
}

fn pod(rendered: &Rendered) -> Value {
    let template = match &rendered.workload {
        Workload::Deployment(d) => &d.spec.as_ref().unwrap().template,
        Workload::DaemonSet(d) => &d.spec.as_ref().unwrap().template,
    };
    serde_json::to_value(template).unwrap()
}

fn env(pod: &Value) -> BTreeMap<String, String> {
    pod["spec"]["containers"][0]["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap().to_owned(), e["value"].as_str().unwrap_or_default().to_owned())).collect()
}

#[test]
fn upstreams_sample_becomes_a_deployment_of_labelled_hosts() {
    // The sample from wasmcloud-operator's README, unchanged.
    let rendered = render(
        &whc(json!({
            "lattice": "default", "version": "1.0.4", "image": "trellis:dev", "hostReplicas": 2,
            "hostLabels": {"test": "value", "zone": "a"},
            "natsAddress": "nats://nats-headless.default.svc.cluster.local",
            "secretName": "cluster-secrets", "registryCredentialsSecret": "ghcr-pull",
            "allowLatest": true, "allowedInsecure": ["localhost:5000"], "logLevel": "DEBUG",
            "maxLinearMemoryBytes": 33554432,
            "schedulingOptions": {"resources": {"wasmCloudHost": {"limits": {"cpu": "500m", "memory": "256Mi"}}}},
        })),
        &defaults(),
    )
    .unwrap();
    let Workload::Deployment(deployment) = &rendered.workload else { panic!("a Deployment") };
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(2));
    let pod = pod(&rendered);
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/name"], "wasmcloud");
    assert_eq!(labels["app.kubernetes.io/instance"], "wasmcloud-host");
    assert_eq!(labels["host-label.k8s.wasmcloud.dev/zone"], "a");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "wasmcloud-host");
    assert_eq!(container["imagePullPolicy"], "Never");
    assert_eq!(container["args"], json!(["host", "--label", "test=value", "--label", "zone=a"]));
    assert_eq!(container["resources"]["limits"]["memory"], "256Mi");
    let env = env(&pod);
    assert_eq!(env["TRELLIS_NATS"], "nats://nats-headless.default.svc.cluster.local:4222");
    assert_eq!(env["WASMCLOUD_LATTICE"], "default");
    assert_eq!(env["WASMCLOUD_LOG_LEVEL"], "debug");
    assert_eq!(env["WASMCLOUD_OCI_ALLOW_LATEST"], "true");
    assert_eq!(env["WASMCLOUD_OCI_ALLOWED_INSECURE"], "localhost:5000");
    assert_eq!(env["WASMCLOUD_MAX_LINEAR_MEMORY"], "33554432");
    assert_eq!(env["WASMCLOUD_NATS_CREDS"], "/var/run/secrets/nats/nats.creds");
    assert_eq!(env["TRELLIS_REGISTRY_AUTH_FILE"], "/var/run/secrets/registry/config.json");
    let volumes: Vec<_> = pod["spec"]["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(volumes, ["state", "nats-creds", "registry-credentials"]);
    assert_eq!(pod["spec"]["volumes"][1]["secret"]["secretName"], "cluster-secrets");
    assert_eq!(rendered.service_account.automount_service_account_token, Some(false));
    let owner = &rendered.service_account.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("WasmCloudHostConfig", Some(true)));
    assert_eq!(rendered.unhonoured, Vec::<String>::new(), "version with image set is honoured");
}

#[test]
fn daemonset_additions_and_unhonoured_fields() {
    let rendered = render(
        &whc(json!({
            "lattice": "prod", "version": "1.0.4", "natsLeafImage": "nats:2.10-alpine", "jetstreamDomain": "default",
            "schedulingOptions": {
                "daemonset": true,
                "podTemplateAdditions": {"nodeSelector": {"disk": "ssd"}, "volumes": [{"name": "extra", "emptyDir": {}}]},
                "containerTemplateAdditions": {"wasmcloud": {"env": [{"name": "WASMCLOUD_LOG_LEVEL", "value": "warn"}]}, "nats": {"image": "x"}},
            },
        })),
        &defaults(),
    )
    .unwrap();
    assert!(matches!(rendered.workload, Workload::DaemonSet(_)));
    let pod = pod(&rendered);
    assert_eq!(pod["spec"]["nodeSelector"]["disk"], "ssd");
    assert_eq!(pod["spec"]["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(env(&pod)["WASMCLOUD_LOG_LEVEL"], "warn", "an addition's env var replaces the generated one");
    assert_eq!(pod["spec"]["containers"][0]["image"], "trellis:dev", "the operator's default image");
    let fields: Vec<_> = rendered.unhonoured.iter().map(|f| f.split(' ').next().unwrap()).collect();
    assert_eq!(fields, ["natsLeafImage", "jetstreamDomain", "version", "schedulingOptions.containerTemplateAdditions.nats"]);
}

#[test]
fn observability_and_structured_logging_become_the_hosts_variables_and_pods_are_scraped() {
    let rendered = render(
        &whc(json!({
            "lattice": "default", "enableStructuredLogging": true,
            "observability": {"enable": true, "endpoint": "http://otel-collector.observability:4318", "protocol": "Http", "logs": {"enable": false}, "traces": {"endpoint": "http://tempo:4318/v1/traces"}},
        })),
        &defaults(),
    )
    .unwrap();
    let pod = pod(&rendered);
    let env = env(&pod);
    assert_eq!(env["WASMCLOUD_STRUCTURED_LOGGING_ENABLED"], "true");
    assert_eq!(env["WASMCLOUD_OBSERVABILITY_ENABLED"], "true");
    assert_eq!(env["WASMCLOUD_OVERRIDE_OBSERVABILITY_ENDPOINT"], "http://otel-collector.observability:4318");
    assert_eq!(env["WASMCLOUD_OBSERVABILITY_PROTOCOL"], "http");
    assert_eq!(env["WASMCLOUD_LOGS_ENABLED"], "false");
    assert_eq!(env["WASMCLOUD_OVERRIDE_TRACES_ENDPOINT"], "http://tempo:4318/v1/traces");
    assert_eq!(env["TRELLIS_METRICS_LISTEN"], "0.0.0.0:9464");
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/scrape"], "true");
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], "9464");
    assert_eq!(pod["spec"]["containers"][0]["ports"][0], json!({"name": "metrics", "containerPort": 9464, "protocol": "TCP"}));
    assert_eq!(rendered.unhonoured, Vec::<String>::new(), "both are honoured now");
}

#[test]
fn invalid_fields_are_named() {
    let cases = [
        (json!({"lattice": "a.b"}), "spec.lattice: `a.b` cannot be a lattice name"),
        (json!({"lattice": "x", "hostLabels": {"zone": "not valid!"}}), "spec.hostLabels.zone: `not valid!` is not a valid label value"),
        (json!({"lattice": "x", "logLevel": "LOUD"}), "spec.logLevel: `loud` is not one of"),
        (json!({"lattice": "x", "natsAddress": "http://nats"}), "spec.natsAddress: `http://nats` is not a NATS address"),
        (json!({"lattice": "x", "schedulingOptions": {"resources": {"wasmcloud": {"limits": "lots"}}}}), "spec.schedulingOptions.resources.wasmcloud: not ResourceRequirements"),
        (json!({"lattice": "x", "schedulingOptions": {"podTemplateAdditions": {"containers": "none"}}}), "spec.schedulingOptions (template additions): the merged pod template is not a valid PodTemplateSpec"),
        (json!({"lattice": "x", "observability": {"protocol": "udp"}}), "spec.observability.protocol: `\"udp\"` is not Http or Grpc"),
        (json!({"lattice": "x", "observability": {"metrics": {"endpoint": "collector:4318"}}}), "spec.observability.metrics.endpoint: `\"collector:4318\"` is not an http:// or https:// URL"),
    ];
    for (spec, expected) in cases {
        let err = render(&whc(spec.clone()), &defaults()).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{spec}: {err}");
    }
}
