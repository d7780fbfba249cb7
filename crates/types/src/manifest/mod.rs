//! The wadm OAM application manifest (`core.oam.dev/v1beta1`), as wasmCloud's wadm reads it.
//!
//! [`Manifest::parse`] reads YAML or JSON and reports *every* problem it finds, each with the
//! file, line and field path ([`ManifestError`]), rather than stopping at the first. The types
//! serialize to the JSON shape wadm uses on its API, with legacy link fields normalised to the
//! current shape.
//!
//! What wadm accepts, Trellis accepts: where wadm's parser ignores a field (unknown keys in
//! `metadata`, `spec`, a component, a link and its `source` and `target`, a secret, a policy;
//! trait types it does not know), Trellis ignores it too and says so in a warning with its line
//! ([`Manifest::parse_with_warnings`]). What wadm refuses because a deploy would go wrong, Trellis
//! refuses, with file, line and field.

mod config;
mod decode;
mod node;
mod validate;

pub use config::{Configs, UndefinedConfig};

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The only `apiVersion` wadm accepts.
pub const OAM_VERSION: &str = "core.oam.dev/v1beta1";
/// The only `kind` wadm accepts.
pub const APPLICATION_KIND: &str = "Application";
/// Annotation holding the manifest's version.
pub const VERSION_ANNOTATION: &str = "version";
/// Annotation holding the manifest's description.
pub const DESCRIPTION_ANNOTATION: &str = "description";
/// The type of the policy a secret reference names, as wadm requires it.
pub const SECRET_POLICY_TYPE: &str = "policy.secret.wasmcloud.dev/v1alpha1";
/// Annotation marking an application whose components other applications may use.
pub const SHARED_ANNOTATION: &str = "experimental.wasmcloud.dev/shared";

/// Trait type of a spread scaler.
pub const SPREADSCALER_TRAIT: &str = "spreadscaler";
/// Trait type of a daemon scaler.
pub const DAEMONSCALER_TRAIT: &str = "daemonscaler";
/// Trait type of a link.
pub const LINK_TRAIT: &str = "link";
/// Trellis' own trait: per-component execution limits. Namespaced, so wadm treats it as custom.
pub const LIMITS_TRAIT: &str = "trellis.dev/limits";

/// A whole application manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always [`OAM_VERSION`].
    pub api_version: String,
    /// Always [`APPLICATION_KIND`].
    pub kind: String,
    /// Name, annotations and labels.
    pub metadata: Metadata,
    /// Components and policies.
    pub spec: Specification,
}

/// Identifies the application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    /// Unique per lattice; `[A-Za-z0-9_-]+`.
    pub name: String,
    /// Free-form annotations; `version` and `description` are read by Trellis.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// What the application is made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Specification {
    /// Components and capability providers.
    pub components: Vec<Component>,
    /// Policies, e.g. the secrets backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
}

/// A named policy; its properties go to whatever implements it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Referenced from secrets as `policy`.
    pub name: String,
    /// e.g. `policy.secret.wasmcloud.dev/v1alpha1`.
    #[serde(rename = "type")]
    pub policy_type: String,
    /// Passed to the policy's backend.
    pub properties: BTreeMap<String, String>,
}

/// A component or capability provider and its traits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Unique within the manifest.
    pub name: String,
    /// `component` (alias `actor`) or `capability`.
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// Where it comes from and what it is given.
    pub properties: Properties,
    /// Scalers, links and custom traits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<Trait>,
}

/// Whether a manifest entry is a Wasm component or a capability provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// A WebAssembly component (`component`, or the legacy `actor`).
    Component,
    /// A capability provider (`capability`).
    Capability,
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentKind::Component => "component",
            ComponentKind::Capability => "capability",
        })
    }
}

/// The `properties` of a component or capability.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Properties {
    /// OCI reference, `file://` URL, path relative to the manifest, or `wasmcloud+builtin://`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A component of a shared application, used instead of `image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<SharedComponent>,
    /// Explicit id; see [`Component::id`] for the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Named configuration, merged right-most-wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secret references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// A reference into a shared application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedComponent {
    /// The shared application's name.
    pub name: String,
    /// The component's name in that application.
    pub component: String,
}

/// Named configuration; with `properties`, the manifest owns and creates it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigProperty {
    /// The config's name in the lattice.
    pub name: String,
    /// Absent: the config must already exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

/// A secret reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretProperty {
    /// Name the component asks for.
    pub name: String,
    /// Where the secret lives.
    pub properties: SecretSource,
}

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretSource {
    /// Name of a policy in `spec.policies`.
    pub policy: String,
    /// Key in the backend.
    pub key: String,
    /// Field within the key's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Backend-specific version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One trait of a component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trait {
    /// The trait type as written (`spreadscaler`, `link`, ...).
    #[serde(rename = "type")]
    pub trait_type: String,
    /// Its properties, by type.
    pub properties: TraitProperty,
}

/// The properties of a trait, by trait type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TraitProperty {
    /// `spreadscaler` or `daemonscaler`.
    Scaler(ScalerProperty),
    /// `link`.
    Link(LinkProperty),
    /// `trellis.dev/limits`.
    Limits(Limits),
    /// Any namespaced trait Trellis does not know, kept as written.
    Custom(serde_json::Value),
}

/// Properties of a spread or daemon scaler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalerProperty {
    /// Spread: total maximum concurrent instances. Daemon: per host. (`replicas` is an alias.)
    pub instances: u32,
    /// Where the instances go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<Spread>,
}

