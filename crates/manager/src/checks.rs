//! Deploy-time checks across applications: what one app may not take from another.
//!
//! wasmCloud lets two apps bind the same port and both report deployed; Trellis refuses the
//! second deploy and names both apps and the field.

use std::collections::BTreeMap;

use trellis_types::manifest::ComponentKind;

use crate::Fleet;
use crate::catalogue::Deployed;
use crate::plan::external_configs;

/// Checks `candidate` (app `name`) against every other deployed app; the error names both.
pub(crate) fn check(
    name: &str,
    candidate: &Deployed,
    others: &[(String, Deployed)],
    configs: &BTreeMap<String, BTreeMap<String, String>>,
    fleet: &dyn Fleet,
) -> Result<(), String> {
    let m = &candidate.manifest;
    for (config, field) in external_configs(m) {
        if !configs.contains_key(&config) {
            return Err(format!(
                "{field}: config `{config}` is not defined in the manifest or the lattice; put it first with `trellis config put {config} KEY=VALUE`"
            ));
        }
    }
    for (i, c) in m.spec.components.iter().enumerate() {
        if c.properties.application.is_some() {
            return Err(format!(
                "spec.components[{i}].properties.application: components of shared applications are not supported yet; give `{}` an image",
                c.name
            ));
        }
    }
    let claims = fleet.claims(m, configs);
    for (other, deployed) in others.iter().filter(|(o, _)| o != name) {
        let om = &deployed.manifest;
        for (i, c) in m.spec.components.iter().enumerate().filter(|(_, c)| c.kind == ComponentKind::Component) {
            let id = c.id(name);
            if let Some(theirs) = om.spec.components.iter().find(|oc| oc.kind == ComponentKind::Component && oc.id(other) == id) {
                return Err(format!(
                    "spec.components[{i}]: component id `{id}` of `{}` is already used by component `{}` of deployed app `{other}`; set `properties.id` to another id",
                    c.name, theirs.name
                ));
            }
        }
        let their_claims = fleet.claims(om, configs);
        for claim in &claims {
            if let Some(theirs) = their_claims.iter().find(|t| t.resource == claim.resource) {
                return Err(format!(
                    "{}: {} is already taken by deployed app `{other}` ({}); app `{name}` cannot have it too",
                    claim.field, claim.resource, theirs.field
                ));
            }
        }
    }
    Ok(())
}
