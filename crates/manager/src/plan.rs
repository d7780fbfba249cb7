//! From a deployed manifest and the hosts' reports to what each host should run, and from
//! there to a status that tells the truth. Pure: the reconciler does the I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use trellis_types::manifest::{self, ConfigProperty, DAEMONSCALER_TRAIT, Manifest, TraitProperty};
use trellis_types::placement::{Assignment, HostReport};
use trellis_types::wadm::{ScalerStatus, Status, StatusInfo, StatusType};

use crate::catalogue::Deployed;
use crate::scaler::{self, HostView, Placement};

/// What one deployed application needs from the fleet.
#[derive(Debug)]
pub(crate) struct AppPlan {
    /// Host id → that host's share.
    pub(crate) assignments: BTreeMap<String, Assignment>,
    pub(crate) scalers: Vec<ScalerPlan>,
    /// Set when nothing can be applied (e.g. a config is not defined); the reason.
    pub(crate) blocked: Option<String>,
}

/// One scaler, as status reports it.
#[derive(Debug)]
pub(crate) struct ScalerPlan {
    pub(crate) id: String,
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// Failures at fields under this prefix are this scaler's.
    pub(crate) field: String,
    /// Hosts this scaler placed instances on.
    pub(crate) hosts: Vec<String>,
    /// A status decided by the plan alone (waiting for a host or a config, a missing feature).
    pub(crate) fixed: Option<StatusInfo>,
}

fn digest(parts: &impl serde::Serialize) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(parts).expect("plan parts serialize")))
}

fn waiting(placement: &Placement, hosts: usize) -> Option<StatusInfo> {
    if placement.unplaced.is_empty() {
        return None;
    }
    let reasons: Vec<String> = placement
        .unplaced
        .iter()
        .map(|u| match (hosts, u.requirements.is_empty()) {
            (0, _) => format!("no hosts in the lattice ({} instances of spread `{}`)", u.instances, u.spread),
            (_, true) => format!("no host for spread `{}`", u.spread),
            (_, false) => format!("no host matches {} (spread `{}`, {} instances)", u.requirements, u.spread, u.instances),
        })
        .collect();
    Some(StatusInfo::new(StatusType::Waiting, reasons.join("; ")))
}

/// Every config list in the manifest with the field path it sits at.
fn config_lists(m: &Manifest) -> Vec<(String, &[ConfigProperty])> {
    let mut lists = Vec::new();
    for (i, c) in m.spec.components.iter().enumerate() {
        lists.push((format!("spec.components[{i}].properties.config"), c.properties.config.as_slice()));
        for (t, tr) in c.traits.iter().enumerate() {
            if let TraitProperty::Link(l) = &tr.properties {
                if let Some(s) = &l.source {
                    lists.push((format!("spec.components[{i}].traits[{t}].properties.source.config"), s.config.as_slice()));
                }
                lists.push((format!("spec.components[{i}].traits[{t}].properties.target.config"), l.target.config.as_slice()));
            }
        }
    }
    lists
}

/// Named configs the manifest references without defining: (name, field) pairs.
pub(crate) fn external_configs(m: &Manifest) -> Vec<(String, String)> {
    let lists = config_lists(m);
    let defined: BTreeSet<&str> = lists.iter().flat_map(|(_, l)| l.iter()).filter(|c| c.properties.is_some()).map(|c| c.name.as_str()).collect();
    let mut out = Vec::new();
    for (field, list) in &lists {
        for (j, c) in list.iter().enumerate() {
            if c.properties.is_none() && !defined.contains(c.name.as_str()) && !out.iter().any(|(n, _)| n == &c.name) {
                out.push((c.name.clone(), format!("{field}[{j}].name")));
            }
        }
    }
    out
}

