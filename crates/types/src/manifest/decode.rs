//! Turns a located node tree into the manifest model, collecting every structural error
//! (unknown field, wrong type, missing field) with its line and field path, and a warning for
//! every field it ignores.
//!
//! Which unknown fields are refused and which are ignored follows wadm-types 0.8 (what
//! `wadm` parses with): its `Manifest`, component `properties`, traits, scaler properties,
//! spreads and config entries deny unknown fields; everything else ignores them.

use std::collections::BTreeMap;

use super::node::{Node, Value};
use super::*;

/// What decoding found: the manifest (`None` when a required part is unusable; the errors say
/// why), the errors, and the fields ignored.
pub(super) struct Decoded {
    pub(super) manifest: Option<Manifest>,
    pub(super) errors: Vec<ManifestError>,
    pub(super) warnings: Vec<ManifestError>,
}

/// Decodes the whole document.
pub(super) fn manifest(node: &Node) -> Decoded {
    let mut d = Decoder::default();
    let manifest = d.manifest(node);
    Decoded { manifest, errors: d.errors, warnings: d.warnings }
}

#[derive(Default)]
struct Decoder {
    errors: Vec<ManifestError>,
    warnings: Vec<ManifestError>,
}

/// What an unknown key in a mapping means, as wadm's parser treats it there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// wadm refuses it (`deny_unknown_fields`): an error, with the nearest allowed name.
    Refused,
    /// wadm ignores it: so does Trellis, with a warning.
    Ignored,
}

/// The fields of one mapping, already checked against the allowed names.
struct Fields<'a> {
    line: usize,
    path: String,
    entries: &'a [(String, usize, Node)],
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

