//! Named config: resolving a component's or a link's `config` list into one map.

use std::collections::BTreeMap;

use trellis_types::manifest::{ConfigProperty, Manifest};

use crate::DeployError;

/// Named config defined in the manifest, for resolving references by name.
pub(crate) struct Configs<'a> {
    defined: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl<'a> Configs<'a> {
    /// The manifest's own config, then `external` (named config put in the lattice) for the
    /// names the manifest references without defining.
    pub(crate) fn of(manifest: &'a Manifest, external: &'a BTreeMap<String, BTreeMap<String, String>>) -> Configs<'a> {
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
    pub(crate) fn merge(&self, list: &[ConfigProperty], field: &str) -> Result<BTreeMap<String, String>, DeployError> {
        let mut merged = BTreeMap::new();
        for (j, c) in list.iter().enumerate() {
            let properties = match &c.properties {
                Some(p) => p,
                None => self.defined.get(c.name.as_str()).copied().ok_or_else(|| DeployError::Config {
                    field: format!("{field}[{j}].name"),
                    reason: format!("config `{}` is not defined: give it `properties` here, define it elsewhere in the manifest, or put it with `trellis config put`", c.name),
                })?,
            };
            merged.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(merged)
    }
}