/// Plans `app` onto `hosts`.
pub(crate) fn plan(app: &Deployed, hosts: &[HostReport], configs: &BTreeMap<String, BTreeMap<String, String>>) -> AppPlan {
    let m = &app.manifest;
    let name = m.name();
    let views: Vec<HostView<'_>> = hosts.iter().map(|h| HostView { id: &h.id, labels: &h.labels }).collect();
    let mut per_host: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    let mut scalers = Vec::new();

    for (i, c) in m.spec.components.iter().enumerate() {
        let id = c.id(name);
        if let Some((kind, s)) = c.scaler() {
            let daemon = kind == DAEMONSCALER_TRAIT;
            let placement = if daemon {
                scaler::daemon(s.instances, &s.spread, &views)
            } else {
                let running_on: BTreeSet<String> = hosts
                    .iter()
                    .filter(|h| h.apps.get(name).is_some_and(|a| a.components.contains_key(&c.name)))
                    .map(|h| h.id.clone())
                    .collect();
                scaler::spread(s.instances, &s.spread, &views, &running_on)
            };
            let fixed = waiting(&placement, hosts.len());
            // A capability is placed like a component: the http-server listens on the hosts its
            // scaler picks; the other built-ins serve in-process beside their components
            // wherever those run, so for them the placement only decides the status.
            for (host, n) in &placement.hosts {
                per_host.entry(host.clone()).or_default().insert(c.name.clone(), *n);
            }
            let hosts = placement.hosts.keys().cloned().collect();
            scalers.push(ScalerPlan {
                id: digest(&(name, "scaler", &c.name, kind, s)),
                kind: if daemon { "DaemonScaler" } else { "SpreadScaler" },
                name: id.clone(),
                field: format!("spec.components[{i}]"),
                hosts,
                fixed,
            });
        }
        for (t, tr) in c.traits.iter().enumerate() {
            let TraitProperty::Link(l) = &tr.properties else { continue };
            let target = m.component(&l.target.name).map_or_else(|| l.target.name.clone(), |tc| tc.id(name));
            scalers.push(ScalerPlan {
                id: digest(&(name, "link", &c.name, l)),
                kind: "LinkScaler",
                name: format!("{id} -({}:{})-> {target}", l.namespace, l.package),
                field: format!("spec.components[{i}].traits[{t}]"),
                hosts: Vec::new(),
                fixed: None,
            });
        }
        // Secrets are resolved by the host that starts the component, from the policy's
        // backend; a failure comes back in that host's report at this scaler's field.
        for (j, secret) in c.properties.secrets.iter().enumerate() {
            scalers.push(ScalerPlan {
                id: digest(&(name, "secret", &c.name, secret)),
                kind: "SecretScaler",
                name: format!("{id}: secret {}", secret.name),
                field: format!("spec.components[{i}].properties.secrets[{j}]"),
                hosts: Vec::new(),
                fixed: None,
            });
        }
    }

    // Config: defined in the manifest, or put by name before the deploy.
    let mut resolved = BTreeMap::new();
    let mut missing = Vec::new();
    for (config, field) in external_configs(m) {
        let status = match configs.get(&config) {
            Some(values) => {
                resolved.insert(config.clone(), values.clone());
                None
            }
            None => {
                let reason = format!("config `{config}` is not defined ({field}); put it with `trellis config put {config} KEY=VALUE`");
                missing.push(reason.clone());
                Some(StatusInfo::new(StatusType::Waiting, reason))
            }
        };
        scalers.push(ScalerPlan {
            id: digest(&(name, "config", &config)),
            kind: "ConfigScaler",
            name: config,
            field,
            hosts: Vec::new(),
            fixed: status,
        });
    }

    let blocked = (!missing.is_empty()).then(|| missing.join("; "));
    let assignments = if blocked.is_some() {
        BTreeMap::new()
    } else {
        per_host
            .into_iter()
            .map(|(host, components)| {
                let revision = digest(&(name, &app.stored, &components, &resolved));
                let assignment = Assignment {
                    manifest: Arc::clone(m),
                    base_dir: app.stored.base_dir.clone().unwrap_or_default(),
                    components,
                    configs: resolved.clone(),
                    revision,
                };
                (host, assignment)
            })
            .collect()
    };
    AppPlan { assignments, scalers, blocked }
}