impl Decoder {
    fn error(&mut self, line: usize, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ManifestError { line, path: path.into(), message: message.into() });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        self.error(node.line, path, format!("expected {expected}, found {}", node.value.kind()));
    }

    fn warning(&mut self, line: usize, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ManifestError { line, path: path.into(), message: message.into() });
    }

    /// Checks `node` is a mapping and reports every key not in `allowed`: an error where wadm
    /// refuses unknown keys, a warning where it ignores them.
    fn fields<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str], unknown: Unknown) -> Option<Fields<'a>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        for (key, line, _) in entries {
            if !allowed.contains(&key.as_str()) {
                match unknown {
                    Unknown::Refused => {
                        let hint = match closest(key, allowed) {
                            Some(near) => format!("; did you mean `{near}`?"),
                            None => format!("; expected one of: {}", allowed.join(", ")),
                        };
                        self.error(*line, join(path, key), format!("unknown field `{key}`{hint}"));
                    }
                    // Often a field of another tool (`namespace`): only a near-certain typo
                    // gets a suggestion.
                    Unknown::Ignored => {
                        let hint = typo(key, allowed).map(|near| format!("; did you mean `{near}`?")).unwrap_or_default();
                        self.warning(*line, join(path, key), format!("field `{key}` is ignored, as wadm ignores it{hint}"));
                    }
                }
            }
        }
        Some(Fields { line: node.line, path: path.to_owned(), entries })
    }

    fn required<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Node> {
        let found = fields.get(key);
        if found.is_none() {
            self.error(fields.line, fields.path(key), "missing required field");
        }
        found
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn required_string(&mut self, fields: &Fields<'_>, key: &str) -> Option<String> {
        let node = self.required(fields, key)?;
        let s = self.string(node, &fields.path(key))?;
        if s.trim().is_empty() {
            self.error(node.line, fields.path(key), "must not be empty");
            return None;
        }
        Some(s)
    }

    fn optional_string(&mut self, fields: &Fields<'_>, key: &str) -> Option<String> {
        fields.get(key).and_then(|n| self.string(n, &fields.path(key)))
    }

    fn unsigned(&mut self, node: &Node, path: &str) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::Int(_) => {
                self.error(node.line, path, "must not be negative");
                None
            }
            _ => {
                self.wrong_type(node, path, "a whole number");
                None
            }
        }
    }

    fn u32(&mut self, node: &Node, path: &str) -> Option<u32> {
        let n = self.unsigned(node, path)?;
        u32::try_from(n).ok().or_else(|| {
            self.error(node.line, path, format!("{n} is too large (at most {})", u32::MAX));
            None
        })
    }

    /// A map of strings. Scalars are accepted as their text, since `port: 8080` means "8080".
    fn string_map(&mut self, node: &Node, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match &node.value {
            Value::Map(entries) => {
                for (key, _, value) in entries {
                    let text = match &value.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        // `description:` with nothing after it: wadm reads an empty value.
                        Value::Null => String::new(),
                        _ => {
                            self.wrong_type(value, &join(path, key), "a string");
                            continue;
                        }
                    };
                    out.insert(key.clone(), text);
                }
            }
            Value::Null => {}
            _ => self.wrong_type(node, path, "a mapping of strings"),
        }
        out
    }

    fn list<'a>(&mut self, node: &'a Node, path: &str) -> &'a [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.wrong_type(node, path, "a list");
                &[]
            }
        }
    }

    fn manifest(&mut self, node: &Node) -> Option<Manifest> {
        let f = self.fields(node, "", &["apiVersion", "kind", "metadata", "spec"], Unknown::Refused)?;
        let api_version = self.required_string(&f, "apiVersion");
        let kind = self.required_string(&f, "kind");
        let metadata = self.required(&f, "metadata").and_then(|n| self.metadata(n, "metadata"));
        let spec = self.required(&f, "spec").and_then(|n| self.spec(n, "spec"));
        Some(Manifest { api_version: api_version?, kind: kind?, metadata: metadata?, spec: spec? })
    }

    fn metadata(&mut self, node: &Node, path: &str) -> Option<Metadata> {
        // `namespace` (as Kubernetes objects have) and the rest are ignored, as by wadm.
        let f = self.fields(node, path, &["name", "annotations", "labels"], Unknown::Ignored)?;
        let name = self.required_string(&f, "name");
        let mut annotations =
            f.get("annotations").map(|n| self.string_map(n, &f.path("annotations")));
        if let Some(map) = &mut annotations
            && map.get(VERSION_ANNOTATION).is_some_and(|v| v.trim().is_empty())
        {
            map.remove(VERSION_ANNOTATION);
            let line = match f.get("annotations").map(|n| &n.value) {
                Some(Value::Map(entries)) => entries.iter().find(|(k, _, _)| k == VERSION_ANNOTATION).map_or(f.line, |(_, line, _)| *line),
                _ => f.line,
            };
            self.warning(line, f.path("annotations.version"), "an empty version is no version: one is generated when the manifest is put");
        }
        let labels = f.get("labels").map(|n| self.string_map(n, &f.path("labels")));
        Some(Metadata {
            name: name?,
            annotations: annotations.unwrap_or_default(),
            labels: labels.unwrap_or_default(),
        })
    }

    fn spec(&mut self, node: &Node, path: &str) -> Option<Specification> {
        let f = self.fields(node, path, &["components", "policies"], Unknown::Ignored)?;
        let components = self.required(&f, "components").map(|n| {
            let path = f.path("components");
            let items = self.list(n, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, c)| self.component(c, &format!("{path}[{i}]")))
                .collect::<Vec<_>>()
        });
        let policies = f.get("policies").map(|n| {
            let path = f.path("policies");
            let items = self.list(n, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, p)| self.policy(p, &format!("{path}[{i}]")))
                .collect::<Vec<_>>()
        });
        // A broken entry is dropped, not the whole spec, so the checks that follow still run on
        // the rest; its errors are already recorded, so the manifest is rejected either way.
        let components = components?.into_iter().flatten().collect();
        let policies = policies.unwrap_or_default().into_iter().flatten().collect();
        Some(Specification { components, policies })
    }

    fn policy(&mut self, node: &Node, path: &str) -> Option<Policy> {
        let f = self.fields(node, path, &["name", "type", "properties"], Unknown::Ignored)?;
        let name = self.required_string(&f, "name");
        let policy_type = self.required_string(&f, "type");
        let properties = f.get("properties").map(|n| self.string_map(n, &f.path("properties")));
        Some(Policy { name: name?, policy_type: policy_type?, properties: properties.unwrap_or_default() })
    }

    fn component(&mut self, node: &Node, path: &str) -> Option<Component> {
        let f = self.fields(node, path, &["name", "type", "properties", "traits"], Unknown::Ignored)?;
        let name = self.required_string(&f, "name");
        let kind = self.required(&f, "type").and_then(|n| {
            let path = f.path("type");
            match self.string(n, &path)?.as_str() {
                "component" | "actor" => Some(ComponentKind::Component),
                "capability" => Some(ComponentKind::Capability),
                other => {
                    self.error(
                        n.line,
                        path,
                        format!("unknown component type `{other}`; expected component, actor or capability"),
                    );
                    None
                }
            }
        });
        let properties = self.required(&f, "properties").and_then(|n| self.properties(n, &f.path("properties")));
        let traits = f.get("traits").map(|n| {
            let path = f.path("traits");
            let items = self.list(n, &path);
            items.iter().enumerate().map(|(i, t)| self.trait_(t, &format!("{path}[{i}]"))).collect::<Vec<_>>()
        });
        let traits = traits.unwrap_or_default().into_iter().flatten().collect();
        Some(Component { name: name?, kind: kind?, properties: properties?, traits })
    }

    fn properties(&mut self, node: &Node, path: &str) -> Option<Properties> {
        let f = self.fields(node, path, &["image", "application", "id", "config", "secrets"], Unknown::Refused)?;
        let image = self.optional_string(&f, "image");
        let id = self.optional_string(&f, "id");
        let application = f.get("application").and_then(|n| {
            let af = self.fields(n, &f.path("application"), &["name", "component"], Unknown::Ignored)?;
            let name = self.required_string(&af, "name");
            let component = self.required_string(&af, "component");
            Some(SharedComponent { name: name?, component: component? })
        });
        let config = f.get("config").map(|n| self.configs(n, &f.path("config")));
        let secrets = f.get("secrets").map(|n| self.secrets(n, &f.path("secrets")));
        Some(Properties {
            image,
            application,
            id,
            config: config.unwrap_or_default(),
            secrets: secrets.unwrap_or_default(),
        })
    }

    fn configs(&mut self, node: &Node, path: &str) -> Vec<ConfigProperty> {
        let items = self.list(node, path);
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let f = self.fields(item, &format!("{path}[{i}]"), &["name", "properties"], Unknown::Refused)?;
                let name = self.required_string(&f, "name");
                let properties = f.get("properties").map(|n| self.string_map(n, &f.path("properties")));
                Some(ConfigProperty { name: name?, properties })
            })
            .collect()
    }

    fn secrets(&mut self, node: &Node, path: &str) -> Vec<SecretProperty> {
        let items = self.list(node, path);
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let f = self.fields(item, &format!("{path}[{i}]"), &["name", "properties"], Unknown::Ignored)?;
                let name = self.required_string(&f, "name");
                let source = self.required(&f, "properties").and_then(|n| {
                    let sf = self.fields(n, &f.path("properties"), &["policy", "key", "field", "version"], Unknown::Ignored)?;
                    let policy = self.required_string(&sf, "policy");
                    let key = self.required_string(&sf, "key");
                    let field = self.optional_string(&sf, "field");
                    let version = self.optional_string(&sf, "version");
                    Some(SecretSource { policy: policy?, key: key?, field, version })
                });
                Some(SecretProperty { name: name?, properties: source? })
            })
            .collect()
    }

    fn trait_(&mut self, node: &Node, path: &str) -> Option<Trait> {
        let f = self.fields(node, path, &["type", "properties"], Unknown::Refused)?;
        let trait_type = self.required_string(&f, "type")?;
        let props_node = self.required(&f, "properties")?;
        let props_path = f.path("properties");
        let properties = match trait_type.as_str() {
            SPREADSCALER_TRAIT | DAEMONSCALER_TRAIT => {
                TraitProperty::Scaler(self.scaler(props_node, &props_path)?)
            }
            LINK_TRAIT => TraitProperty::Link(self.link(props_node, &props_path)?),
            LIMITS_TRAIT => TraitProperty::Limits(self.limits(props_node, &props_path)?),
            custom if custom.contains('.') || custom.contains('/') => {
                TraitProperty::Custom(to_json(props_node))
            }
            // wadm takes any other type as a custom trait and does nothing with it; so does
            // Trellis, but a typo of a known type is worth a line.
            unknown => {
                let known = [SPREADSCALER_TRAIT, DAEMONSCALER_TRAIT, LINK_TRAIT, LIMITS_TRAIT];
                let hint = match closest(unknown, &known) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("known types: {}", known.join(", ")),
                };
                let line = f.get("type").map_or(f.line, |n| n.line);
                self.warning(line, f.path("type"), format!("unknown trait type `{unknown}` is ignored, as wadm ignores it; {hint}"));
                TraitProperty::Custom(to_json(props_node))
            }
        };
        Some(Trait { trait_type, properties })
    }

    fn scaler(&mut self, node: &Node, path: &str) -> Option<ScalerProperty> {
        let f = self.fields(node, path, &["instances", "replicas", "spread"], Unknown::Refused)?;
        let instances = match (f.get("instances"), f.get("replicas")) {
            (Some(n), None) => self.u32(n, &f.path("instances")),
            (None, Some(n)) => self.u32(n, &f.path("replicas")),
            (Some(n), Some(_)) => {
                self.error(n.line, f.path("replicas"), "set `instances` or its alias `replicas`, not both");
                None
            }
            (None, None) => {
                self.error(f.line, f.path("instances"), "missing required field");
                None
            }
        };
        let spread = f.get("spread").map(|n| {
            let path = f.path("spread");
            let items = self.list(n, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let sf = self.fields(s, &format!("{path}[{i}]"), &["name", "requirements", "weight"], Unknown::Refused)?;
                    let name = self.required_string(&sf, "name");
                    let requirements = sf.get("requirements").map(|n| self.string_map(n, &sf.path("requirements")));
                    let weight = match sf.get("weight") {
                        Some(n) => Some(self.u32(n, &sf.path("weight"))?),
                        None => None,
                    };
                    Some(Spread { name: name?, requirements: requirements.unwrap_or_default(), weight })
                })
                .collect::<Vec<_>>()
        });
        let spread = spread.unwrap_or_default().into_iter().collect::<Option<Vec<_>>>();
        Some(ScalerProperty { instances: instances?, spread: spread? })
    }

    fn link(&mut self, node: &Node, path: &str) -> Option<LinkProperty> {
        let f = self.fields(
            node,
            path,
            &["namespace", "package", "interfaces", "name", "source", "target", "source_config", "target_config"],
            Unknown::Ignored,
        )?;
        let namespace = self.required_string(&f, "namespace");
        let package = self.required_string(&f, "package");
        let name = self.optional_string(&f, "name");
        let interfaces = self.required(&f, "interfaces").and_then(|n| {
            let path = f.path("interfaces");
            let items = self.list(n, &path);
            if items.is_empty() {
                self.error(n.line, path.clone(), "must name at least one interface");
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
                .collect::<Option<Vec<_>>>()
        });
        let mut source = f.get("source").and_then(|n| {
            // `source.name` and the like: wadm ignores them (the source is the component itself).
            let sf = self.fields(n, &f.path("source"), &["config", "secrets"], Unknown::Ignored)?;
            let config = sf.get("config").map(|n| self.configs(n, &sf.path("config")));
            let secrets = sf.get("secrets").map(|n| self.secrets(n, &sf.path("secrets")));
            Some(ConfigDefinition { config: config.unwrap_or_default(), secrets: secrets.unwrap_or_default() })
        });
        // The legacy shape (`target: name`, `source_config`, `target_config`) is still in many
        // manifests; wadm reads both, so do we, and normalise to the current shape.
        if let Some(n) = f.get("source_config") {
            let legacy = self.configs(n, &f.path("source_config"));
            source.get_or_insert_with(Default::default).config.extend(legacy);
        }
        let mut target = self.required(&f, "target").and_then(|n| match &n.value {
            Value::Str(name) => Some(LinkTarget { name: name.clone(), config: vec![], secrets: vec![] }),
            _ => {
                let tf = self.fields(n, &f.path("target"), &["name", "config", "secrets"], Unknown::Ignored)?;
                let name = self.required_string(&tf, "name");
                let config = tf.get("config").map(|n| self.configs(n, &tf.path("config")));
                let secrets = tf.get("secrets").map(|n| self.secrets(n, &tf.path("secrets")));
                Some(LinkTarget {
                    name: name?,
                    config: config.unwrap_or_default(),
                    secrets: secrets.unwrap_or_default(),
                })
            }
        });
        if let Some(n) = f.get("target_config") {
            let legacy = self.configs(n, &f.path("target_config"));
            if let Some(target) = &mut target {
                target.config.extend(legacy);
            }
        }
        Some(LinkProperty {
            namespace: namespace?,
            package: package?,
            interfaces: interfaces?,
            name,
            source,
            target: target?,
        })
    }

    fn limits(&mut self, node: &Node, path: &str) -> Option<Limits> {
        let f = self.fields(node, path, &["max_execution_time_ms", "max_linear_memory_bytes"], Unknown::Refused)?;
        let mut limits = Limits::default();
        for (key, slot) in [
            ("max_execution_time_ms", &mut limits.max_execution_time_ms),
            ("max_linear_memory_bytes", &mut limits.max_linear_memory_bytes),
        ] {
            if let Some(n) = f.get(key) {
                let value = self.unsigned(n, &f.path(key))?;
                if value == 0 {
                    self.error(n.line, f.path(key), "must be greater than zero");
                    return None;
                }
                *slot = Some(value);
            }
        }
        Some(limits)
    }
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(entries.iter().map(|(k, _, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// The allowed name nearest to `word`, if it is a plausible typo (edit distance at most 2) or
/// a different form of the same stem (`policy` for `policies`).
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let stem = |w: &str| w.chars().take(w.chars().count().saturating_sub(1)).collect::<String>();
    if word.chars().count() >= 4
        && let Some(c) = candidates.iter().find(|c| c.starts_with(&stem(word)) || word.starts_with(&stem(c)))
    {
        return Some(c);
    }
    typo(word, candidates)
}

/// The allowed name within two edits of `word`, the nearest first.
fn typo<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_suggestions() {
        assert_eq!(closest("instnaces", &["instances", "replicas", "spread"]), Some("instances"));
        assert_eq!(closest("zzz", &["instances"]), None);
    }
}
