use super::*;

const HELLO: &str = r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: hello-world
  annotations:
    version: v0.0.1
    description: "HTTP hello world"
spec:
  components:
    - name: http-component
      type: component
      properties:
        image: file://./build/http_hello_world_s.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 1
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.23.2
      traits:
        - type: link
          properties:
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            target:
              name: http-component
            source:
              config:
                - name: default-http
                  properties:
                    address: 0.0.0.0:8000
"#;

#[test]
fn hello_world_parses() {
    let m = Manifest::parse("wadm.yaml", HELLO).unwrap();
    assert_eq!(m.name(), "hello-world");
    assert_eq!(m.version(), Some("v0.0.1"));
    let server = m.component("httpserver").unwrap();
    assert_eq!(server.kind, ComponentKind::Capability);
    let link = server.links().next().unwrap();
    assert_eq!(link.target.name, "http-component");
    assert_eq!(link.source.as_ref().unwrap().config[0].properties.as_ref().unwrap()["address"], "0.0.0.0:8000");
    assert_eq!(m.component("http-component").unwrap().id("hello-world"), "hello_world-http_component");
}

#[test]
fn legacy_link_shape_is_normalised() {
    let legacy = HELLO.replace(
        "            target:\n              name: http-component\n            source:\n              config:",
        "            target: http-component\n            source_config:",
    )
    .replace("                - name: default-http\n                  properties:\n                    address", "              - name: default-http\n                properties:\n                  address");
    let m = Manifest::parse("legacy.yaml", &legacy).unwrap_or_else(|e| panic!("{e}"));
    let link = m.component("httpserver").unwrap().links().next().unwrap();
    assert_eq!(link.target.name, "http-component");
    assert_eq!(link.source.as_ref().unwrap().config[0].name, "default-http");
}

#[test]
fn json_manifests_parse() {
    let json = r#"{"apiVersion":"core.oam.dev/v1beta1","kind":"Application",
      "metadata":{"name":"j"},
      "spec":{"components":[{"name":"c","type":"actor","properties":{"image":"x.wasm"},
        "traits":[{"type":"spreadscaler","properties":{"replicas":3}}]}]}}"#;
    let m = Manifest::parse("j.json", json).unwrap();
    assert_eq!(m.spec.components[0].scaler().unwrap().1.instances, 3);
}

/// Each bad manifest names the file, the line and the field.
#[test]
fn bad_manifests_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        ("instances: 1", "instances: one", "wadm.yaml:17: spec.components[0].traits[0].properties.instances: expected a whole number, found a string"),
        ("instances: 1", "instnaces: 1", "wadm.yaml:17: spec.components[0].traits[0].properties.instnaces: unknown field `instnaces`; did you mean `instances`?"),
        ("version: v0.0.1", "version: latest", "wadm.yaml:6: metadata.annotations.version: `latest` is not a version"),
        ("name: http-component\n            source", "name: kvredis\n            source", "wadm.yaml:28: spec.components[1].traits[0].properties.target: no component named \"kvredis\""),
        ("            namespace: wasi\n", "", "wadm.yaml:25: spec.components[1].traits[0].properties.namespace: missing required field"),
        ("type: capability", "type: provider", "wadm.yaml:19: spec.components[1].type: unknown component type `provider`"),
        ("kind: Application", "kind: Deployment", "wadm.yaml:2: kind: unsupported kind `Deployment`"),
    ];
    for (from, to, expected) in cases {
        assert!(HELLO.contains(from), "fixture lacks {from:?}");
        let text = HELLO.replacen(from, to, 1);
        let err = Manifest::parse("wadm.yaml", &text).expect_err(expected).to_string();
        assert!(err.starts_with(expected), "expected {expected:?}\n     got {err:?}");
    }
}

