//! What wadm accepts, Trellis accepts; what wadm refuses because a deploy would go wrong,
//! Trellis refuses. The oracle is wadm's own parser and checks as `wadm` 0.21 runs them on
//! `model.put`: `serde_yaml` into `wadm_types::Manifest`, then
//! `wadm_types::validation::validate_manifest`, refusing on any error-level failure.
//!
//! Hand-written cases name each class (with the places Trellis knowingly differs: where it
//! accepts what wadm refuses for no reason a deploy would notice, and where it refuses what
//! would break one); generated cases mutate real-shaped manifests (unknown keys anywhere, null
//! and non-string annotation values, removed fields) and require both parsers to agree.

use proptest::prelude::*;
use serde_yaml::{Mapping, Value};
use trellis_types::manifest::Manifest;

/// wadm's verdict on `text`: `Ok` if `model.put` would store it, else its reason.
fn wadm(text: &str) -> Result<(), String> {
    let manifest: wadm_types::Manifest = serde_yaml::from_str(text).map_err(|e| format!("parse: {e}"))?;
    let failures = futures::executor::block_on(wadm_types::validation::validate_manifest(&manifest)).map_err(|e| e.to_string())?;
    let errors: Vec<String> =
        failures.into_iter().filter(|f| matches!(f.level, wadm_types::validation::ValidationFailureLevel::Error)).map(|f| f.msg).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// Trellis' verdict, with its warnings.
fn trellis(text: &str) -> Result<Vec<String>, String> {
    Manifest::parse_with_warnings("wadm.yaml", text)
        .map(|(_, warnings)| warnings.warnings.into_iter().map(|w| format!("{}: {}", w.path, w.message)).collect())
        .map_err(|e| e.to_string())
}

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
        config:
          - name: greeting
            properties:
              text: hello
      traits:
        - type: spreadscaler
          properties:
            instances: 1
            spread:
              - name: eu
                requirements:
                  region: eu
                weight: 80
        - type: link
          properties:
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
            target:
              name: kvredis
              config:
                - name: redis-url
                  properties:
                    url: redis://127.0.0.1:6379
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

const SECRETS: &str = r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: with-secrets
  annotations:
    version: v1
  labels:
    team: core
spec:
  policies:
    - name: nats-kv
      type: policy.secret.wasmcloud.dev/v1alpha1
      properties:
        backend: nats-kv
  components:
    - name: app
      type: actor
      properties:
        image: ghcr.io/acme/app:1.0.0
        id: app-1
        secrets:
          - name: api-key
            properties:
              policy: nats-kv
              key: api_key
              version: "2"
      traits:
        - type: daemonscaler
          properties:
            replicas: 2
        - type: link
          properties:
            name: cache
            namespace: wasi
            package: keyvalue
            interfaces: [store]
            target: kv
            target_config:
              - name: bucket
                properties:
                  bucket: cache
    - name: kv
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-nats:0.3.1
"#;

/// What a case expects of the two parsers.
#[derive(Debug)]
enum Expect {
    /// Both accept; Trellis warns with text containing each of these.
    Accepted(&'static [&'static str]),
    /// Both refuse; Trellis' error contains this (file, line, field).
    Refused(&'static str),
    /// wadm refuses it, Trellis accepts it: nothing a deploy would notice is wrong.
    OnlyTrellisAccepts(&'static str),
    /// wadm accepts it, Trellis refuses it, naming why a deploy would go wrong.
    OnlyTrellisRefuses(&'static str),
}

#[test]
fn hand_written_cases_agree_with_wadm() {
    use Expect::*;
    let cases: &[(&str, &str, &str, &str, Expect)] = &[
        ("the base manifest", HELLO, "", "", Accepted(&[])),
        ("secrets, policies, legacy link shape", SECRETS, "", "", Accepted(&[])),
        ("metadata.namespace", HELLO, "  name: hello-world\n", "  name: hello-world\n  namespace: default\n", Accepted(&["metadata.namespace: field `namespace` is ignored"])),
        (
            "unknown keys in a link's source",
            HELLO,
            "            source:\n",
            "            source:\n              name: httpserver\n",
            Accepted(&["source.name: field `name` is ignored"]),
        ),
        ("null annotation value", HELLO, "    description: \"HTTP hello world\"", "    description: ~", Accepted(&[])),
        ("empty annotation value", HELLO, "    description: \"HTTP hello world\"", "    description:", Accepted(&[])),
        ("number as annotation value", HELLO, "    description: \"HTTP hello world\"", "    description: 1.5", Accepted(&[])),
        ("null version", HELLO, "    version: v0.0.1", "    version: ~", Accepted(&["an empty version is no version"])),
        ("null label value", SECRETS, "    team: core", "    team:", Accepted(&[])),
        ("unknown key in a link", HELLO, "            package: http\n", "            package: http\n            note: x\n", Accepted(&["note` is ignored"])),
        ("unknown key in a link's target", HELLO, "              name: kvredis\n", "              name: kvredis\n              port: 1\n", Accepted(&["target.port"])),
        ("unknown key on a component", HELLO, "      type: capability\n", "      type: capability\n      description: x\n", Accepted(&["description` is ignored"])),
        ("unknown key in spec", HELLO, "spec:\n", "spec:\n  notes: x\n", Accepted(&["spec.notes"])),
        ("unknown key in a secret", SECRETS, "              key: api_key\n", "              key: api_key\n              kind: string\n", Accepted(&["kind` is ignored"])),
        ("a typo of a trait type", HELLO, "type: spreadscaler", "type: spreadscalar", Accepted(&["unknown trait type `spreadscalar` is ignored", "did you mean `spreadscaler`?"])),
        ("a custom trait", HELLO, "        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue", "        - type: acme.dev/thing\n          properties:\n            anything: [1, 2]\n        - type: link\n          properties:\n            namespace: wasi\n            package: keyvalue", Accepted(&[])),
        ("no description", HELLO, "    description: \"HTTP hello world\"\n", "", Accepted(&[])),
        ("no version", HELLO, "    version: v0.0.1\n", "", Accepted(&[])),
        ("unknown top-level key", HELLO, "kind: Application\n", "kind: Application\nstatus: {}\n", Refused("wadm.yaml:3: status: unknown field `status`")),
        ("unknown key in component properties", HELLO, "        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n", "        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n        imag: x\n", Refused("properties.imag: unknown field `imag`")),
        ("a typo in a scaler", HELLO, "instances: 1", "instnaces: 1", Refused("unknown field `instnaces`; did you mean `instances`?")),
        ("unknown key in a trait", HELLO, "        - type: spreadscaler\n", "        - type: spreadscaler\n          name: x\n", Refused("traits[0].name: unknown field `name`")),
        ("unknown key in a spread", HELLO, "                weight: 80\n", "                weight: 80\n                zone: a\n", Refused("spread[0].zone: unknown field `zone`")),
        ("unknown key in a config", HELLO, "          - name: greeting\n", "          - name: greeting\n            kind: x\n", Refused("config[0].kind: unknown field `kind`")),
        ("a link to a missing component", HELLO, "              name: kvredis\n", "              name: kvredi\n", Refused("target: no component named \"kvredi\"")),
        ("a link without a namespace", HELLO, "            namespace: wasi\n            package: http\n", "            package: http\n", Refused("namespace: missing required field")),
        ("an unknown component type", HELLO, "type: capability", "type: provider", Refused("unknown component type `provider`")),
        ("`latest` as version", HELLO, "version: v0.0.1", "version: latest", Refused("`latest` is not a version")),
        ("a bad application name", HELLO, "name: hello-world", "name: hello world", Refused("metadata.name: `hello world` may contain only")),
        ("image and application both", HELLO, "        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n", "        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n        application:\n          name: shared\n          component: kv\n", Refused("set `image` or `application`, not both")),
        ("neither image nor application", HELLO, "        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1\n", "        id: kv\n", Refused("needs `image`")),
        ("a secret with an unknown policy", SECRETS, "              policy: nats-kv\n", "              policy: vault\n", Refused("vault")),
        ("a duplicate component name", HELLO, "    - name: httpserver\n", "    - name: kvredis\n", Refused("component name `kvredis` is used twice")),
        ("a spread without requirements", HELLO, "                requirements:\n                  region: eu\n", "", OnlyTrellisAccepts("wadm-types requires `requirements`; an empty one matches every host")),
        ("no annotations", HELLO, "  annotations:\n    version: v0.0.1\n    description: \"HTTP hello world\"\n", "", OnlyTrellisAccepts("wadm-types requires the `annotations` key even when empty")),
        (
            "a number as a link config value",
            HELLO,
            "                    address: 0.0.0.0:8000",
            "                    port: 8000",
            OnlyTrellisAccepts("wadm reads link config through JSON, where 8000 is no string; `port: 8000` means \"8000\""),
        ),
        ("an id that is not a subject token", SECRETS, "id: app-1", "id: app.1", OnlyTrellisRefuses("`app.1` may contain only letters, digits")),
    ];
    let mut failures = Vec::new();
    for (name, base, from, to, expect) in cases {
        assert!(base.contains(from), "{name}: the base lacks {from:?}");
        let text = base.replacen(from, to, 1);
        let (w, t) = (wadm(&text), trellis(&text));
        let ok = match expect {
            Accepted(warnings) => w.is_ok() && t.as_ref().is_ok_and(|got| warnings.iter().all(|want| got.iter().any(|g| g.contains(want)))),
            Refused(message) => w.is_err() && t.as_ref().is_err_and(|e| e.contains(message)),
            // Every knowing difference says why.
            OnlyTrellisAccepts(why) => !why.is_empty() && w.is_err() && t.is_ok(),
            OnlyTrellisRefuses(message) => w.is_ok() && t.as_ref().is_err_and(|e| e.contains(message)),
        };
        if !ok {
            failures.push(format!("{name}: expected {expect:?}\n  wadm: {w:?}\n  trellis: {t:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every mapping in `value`, as a path of keys and indices from the root.
fn mappings(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Mapping(map) => {
            out.push(path.clone());
            for (k, v) in map {
                path.push(Step::Key(k.as_str().unwrap_or_default().to_owned()));
                mappings(v, path, out);
                path.pop();
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Step::Index(i));
                mappings(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()).expect("a path found by `mappings`"),
        Step::Index(i) => v.get_mut(*i).expect("a path found by `mappings`"),
    })
}

/// Changes to a manifest, each applied at a mapping chosen by an index.
#[derive(Debug, Clone)]
enum Mutation {
    /// A key no schema knows, with a string value.
    UnknownKey(String),
    /// One of the mapping's own keys removed.
    RemoveKey(prop::sample::Index),
    /// An annotation or label value set to null, a number or a boolean.
    OddValue(Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(|k| Mutation::UnknownKey(format!("x-{k}"))),
        any::<prop::sample::Index>().prop_map(Mutation::RemoveKey),
        prop_oneof![Just(Value::Null), Just(Value::from(1.5)), Just(Value::from(7)), Just(Value::from(true))].prop_map(Mutation::OddValue),
    ]
}

/// Fields wadm requires that Trellis does not, since nothing goes wrong without them (the
/// mapping's path, with list indices left out, and the field): `annotations` may be absent,
/// and a spread without `requirements` matches every host.
const LENIENT_REMOVALS: &[(&str, &str)] = &[("metadata", "annotations"), ("spec.components.traits.properties.spread", "requirements")];

/// Applies `m` at the mapping `index` picks; the new text, and whether the change is one where
/// Trellis knowingly accepts more than wadm (see the hand-written cases).
fn mutate(base: &str, m: &Mutation, index: prop::sample::Index) -> Option<(String, bool)> {
    let mut doc: Value = serde_yaml::from_str(base).unwrap();
    let mut paths = Vec::new();
    mappings(&doc, &mut Vec::new(), &mut paths);
    let path = index.get(&paths).clone();
    let key_path: Vec<&str> = path.iter().filter_map(|s| if let Step::Key(k) = s { Some(k.as_str()) } else { None }).collect();
    let mut lenient = false;
    let target: &mut Mapping = at(&mut doc, &path).as_mapping_mut()?;
    match m {
        Mutation::UnknownKey(key) => {
            target.insert(Value::from(key.as_str()), Value::from("x"));
        }
        Mutation::RemoveKey(which) => {
            if target.is_empty() {
                return None;
            }
            let key = which.get(&target.keys().cloned().collect::<Vec<_>>()).clone();
            let at = (key_path.join("."), key.as_str().unwrap_or_default().to_owned());
            lenient = LENIENT_REMOVALS.iter().any(|(path, field)| (*path, *field) == (at.0.as_str(), at.1.as_str()));
            target.remove(&key);
        }
        Mutation::OddValue(value) => {
            // Only free-form string maps of the metadata: elsewhere wadm reads values through
            // JSON (link config) or as typed fields.
            if !(key_path == ["metadata", "annotations"] || key_path == ["metadata", "labels"]) || target.is_empty() {
                return None;
            }
            let key = target.keys().next().cloned().unwrap();
            target.insert(key, value.clone());
        }
    }
    Some((serde_yaml::to_string(&doc).unwrap(), lenient))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Both parsers agree on every mutation, except where the hand-written cases say why not.
    #[test]
    fn generated_manifests_agree_with_wadm(base in prop_oneof![Just(HELLO), Just(SECRETS)], m in mutation(), index in any::<prop::sample::Index>()) {
        let Some((text, lenient)) = mutate(base, &m, index) else { return Ok(()) };
        let (w, t) = (wadm(&text), trellis(&text));
        if w.is_ok() {
            prop_assert!(t.is_ok(), "wadm accepts what Trellis refuses ({m:?}):\n{text}\ntrellis: {t:?}");
        } else if !lenient {
            prop_assert!(t.is_err(), "wadm refuses what Trellis accepts ({m:?}):\n{text}\nwadm: {w:?}\ntrellis warnings: {t:?}");
        }
    }
}
