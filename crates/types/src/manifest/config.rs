//! Named config: resolving a component's or a link's `config` list into one map, as hosts
//! resolve it when they deploy and as the operator reads the HTTP addresses of a manifest.

use std::collections::BTreeMap;

use super::{ConfigProperty, Manifest};

/// A config list entry that names config nobody defined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct UndefinedConfig {
    /// Field path of the entry's name.
    pub field: String,
    /// Why, naming the config.
    pub reason: String,
}

/// Named config defined in the manifest, for resolving references by name.
pub struct Configs<'a> {
    defined: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl<'a> Configs<'a> {
    /// The manifest's own config, then `external` (named config put in the lattice) for the
    /// names the manifest references without defining.
    pub fn of(manifest: &'a Manifest, external: &'a BTreeMap<String, BTreeMap<String, String>>) -> Configs<'a> {
        let mut defined: BTreeMap<&'a str, &'a BTreeMap<String, String>> = external.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut add = |list: &'a [ConfigProperty]| {
            for c in list {
                if let Some(p) = &c.properties {
                    defined.insert(c.name.as_str(), p);
                }
            }
        };
        for c in &manifest.spec.components {
            add(&c.properties.config);
            for link in c.links() {
                if let Some(s) = &link.source {
                    add(&s.config);
                }
                add(&link.target.config);
            }
        }
        Configs { defined }
    }

    /// Merges a config list right-most-wins, resolving entries without properties by name.
    pub fn merge(&self, list: &[ConfigProperty], field: &str) -> Result<BTreeMap<String, String>, UndefinedConfig> {
        let mut merged = BTreeMap::new();
        for (j, c) in list.iter().enumerate() {
            let properties = match &c.properties {
                Some(p) => p,
                None => self.defined.get(c.name.as_str()).copied().ok_or_else(|| UndefinedConfig {
                    field: format!("{field}[{j}].name"),
                    reason: format!("config `{}` is not defined: give it `properties` here, define it elsewhere in the manifest, or put it with `trellis config put`", c.name),
                })?,
            };
            merged.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(merged)
    }
}