/// Fields wadm ignores are ignored here too, each with a located warning.
#[test]
fn ignored_fields_are_warned_of_with_their_line() {
    let text = HELLO
        .replace("  name: hello-world\n", "  name: hello-world\n  namespace: default\n")
        .replace("type: spreadscaler", "type: spreadscalar");
    let (m, warnings) = Manifest::parse_with_warnings("wadm.yaml", &text).unwrap();
    assert_eq!(m.name(), "hello-world");
    assert_eq!(
        warnings.to_string(),
        "wadm.yaml:5: metadata.namespace: field `namespace` is ignored, as wadm ignores it\n\
         wadm.yaml:16: spec.components[0].traits[0].type: unknown trait type `spreadscalar` is ignored, as wadm ignores it; did you mean `spreadscaler`?"
    );
    assert!(Manifest::parse_with_warnings("wadm.yaml", HELLO).unwrap().1.is_empty());
}

#[test]
fn every_error_is_reported() {
    let text = HELLO.replace("instances: 1", "instances: -1").replace("version: v0.0.1", "version: latest");
    let err = Manifest::parse("wadm.yaml", &text).unwrap_err();
    assert_eq!(err.errors.len(), 2, "{err}");
    assert_eq!(err.errors[0].line, 6);
}

#[test]
fn syntax_errors_are_located() {
    let err = Manifest::parse("bad.yaml", "apiVersion: x\nspec: [\n").unwrap_err();
    assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
}

#[test]
fn serializes_in_wadm_shape() {
    let m = Manifest::parse("wadm.yaml", HELLO).unwrap();
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["apiVersion"], OAM_VERSION);
    assert_eq!(json["spec"]["components"][1]["traits"][0]["properties"]["target"]["name"], "http-component");
    assert_eq!(json["spec"]["components"][0]["traits"][0]["properties"]["instances"], 1);
    // And it reads back to the same model.
    let again = Manifest::parse("again.json", &json.to_string()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn a_capability_may_link_one_interface_to_many_components() {
    let text = HELLO.replace(
        "                    address: 0.0.0.0:8000\n",
        "                    address: 0.0.0.0:8000\n        - type: link\n          properties:\n            namespace: wasi\n            package: http\n            interfaces: [incoming-handler]\n            target:\n              name: http-component\n",
    );
    let err = Manifest::parse("wadm.yaml", &text).unwrap_err().to_string();
    assert!(err.contains("wasi:http/incoming-handler is already linked"), "the same target twice is a duplicate: {err}");
    let two_targets = HELLO.replace("  components:\n", "  components:\n    - name: other\n      type: component\n      properties:\n        image: o.wasm\n").replace(
        "                    address: 0.0.0.0:8000\n",
        "                    address: 0.0.0.0:8000\n        - type: link\n          properties:\n            namespace: wasi\n            package: http\n            interfaces: [incoming-handler]\n            target:\n              name: other\n",
    );
    Manifest::parse("wadm.yaml", &two_targets).unwrap_or_else(|e| panic!("{e}"));
}

/// The default id is wadm's `compute_component_id`: these are the cases of wadm 0.21's own
/// unit test of it, so `wash call <id>` and links put by id from wasmCloud's docs resolve.
#[test]
fn default_ids_are_wadms() {
    let component = |name: &str, id: Option<&str>| Component {
        name: name.to_owned(),
        kind: ComponentKind::Component,
        properties: Properties { image: Some("x.wasm".into()), id: id.map(str::to_owned), ..Properties::default() },
        traits: vec![],
    };
    assert_eq!(component("echo", Some("myid")).id("mymodel"), "myid");
    assert_eq!(component(" echo ", Some("myid")).id("some model name with spaces cause yaml"), "myid");
    assert_eq!(component("echo-component", None).id("mymodel"), "mymodel-echo_component");
    assert_eq!(component("echo", None).id("some model name with spaces cause yaml"), "some_model_name_with_spaces_cause_yaml-echo");
    assert_eq!(component("thing.wasm", None).id("My ThInG"), "my_thing-thing_wasm");
}