/// The status of a deployed application: per scaler, then the aggregate, as wadm computes it.
pub(crate) fn status(name: &str, source: &str, plan: &AppPlan, hosts: &[HostReport], in_flight: &BTreeSet<String>) -> Status {
    let report = |host: &str| hosts.iter().find(|h| h.id == host).and_then(|h| h.apps.get(name));
    let done = |host: &str| plan.assignments.get(host).is_some_and(|a| report(host).and_then(|r| r.revision.as_deref()) == Some(&a.revision));
    // Failures of the revision each host should run now.
    let failures: Vec<(&str, &trellis_types::placement::Failure)> = plan
        .assignments
        .iter()
        .filter_map(|(host, a)| {
            let f = report(host)?.failure.as_ref()?;
            (f.revision == a.revision && !in_flight.contains(host)).then_some((host.as_str(), f))
        })
        .collect();
    let converged = plan.assignments.keys().all(|h| done(h));
    let located = |f: &trellis_types::placement::Failure| match &f.field {
        Some(field) => match manifest::line_of(source, field) {
            Some(line) => format!("{} ({field}, line {line})", f.message),
            None => format!("{} ({field})", f.message),
        },
        None => f.message.clone(),
    };
    let owns = |prefix: &str, field: &str| field == prefix || field.starts_with(&format!("{prefix}.")) || field.starts_with(&format!("{prefix}["));

    // What hosts running the current revision said, as `field: text`, by the field it is about,
    // with its line: what the user should know (unrestricted egress), and capabilities failing
    // their health checks.
    let current = || plan.assignments.iter().filter_map(|(host, a)| report(host).filter(|r| r.revision.as_deref() == Some(a.revision.as_str())));
    let by_field = |said: &String, prefix: &str| {
        let (field, text) = said.split_once(": ").unwrap_or(("", said));
        let shown = match manifest::line_of(source, field) {
            Some(line) => format!("{prefix}{text} ({field}, line {line})"),
            None => format!("{prefix}{said}"),
        };
        (field.to_owned(), shown)
    };
    let warnings: BTreeSet<(String, String)> = current().flat_map(|r| r.warnings.iter()).map(|w| by_field(w, "warning: ")).collect();
    let unhealthy: BTreeSet<(String, String)> = current().flat_map(|r| r.unhealthy.iter()).map(|u| by_field(u, "")).collect();

    let mut out = Vec::new();
    for s in &plan.scalers {
        let info = if let Some(fixed) = &s.fixed {
            fixed.clone()
        } else if let Some((_, f)) = failures.iter().find(|(host, f)| match &f.field {
            Some(field) => owns(&s.field, field),
            None => s.hosts.iter().any(|h| h == host),
        }) {
            StatusInfo::new(StatusType::Failed, located(f))
        } else if s.kind == "SpreadScaler" || s.kind == "DaemonScaler" {
            let pending = s.hosts.iter().filter(|h| !done(h)).count();
            if pending == 0 {
                StatusInfo::new(StatusType::Deployed, "")
            } else {
                StatusInfo::new(StatusType::Reconciling, format!("Scaling on {pending} host(s)"))
            }
        } else if converged {
            StatusInfo::new(StatusType::Deployed, "")
        } else {
            StatusInfo::new(StatusType::Reconciling, "Waiting for the components it joins to start")
        };
        let mut info = info;
        if info.status_type == StatusType::Deployed {
            let sick: Vec<&str> = unhealthy.iter().filter(|(field, _)| owns(&s.field, field)).map(|(_, u)| u.as_str()).collect();
            let own: Vec<&str> = warnings.iter().filter(|(field, _)| owns(&s.field, field)).map(|(_, w)| w.as_str()).collect();
            info = match sick.is_empty() {
                true => StatusInfo::new(StatusType::Deployed, own.join("; ")),
                false => StatusInfo::new(StatusType::Unhealthy, sick.join("; ")),
            };
        }
        out.push(ScalerStatus { id: s.id.clone(), kind: s.kind.to_owned(), name: s.name.clone(), info });
    }
    // A failure no scaler claims (a field outside every component) still fails the app.
    let mut extra: Vec<String> = failures
        .iter()
        .filter(|(_, f)| f.field.as_ref().is_some_and(|field| !plan.scalers.iter().any(|s| owns(&s.field, field))))
        .map(|(_, f)| located(f))
        .collect();
    extra.dedup();
    // So does a capability no scaler claims that fails its health checks.
    let unclaimed: Vec<String> =
        unhealthy.iter().filter(|(field, _)| !plan.scalers.iter().any(|s| owns(&s.field, field))).map(|(_, u)| u.clone()).collect();
    let worst = out
        .iter()
        .map(|s| s.info.status_type)
        .chain(extra.iter().map(|_| StatusType::Failed))
        .chain(unclaimed.iter().map(|_| StatusType::Unhealthy))
        .max_by_key(|t| t.severity());
    let status_type = worst.unwrap_or(StatusType::Deployed);
    let mut messages: Vec<String> = out.iter().filter(|s| s.info.status_type == status_type).map(|s| s.info.message.clone()).collect();
    if status_type == StatusType::Failed {
        messages.extend(extra);
    }
    if status_type == StatusType::Unhealthy {
        messages.extend(unclaimed);
    }
    if status_type == StatusType::Deployed {
        messages = warnings.into_iter().map(|(_, w)| w).collect();
    }
    messages.retain(|m| !m.is_empty());
    messages.dedup();
    Status { info: StatusInfo::new(status_type, messages.join("; ")), scalers: out, ..Status::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredVersion;
    use trellis_types::placement::{AppOnHost, Failure};

    const APP: &str = "apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    version: v1
spec:
  components:
    - name: web
      type: component
      properties:
        image: ./build/web.wasm
        config:
          - name: shared
      traits:
        - type: spreadscaler
          properties:
            instances: 4
            spread:
              - name: eu
                requirements:
                  region: eu
";

    fn deployed() -> Deployed {
        Deployed {
            manifest: Arc::new(Manifest::parse("shop.yaml", APP).unwrap()),
            stored: StoredVersion { version: "v1".into(), source: APP.into(), base_dir: None },
        }
    }

    fn host(id: &str, region: &str) -> HostReport {
        HostReport { id: id.into(), labels: BTreeMap::from([("region".into(), region.into())]), apps: BTreeMap::new() }
    }

    fn shared() -> BTreeMap<String, BTreeMap<String, String>> {
        BTreeMap::from([("shared".into(), BTreeMap::from([("k".into(), "v".into())]))])
    }

    #[test]
    fn waiting_names_the_unmatched_requirement() {
        let hosts = [host("A", "us")];
        let p = plan(&deployed(), &hosts, &shared());
        assert!(p.assignments.is_empty());
        let s = status("shop", APP, &p, &hosts, &BTreeSet::new());
        assert_eq!(s.info.status_type, StatusType::Waiting);
        assert!(s.info.message.contains("no host matches region=eu"), "{}", s.info.message);
    }

    #[test]
    fn missing_config_blocks_and_says_how_to_fix_it() {
        let hosts = [host("A", "eu")];
        let p = plan(&deployed(), &hosts, &BTreeMap::new());
        assert!(p.blocked.is_some());
        let s = status("shop", APP, &p, &hosts, &BTreeSet::new());
        assert_eq!(s.info.status_type, StatusType::Waiting);
        assert!(s.info.message.contains("config `shared` is not defined"), "{}", s.info.message);
    }

    #[test]
    fn reconciling_then_deployed_then_failed_with_the_line() {
        let mut hosts = vec![host("A", "eu")];
        let p = plan(&deployed(), &hosts, &shared());
        let a = &p.assignments["A"];
        assert_eq!(a.components["web"], 4);
        assert_eq!(status("shop", APP, &p, &hosts, &BTreeSet::new()).info.status_type, StatusType::Reconciling);

        hosts[0].apps.insert("shop".into(), AppOnHost { revision: Some(a.revision.clone()), ..AppOnHost::default() });
        assert_eq!(status("shop", APP, &p, &hosts, &BTreeSet::new()).info.status_type, StatusType::Deployed);

        hosts[0].apps.insert(
            "shop".into(),
            AppOnHost {
                failure: Some(Failure {
                    revision: a.revision.clone(),
                    field: Some("spec.components[0].properties.image".into()),
                    message: "component image not found: ./build/web.wasm".into(),
                }),
                ..AppOnHost::default()
            },
        );
        let s = status("shop", APP, &p, &hosts, &BTreeSet::new());
        assert_eq!(s.info.status_type, StatusType::Failed);
        assert_eq!(s.info.message, "component image not found: ./build/web.wasm (spec.components[0].properties.image, line 12)");
    }

    #[test]
    fn a_failing_health_check_makes_the_app_unhealthy_until_it_passes() {
        let mut hosts = vec![host("A", "eu")];
        let p = plan(&deployed(), &hosts, &shared());
        let revision = Some(p.assignments["A"].revision.clone());
        let sick = "spec.components[0]: capability `web` failed its health check: connection refused".to_owned();
        hosts[0].apps.insert("shop".into(), AppOnHost { revision: revision.clone(), unhealthy: vec![sick], ..AppOnHost::default() });
        let s = status("shop", APP, &p, &hosts, &BTreeSet::new());
        assert_eq!(s.info.status_type, StatusType::Unhealthy);
        assert_eq!(s.info.message, "capability `web` failed its health check: connection refused (spec.components[0], line 9)");
        assert_eq!(s.scalers[0].info.status_type, StatusType::Unhealthy);

        hosts[0].apps.insert("shop".into(), AppOnHost { revision, ..AppOnHost::default() });
        assert_eq!(status("shop", APP, &p, &hosts, &BTreeSet::new()).info.status_type, StatusType::Deployed);
    }

    #[test]
    fn revisions_change_with_placement_and_config_only() {
        let hosts = [host("A", "eu")];
        let one = plan(&deployed(), &hosts, &shared());
        let same = plan(&deployed(), &hosts, &shared());
        assert_eq!(one.assignments["A"].revision, same.assignments["A"].revision);
        let mut changed = shared();
        changed.get_mut("shared").unwrap().insert("k".into(), "w".into());
        assert_ne!(one.assignments["A"].revision, plan(&deployed(), &hosts, &changed).assignments["A"].revision);
    }
}
