//! What a host says about itself on the control interface and in its events, in wasmCloud 1.x's
//! JSON (`Host` for `host.ping`, `HostInventory` for `host.get` and heartbeats, CloudEvents).
//!
//! Trellis hosts add one field wasmCloud's clients ignore, [`HostInventory::trellis_apps`]: each
//! application's revision, routes, warnings and last failure, which the deployment manager
//! needs to report truthful status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::placement::{AppOnHost, HostReport};

/// The subject prefix of the control interface of lattice `lattice`.
pub fn ctl_prefix(lattice: &str) -> String {
    format!("wasmbus.ctl.v1.{lattice}")
}

/// The subject of event `name` (e.g. `host_heartbeat`) on lattice `lattice`.
pub fn event_subject(lattice: &str, name: &str) -> String {
    format!("wasmbus.evt.{lattice}.{name}")
}

/// A host's answer to `host.ping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host's id (a server nkey's public key).
    pub id: String,
    /// A name people can tell apart.
    #[serde(default)]
    pub friendly_name: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The lattice it belongs to.
    #[serde(default)]
    pub lattice: String,
    /// Seconds since it started.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// The same, for people (`1h 2m 3s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_human: Option<String>,
    /// The host software's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One component as a host's inventory lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDescription {
    /// Lattice-wide id (`<app>-<component>` for components of an application).
    pub id: String,
    /// Where its code came from.
    #[serde(default)]
    pub image_ref: String,
    /// Its name in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotations; `wasmcloud.dev/appspec` names the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Counts updates of the component on this host.
    #[serde(default)]
    pub revision: i32,
    /// Maximum concurrent instances on this host.
    #[serde(default)]
    pub max_instances: u32,
}

/// A capability provider as a host's inventory lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDescription {
    /// Lattice-wide id.
    pub id: String,
    /// Where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Counts updates.
    #[serde(default)]
    pub revision: i32,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a host runs: the reply to `host.get.<id>` and the data of `host_heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInventory {
    /// Components running here.
    #[serde(alias = "actors", default)]
    pub components: Vec<ComponentDescription>,
    /// Providers running here (built-in capabilities are not listed: they are part of the host).
    #[serde(default)]
    pub providers: Vec<ProviderDescription>,
    /// The host's id.
    pub host_id: String,
    /// A name people can tell apart.
    #[serde(default)]
    pub friendly_name: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The host software's version.
    #[serde(default)]
    pub version: String,
    /// Uptime for people.
    #[serde(default)]
    pub uptime_human: String,
    /// Uptime in seconds.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Trellis hosts only: each application's state here. Absent from other hosts' inventories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trellis_apps: Option<BTreeMap<String, AppOnHost>>,
    /// Trellis hosts only: why the last `component.scale` of a component failed here (component
    /// id → reason), until one succeeds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub trellis_scale_failures: BTreeMap<String, String>,
}

impl HostInventory {
    /// The manager's view of this host, if it is a Trellis host.
    pub fn report(&self) -> Option<HostReport> {
        let apps = self.trellis_apps.clone()?;
        Some(HostReport { id: self.host_id.clone(), labels: self.labels.clone(), apps })
    }
}

/// A CloudEvents 1.0 envelope, as wasmCloud publishes on `wasmbus.evt.<lattice>.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event.
    pub id: String,
    /// Who sent it: a host id.
    pub source: String,
    /// `com.wasmcloud.lattice.<name>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The event's body.
    pub data: serde_json::Value,
}

impl CloudEvent {
    /// Event `name` from `source`, now, with a fresh id: a ULID written as a UUID, as
    /// wasmCloud's event ids are.
    pub fn now(source: &str, name: &str, data: serde_json::Value) -> CloudEvent {
        let time = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        CloudEvent::new(uuid_text(ulid::Ulid::new().0), source, name, time, data)
    }

    /// Event `name` from `source`, at `time` (RFC 3339), with id `id`.
    pub fn new(id: String, source: &str, name: &str, time: String, data: serde_json::Value) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id,
            source: source.to_owned(),
            kind: format!("com.wasmcloud.lattice.{name}"),
            time,
            datacontenttype: "application/json".into(),
            data,
        }
    }

    /// The event's short name (`host_heartbeat` for `com.wasmcloud.lattice.host_heartbeat`).
    pub fn name(&self) -> &str {
        self.kind.strip_prefix("com.wasmcloud.lattice.").unwrap_or(&self.kind)
    }
}

/// 128 bits written as a UUID.
fn uuid_text(bits: u128) -> String {
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// `1h 2m 3s`, as wasmCloud shows uptime.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    let parts = [(d, "d"), (h, "h"), (m, "m")];
    let mut text: Vec<String> = parts.iter().skip_while(|(n, _)| *n == 0).map(|(n, unit)| format!("{n}{unit}")).collect();
    text.push(format!("{s}s"));
    text.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_ids_look_like_uuids() {
        let id = super::uuid_text(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(id, "01234567-89ab-cdef-0123-456789abcdef");
    }

    use super::*;

    #[test]
    fn uptime_reads_like_wasmclouds() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(61), "1m 1s");
        assert_eq!(human_duration(3600 * 25 + 5), "1d 1h 0m 5s");
    }

    #[test]
    fn an_inventory_without_trellis_apps_is_not_a_trellis_host() {
        let json = r#"{"components":[],"providers":[],"host_id":"NABC","labels":{"a":"b"}}"#;
        let inventory: HostInventory = serde_json::from_str(json).unwrap();
        assert_eq!(inventory.report(), None);
        let with = HostInventory { trellis_apps: Some(BTreeMap::new()), ..inventory };
        let report = with.report().unwrap();
        assert_eq!((report.id.as_str(), report.labels.get("a").map(String::as_str)), ("NABC", Some("b")));
    }
}