/// One placement rule of a scaler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// Name, for status.
    pub name: String,
    /// Host labels that must all match.
    #[serde(default)]
    pub requirements: BTreeMap<String, String>,
    /// Relative weight; default 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A link from the component carrying the trait to a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkProperty {
    /// WIT namespace, e.g. `wasi`.
    pub namespace: String,
    /// WIT package, e.g. `keyvalue`.
    pub package: String,
    /// Interfaces of the package the link covers.
    pub interfaces: Vec<String>,
    /// Link name; `default` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Config and secrets for the source side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ConfigDefinition>,
    /// The target and its config.
    pub target: LinkTarget,
}

impl LinkProperty {
    /// The link name, `default` when the manifest names none.
    pub fn link_name(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }
}

/// Config and secrets attached to one side of a link.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ConfigDefinition {
    /// Named config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secret references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// The target side of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTarget {
    /// Name of a component in this manifest (or of a shared application's component).
    pub name: String,
    /// Named config for the target side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secret references for the target side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// Per-component execution limits (the `trellis.dev/limits` trait). Unset fields take the
/// host's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Limits {
    /// Wall-clock deadline of one invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_execution_time_ms: Option<u64>,
    /// Cap on one instance's linear memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_linear_memory_bytes: Option<u64>,
}

impl Manifest {
    /// Reads a manifest from YAML or JSON `text`; `source` names it in errors (usually the path).
    ///
    /// Returns every error found, each with line and field path.
    pub fn parse(source: &str, text: &str) -> Result<Manifest, ManifestErrors> {
        Manifest::parse_with_warnings(source, text).map(|(manifest, _)| manifest)
    }

    /// [`Manifest::parse`], and the fields it ignored, each with line and field path: what
    /// `trellis app validate` and `app put` show, so a field that does nothing is never silent.
    pub fn parse_with_warnings(source: &str, text: &str) -> Result<(Manifest, ManifestWarnings), ManifestErrors> {
        let fail = |errors: Vec<ManifestError>| ManifestErrors { file: source.to_owned(), errors };
        let node = node::parse(text).map_err(|e| {
            fail(vec![ManifestError { line: e.line, path: String::new(), message: e.message }])
        })?;
        let decode::Decoded { manifest, mut errors, mut warnings } = decode::manifest(&node);
        if let Some(manifest) = &manifest {
            errors.extend(validate::manifest(manifest, &node));
        }
        match manifest {
            Some(manifest) if errors.is_empty() => {
                warnings.sort_by_key(|w| w.line);
                Ok((manifest, ManifestWarnings { file: source.to_owned(), warnings }))
            }
            _ => {
                errors.sort_by_key(|e| e.line);
                Err(fail(errors))
            }
        }
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The `version` annotation, if the manifest sets one.
    pub fn version(&self) -> Option<&str> {
        self.metadata.annotations.get(VERSION_ANNOTATION).map(String::as_str)
    }

    /// The `description` annotation, if any.
    pub fn description(&self) -> Option<&str> {
        self.metadata.annotations.get(DESCRIPTION_ANNOTATION).map(String::as_str)
    }

    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.spec.components.iter().find(|c| c.name == name)
    }
}

impl Component {
    /// The lattice id: `properties.id`, else wadm's default: the application's and the
    /// component's names, each lower-cased with every character that is not ASCII alphanumeric
    /// replaced by `_`, joined with `-` (`hello-world` + `http-component` is
    /// `hello_world-http_component`), as wadm's `compute_component_id` makes it.
    pub fn id(&self, app: &str) -> String {
        if let Some(id) = &self.properties.id {
            return id.clone();
        }
        let sanitized = |name: &str| -> String {
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
        };
        format!("{}-{}", sanitized(app), sanitized(&self.name))
    }

    /// The scaler trait (spread or daemon), if any.
    pub fn scaler(&self) -> Option<(&str, &ScalerProperty)> {
        self.traits.iter().find_map(|t| match &t.properties {
            TraitProperty::Scaler(s) => Some((t.trait_type.as_str(), s)),
            _ => None,
        })
    }

    /// The link traits.
    pub fn links(&self) -> impl Iterator<Item = &LinkProperty> {
        self.traits.iter().filter_map(|t| match &t.properties {
            TraitProperty::Link(l) => Some(l),
            _ => None,
        })
    }

    /// The `trellis.dev/limits` trait, or no limits.
    pub fn limits(&self) -> Limits {
        self.traits
            .iter()
            .find_map(|t| match &t.properties {
                TraitProperty::Limits(l) => Some(*l),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// The 1-based line of the field at `path` (e.g. `spec.components[0].properties.image`) in a
/// manifest's source text, so errors found after parsing can still point into the file.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    node::parse(text).ok()?.line_of(path)
}

/// One problem in a manifest, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// 1-based line in the source.
    pub line: usize,
    /// Field path such as `spec.components[1].traits[0].properties.target`; empty for syntax.
    pub path: String,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

/// Every problem found in one manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors {
    /// The file (or other source) the manifest came from.
    pub file: String,
    /// At least one error, in line order.
    pub errors: Vec<ManifestError>,
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.file, &self.errors)
    }
}

/// What a manifest says that Trellis does not use, as wadm does not (fields it ignores); each
/// is located like an error. Shown, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestWarnings {
    /// The file (or other source) the manifest came from.
    pub file: String,
    /// In line order; empty when nothing was ignored.
    pub warnings: Vec<ManifestError>,
}

impl ManifestWarnings {
    /// Whether there is nothing to warn of.
    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty()
    }
}

impl fmt::Display for ManifestWarnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_located(f, &self.file, &self.warnings)
    }
}

/// One `file:line: path: message` line per item.
fn write_located(f: &mut fmt::Formatter<'_>, file: &str, items: &[ManifestError]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{file}:{}: ", e.line)?;
        if !e.path.is_empty() {
            write!(f, "{}: ", e.path)?;
        }
        f.write_str(&e.message)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
