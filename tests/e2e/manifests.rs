//! Bad manifests: `trellis app validate` and `trellis up` name file, line and field, and exit
//! non-zero.

use crate::util::*;

/// A valid manifest to break one line at a time.
const GOOD: &str = r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: hello-world
  annotations:
    version: v0.0.1
spec:
  components:
    - name: http-component
      type: component
      properties:
        image: file://./build/http_hello_world.wasm
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
                    address: 127.0.0.1:8000
"#;

fn validate(text: &str) -> (bool, String, String) {
    let m = manifest(text);
    let out = trellis().args(["app", "validate"]).arg(&m.path).output().unwrap();
    let path = m.path.display().to_string();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).replace(&path, "wadm.yaml"), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_good_manifest_validates() {
    let (ok, _, stdout) = validate(GOOD);
    assert!(ok);
    assert!(stdout.ends_with("valid (hello-world v0.0.1)\n"), "{stdout}");
}

#[test]
fn bad_manifests_name_file_line_and_field() {
    // (what to replace, with what, the error expected)
    let table: &[(&str, &str, &str)] = &[
        ("instances: 1", "instances: many", "wadm.yaml:16: spec.components[0].traits[0].properties.instances: expected a whole number, found a string"),
        ("instances: 1", "instances: 1\n            bogus: true", "wadm.yaml:17: spec.components[0].traits[0].properties.bogus: unknown field `bogus`; expected one of: instances, replicas, spread"),
        ("    version: v0.0.1", "    version: latest", "wadm.yaml:6: metadata.annotations.version: `latest` is not a version"),
        ("              name: http-component", "              name: kvredis", "wadm.yaml:27: spec.components[1].traits[0].properties.target: no component named \"kvredis\""),
        ("            package: http\n", "", "wadm.yaml:24: spec.components[1].traits[0].properties.package: missing required field"),
        ("  name: hello-world", "  name: hello world", "wadm.yaml:4: metadata.name: `hello world` may contain only letters, digits, `-` and `_`"),
        ("      type: capability", "      type: provider", "wadm.yaml:18: spec.components[1].type: unknown component type `provider`; expected component, actor or capability"),
        ("apiVersion: core.oam.dev/v1beta1", "apiVersion: v1", "wadm.yaml:1: apiVersion: unsupported apiVersion `v1`; expected `core.oam.dev/v1beta1`"),
        ("    - name: httpserver", "    - name: http-component", "wadm.yaml:17: spec.components[1].name: component name `http-component` is used twice"),
        ("interfaces: [incoming-handler]", "interfaces: incoming-handler", "wadm.yaml:26: spec.components[1].traits[0].properties.interfaces: expected a list, found a string"),
        ("metadata:\n", "metadata: [\n", "wadm.yaml:"),
    ];
    for (from, to, expected) in table {
        assert!(GOOD.contains(from), "the good manifest lacks {from:?}");
        let (ok, stderr, _) = validate(&GOOD.replacen(from, to, 1));
        assert!(!ok, "{to:?} should be rejected");
        assert!(stderr.starts_with(expected), "for {to:?}\nexpected: {expected}\n     got: {stderr}");
    }
}

/// What wadm ignores is ignored here too, and named: the file validates, each ignored field a
/// warning with its line, in text and in JSON.
#[test]
fn fields_wadm_ignores_are_warnings_with_their_line() {
    let text = GOOD
        .replacen("  name: hello-world\n", "  name: hello-world\n  namespace: default\n", 1)
        .replacen("        - type: spreadscaler", "        - type: spreadscalar", 1)
        .replacen("spec:\n", "spec:\n  policy: []\n", 1);
    let (ok, stderr, stdout) = validate(&text);
    assert!(ok, "{stderr}");
    assert!(stdout.ends_with("valid (hello-world v0.0.1)\n"), "{stdout}");
    assert_eq!(
        stderr,
        "warning: wadm.yaml:5: metadata.namespace: field `namespace` is ignored, as wadm ignores it\n\
         warning: wadm.yaml:9: spec.policy: field `policy` is ignored, as wadm ignores it\n\
         warning: wadm.yaml:16: spec.components[0].traits[0].type: unknown trait type `spreadscalar` is ignored, as wadm ignores it; did you mean `spreadscaler`?\n"
    );
    let m = manifest(&text);
    let out = trellis().args(["app", "validate", "-o", "json"]).arg(&m.path).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["valid"], true);
    assert_eq!(report[0]["warnings"][0]["path"], "metadata.namespace");
    assert_eq!(report[0]["warnings"][0]["line"], 5);
}

#[test]
fn every_error_is_printed_and_json_is_available() {
    let text = GOOD.replace("instances: 1", "instances: -3").replace("version: v0.0.1", "version: latest");
    let (ok, stderr, _) = validate(&text);
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    let m = manifest(&text);
    let out = trellis().args(["app", "validate", "-o", "json"]).arg(&m.path).output().unwrap();
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["valid"], false);
    assert_eq!(report[0]["errors"][0]["line"], 6);
    assert_eq!(report[0]["errors"][1]["path"], "spec.components[0].traits[0].properties.instances");
}

#[test]
fn up_refuses_a_bad_manifest_with_the_same_errors() {
    let m = manifest(&GOOD.replace("version: v0.0.1", "version: latest"));
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(err.contains(":6: metadata.annotations.version: `latest` is not a version"), "{err}");
}

#[test]
fn a_missing_image_names_component_and_field() {
    let m = manifest(&GOOD.replace("127.0.0.1:8000", &format!("127.0.0.1:{}", free_port())));
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(
        err.contains("spec.components[0].properties.image: component `http-component`: cannot load image `file://./build/http_hello_world.wasm`"),
        "{err}"
    );
}

#[test]
fn a_capability_that_is_no_builtin_is_refused_off_a_nats_lattice_naming_it() {
    let text = GOOD.replace("ghcr.io/wasmcloud/http-server:0.23.2", "ghcr.io/wasmcloud/keyvalue-vault:0.7.0");
    let m = manifest(&text);
    std::fs::create_dir(m.path.parent().unwrap().join("build")).unwrap();
    std::fs::copy(guests::HELLO_WORLD_EXAMPLE, m.path.parent().unwrap().join("build/http_hello_world.wasm")).unwrap();
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(err.contains("spec.components[1].properties.image: component `httpserver`: cannot load image `ghcr.io/wasmcloud/keyvalue-vault:0.7.0`"), "{err}");
    assert!(err.contains("runs as an external provider process, which joins a NATS lattice: run the host with --nats"), "{err}");
}
