//! Rules a well-formed manifest must still satisfy: references resolve, names are unique,
//! versions are usable. Each error is located through the node tree it was decoded from.

use std::collections::{BTreeMap, BTreeSet};

use super::decode::closest;
use super::node::{Node, Value};
use super::*;

pub(super) fn manifest(m: &Manifest, root: &Node) -> Vec<ManifestError> {
    let mut v = Validator { root, errors: Vec::new() };
    v.header(m);
    v.components(m);
    v.errors
}

struct Validator<'a> {
    root: &'a Node,
    errors: Vec<ManifestError>,
}

impl Validator<'_> {
    fn error(&mut self, path: String, message: impl Into<String>) {
        let line = line_at(self.root, &path);
        self.errors.push(ManifestError { line, path, message: message.into() });
    }

    fn header(&mut self, m: &Manifest) {
        if m.api_version != OAM_VERSION {
            self.error("apiVersion".into(), format!("unsupported apiVersion `{}`; expected `{OAM_VERSION}`", m.api_version));
        }
        if m.kind != APPLICATION_KIND {
            self.error("kind".into(), format!("unsupported kind `{}`; expected `{APPLICATION_KIND}`", m.kind));
        }
        if !is_token(&m.metadata.name) {
            self.error(
                "metadata.name".into(),
                format!("`{}` may contain only letters, digits, `-` and `_`", m.metadata.name),
            );
        }
        if let Some(version) = m.version() {
            if version.trim().is_empty() {
                self.error("metadata.annotations.version".into(), "must not be empty");
            } else if version.eq_ignore_ascii_case("latest") {
                self.error(
                    "metadata.annotations.version".into(),
                    "`latest` is not a version: name a fixed one (e.g. v0.1.0), or leave it out to have one generated",
                );
            }
        }
    }

    fn components(&mut self, m: &Manifest) {
        // Names as written, including components dropped for errors of their own, so a link to
        // one of those is not reported a second time as dangling.
        let names = written_component_names(self.root);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let policies: BTreeMap<&str, &Policy> = m.spec.policies.iter().map(|p| (p.name.as_str(), p)).collect();
        let mut seen_names = BTreeSet::new();
        let mut seen_ids = BTreeMap::new();
        if m.spec.components.is_empty() {
            self.error("spec.components".into(), "an application needs at least one component");
        }
        for (i, c) in m.spec.components.iter().enumerate() {
            let at = format!("spec.components[{i}]");
            if !seen_names.insert(c.name.as_str()) {
                self.error(format!("{at}.name"), format!("component name `{}` is used twice", c.name));
            }
            let id = c.id(m.name());
            if let Some(other) = seen_ids.insert(id.clone(), c.name.clone()) {
                self.error(format!("{at}.properties.id"), format!("id `{id}` is already the id of component `{other}`"));
            }
            if c.properties.id.is_some() && !is_token(&id) {
                self.error(format!("{at}.properties.id"), format!("`{id}` may contain only letters, digits, `-` and `_`"));
            }
            match (&c.properties.image, &c.properties.application) {
                (None, None) => self.error(format!("{at}.properties"), "needs `image` (or `application` for a shared component)"),
                (Some(_), Some(_)) => self.error(format!("{at}.properties.application"), "set `image` or `application`, not both"),
                (Some(image), None) if image.trim().is_empty() => self.error(format!("{at}.properties.image"), "must not be empty"),
                _ => {}
            }
            self.secrets(&c.properties.secrets, &policies, &format!("{at}.properties.secrets"));
            self.traits(c, &at, &names, &policies);
        }
    }

    /// As wadm checks them: the policy exists, is a secrets policy and names its backend.
    fn secrets(&mut self, secrets: &[SecretProperty], policies: &BTreeMap<&str, &Policy>, at: &str) {
        for (i, s) in secrets.iter().enumerate() {
            let field = format!("{at}[{i}].properties.policy");
            match policies.get(s.properties.policy.as_str()) {
                None => self.error(field, format!("no policy named `{}` in spec.policies", s.properties.policy)),
                Some(p) if p.policy_type != SECRET_POLICY_TYPE => self.error(
                    field,
                    format!("policy `{}` has type `{}`; a secret's policy must have type `{SECRET_POLICY_TYPE}`", p.name, p.policy_type),
                ),
                Some(p) if !p.properties.contains_key("backend") => {
                    self.error(field, format!("policy `{}` has no `backend` property: the secrets backend to ask", p.name));
                }
                Some(_) => {}
            }
        }
    }

    fn traits(&mut self, c: &Component, at: &str, names: &[&str], policies: &BTreeMap<&str, &Policy>) {
        let mut scaler_seen = false;
        let mut limits_seen = false;
        // wadm#514's rule: a component's import resolves to one target per (link name,
        // interface), so two links of a component may not claim the same pair. A capability is
        // different: it links the same interface to many components (one http-server in front
        // of several), so for it only the same target twice is a duplicate.
        let mut linked: BTreeMap<(String, String, String, String), BTreeSet<String>> = BTreeMap::new();
        for (t, tr) in c.traits.iter().enumerate() {
            let at = format!("{at}.traits[{t}]");
            match &tr.properties {
                TraitProperty::Scaler(s) => {
                    if std::mem::replace(&mut scaler_seen, true) {
                        self.error(format!("{at}.type"), format!("component `{}` already has a scaler; give it one", c.name));
                    }
                    self.spread(s, &at);
                }
                TraitProperty::Limits(_) => {
                    if std::mem::replace(&mut limits_seen, true) {
                        self.error(format!("{at}.type"), format!("component `{}` already has a {LIMITS_TRAIT} trait", c.name));
                    }
                }
                TraitProperty::Link(link) => {
                    let target = &link.target.name;
                    if !names.contains(&target.as_str()) {
                        let hint = closest(target, names).map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
                        self.error(format!("{at}.properties.target"), format!("no component named \"{target}\"{hint}"));
                    } else if *target == c.name {
                        self.error(format!("{at}.properties.target"), "a component cannot link to itself");
                    }
                    let target_key = if c.kind == ComponentKind::Capability { target.clone() } else { String::new() };
                    let key = (link.namespace.clone(), link.package.clone(), link.link_name().to_owned(), target_key);
                    let taken = linked.entry(key).or_default();
                    for iface in &link.interfaces {
                        if !taken.insert(iface.clone()) {
                            self.error(
                                format!("{at}.properties.interfaces"),
                                format!(
                                    "{}:{}/{iface} is already linked under link name `{}`; give this link another `name`",
                                    link.namespace, link.package, link.link_name()
                                ),
                            );
                        }
                    }
                    if let Some(source) = &link.source {
                        self.secrets(&source.secrets, policies, &format!("{at}.properties.source.secrets"));
                    }
                    self.secrets(&link.target.secrets, policies, &format!("{at}.properties.target.secrets"));
                }
                TraitProperty::Custom(_) => {}
            }
        }
    }

    fn spread(&mut self, s: &ScalerProperty, at: &str) {
        let mut names = BTreeSet::new();
        for (i, spread) in s.spread.iter().enumerate() {
            if !names.insert(spread.name.as_str()) {
                self.error(format!("{at}.properties.spread[{i}].name"), format!("spread name `{}` is used twice", spread.name));
            }
        }
        if !s.spread.is_empty() && s.spread.iter().all(|sp| sp.weight == Some(0)) {
            self.error(format!("{at}.properties.spread"), "every spread has weight 0, so no instance can be placed");
        }
    }
}

fn written_component_names(root: &Node) -> Vec<String> {
    let field = |node: &Node, key: &str| match &node.value {
        Value::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v.clone()),
        _ => None,
    };
    let Some(Value::Seq(components)) = field(root, "spec").and_then(|s| field(&s, "components")).map(|n| n.value) else {
        return Vec::new();
    };
    components
        .iter()
        .filter_map(|c| match field(c, "name")?.value {
            Value::Str(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// Names that become NATS subject tokens: letters, digits, `-`, `_`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The line of the node at `path` (`a.b[2].c`), or of its deepest existing ancestor.
fn line_at(root: &Node, path: &str) -> usize {
    let mut node = root;
    let mut line = root.line;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indices) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        let Value::Map(entries) = &node.value else { return line };
        let Some((_, key_line, child)) = entries.iter().find(|(k, _, _)| k == key) else { return line };
        line = *key_line;
        node = child;
        for index in indices.split('[').filter_map(|s| s.trim_end_matches(']').parse::<usize>().ok()) {
            let Value::Seq(items) = &node.value else { return line };
            let Some(item) = items.get(index) else { return line };
            node = item;
            line = item.line;
        }
    }
    line
}
