//! The bodies of the control interface's requests and bids, in wasmCloud 1.x's JSON: what the
//! CLI sends and the hosts read. Each is checked against `wasmcloud-control-interface`'s own
//! type in the tests below, both ways.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `component.scale.<host>`: run `max_instances` of a component (0 stops it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleComponentCommand {
    /// The component's image.
    #[serde(default)]
    pub component_ref: String,
    /// Its id on the lattice.
    pub component_id: String,
    /// The host's id.
    #[serde(default)]
    pub host_id: String,
    /// Annotations kept with it (wadm's `wasmcloud.dev/managed-by`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// How many may run at once; wasmCloud sends it as `count`.
    #[serde(default, alias = "max_instances", rename = "count")]
    pub max_instances: u32,
    /// Named config, merged right-most-wins.
    #[serde(default)]
    pub config: Vec<String>,
    /// Whether a new image for a running id updates it.
    #[serde(default)]
    pub allow_update: bool,
    /// `max_memory_limit` (bytes) and `max_execution_time` (seconds), as wasmCloud takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_limits: Option<BTreeMap<String, String>>,
}

/// `component.update.<host>`: move a running component to a new image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateComponentCommand {
    /// Its id on the lattice.
    #[serde(default)]
    pub component_id: String,
    /// The host's id.
    #[serde(default)]
    pub host_id: String,
    /// The image it moves to.
    #[serde(default)]
    pub new_component_ref: String,
    /// Annotations kept with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `provider.start.<host>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartProviderCommand {
    /// Its id on the lattice.
    pub provider_id: String,
    /// Its image (or a built-in capability's `wasmcloud+builtin://` name).
    #[serde(default)]
    pub provider_ref: String,
    /// The host's id.
    #[serde(default)]
    pub host_id: String,
    /// Named config, merged right-most-wins.
    #[serde(default)]
    pub config: Vec<String>,
    /// Annotations kept with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `provider.stop.<host>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopProviderCommand {
    /// The host's id.
    #[serde(default)]
    pub host_id: String,
    /// Its id on the lattice (older clients name it `provider_ref`).
    #[serde(default, alias = "provider_ref")]
    pub provider_id: String,
}

/// `label.put.<host>` and `label.del.<host>` (which ignores the value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLabel {
    /// The key: `zone` in `zone=eu`.
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// `component.auction` and `provider.auction`: which hosts could run it, given `constraints`
/// on their labels. wasmCloud names the fields `provider_*` for a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionRequest {
    /// The image.
    #[serde(default, alias = "provider_ref")]
    pub component_ref: String,
    /// The id it would run as.
    #[serde(default, alias = "provider_id")]
    pub component_id: String,
    /// Labels a host must carry.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// A host's bid in an auction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuctionBid {
    /// What was auctioned.
    pub request: AuctionRequest,
    /// The bidding host.
    pub host_id: String,
    /// Whether it was a provider auction: the fields are then `provider_ref`, `provider_id`.
    pub provider: bool,
}

impl Serialize for AuctionBid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let (image, id) = if self.provider { ("provider_ref", "provider_id") } else { ("component_ref", "component_id") };
        let mut bid = serializer.serialize_struct("AuctionBid", 4)?;
        bid.serialize_field(image, &self.request.component_ref)?;
        bid.serialize_field(id, &self.request.component_id)?;
        bid.serialize_field("host_id", &self.host_id)?;
        bid.serialize_field("constraints", &self.request.constraints)?;
        bid.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::de::DeserializeOwned;
    use wasmcloud_control_interface as wasmcloud;

    use super::*;

    /// `theirs` read as ours and written back reads as `theirs` again, and ours written reads
    /// as theirs: the JSON is wasmCloud's, both ways.
    fn round_trip<Ours, Theirs>(theirs: &Theirs, ours: &Ours)
    where
        Ours: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
        Theirs: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let read: Ours = serde_json::from_value(serde_json::to_value(theirs).unwrap()).unwrap();
        assert_eq!(&read, ours);
        let back: Theirs = serde_json::from_value(serde_json::to_value(&read).unwrap()).unwrap();
        assert_eq!(&back, theirs);
    }

    fn annotations() -> BTreeMap<String, String> {
        BTreeMap::from([("wasmcloud.dev/managed-by".to_owned(), "wadm".to_owned())])
    }

    #[test]
    fn commands_are_wasmclouds() {
        let scale = wasmcloud::ScaleComponentCommandBuilder::default()
            .component_ref("ghcr.io/acme/hello:1.0.0")
            .component_id("hello")
            .host_id("NBHOST")
            .annotations(annotations())
            .max_instances(4)
            .config(vec!["settings".to_owned()])
            .allow_update(true)
            .component_limits(Some(HashMap::from([("max_memory_limit".to_owned(), "1048576".to_owned())])))
            .build()
            .unwrap();
        round_trip(
            &scale,
            &ScaleComponentCommand {
                component_ref: "ghcr.io/acme/hello:1.0.0".into(),
                component_id: "hello".into(),
                host_id: "NBHOST".into(),
                annotations: Some(annotations()),
                max_instances: 4,
                config: vec!["settings".into()],
                allow_update: true,
                component_limits: Some(BTreeMap::from([("max_memory_limit".to_owned(), "1048576".to_owned())])),
            },
        );
        let update = wasmcloud::UpdateComponentCommandBuilder::default()
            .component_id("hello")
            .host_id("NBHOST")
            .new_component_ref("ghcr.io/acme/hello:2.0.0")
            .build()
            .unwrap();
        round_trip(
            &update,
            &UpdateComponentCommand { component_id: "hello".into(), host_id: "NBHOST".into(), new_component_ref: "ghcr.io/acme/hello:2.0.0".into(), annotations: None },
        );
        let start = wasmcloud::StartProviderCommandBuilder::default()
            .provider_id("kv")
            .provider_ref("ghcr.io/wasmcloud/keyvalue-redis:0.28.1")
            .host_id("NBHOST")
            .config(vec!["redis".to_owned()])
            .annotations(annotations())
            .build()
            .unwrap();
        round_trip(
            &start,
            &StartProviderCommand {
                provider_id: "kv".into(),
                provider_ref: "ghcr.io/wasmcloud/keyvalue-redis:0.28.1".into(),
                host_id: "NBHOST".into(),
                config: vec!["redis".into()],
                annotations: Some(annotations()),
            },
        );
        let stop = wasmcloud::StopProviderCommandBuilder::default().host_id("NBHOST").provider_id("kv").build().unwrap();
        round_trip(&stop, &StopProviderCommand { host_id: "NBHOST".into(), provider_id: "kv".into() });
        round_trip(&wasmcloud::HostLabel::from_kv("zone", "eu"), &HostLabel { key: "zone".into(), value: "eu".into() });
    }

    #[test]
    fn auctions_and_bids_are_wasmclouds() {
        let constraints = BTreeMap::from([("zone".to_owned(), "eu".to_owned())]);
        let request = AuctionRequest { component_ref: "ghcr.io/acme/hello:1.0.0".into(), component_id: "hello".into(), constraints: constraints.clone() };
        let theirs = wasmcloud::ComponentAuctionRequestBuilder::default()
            .component_ref("ghcr.io/acme/hello:1.0.0".into())
            .component_id("hello".into())
            .constraints(constraints.clone())
            .build()
            .unwrap();
        round_trip(&theirs, &request);
        let provider = wasmcloud::ProviderAuctionRequestBuilder::default()
            .provider_ref("ghcr.io/acme/hello:1.0.0".into())
            .provider_id("hello".into())
            .constraints(constraints.clone())
            .build()
            .unwrap();
        let read: AuctionRequest = serde_json::from_value(serde_json::to_value(&provider).unwrap()).unwrap();
        assert_eq!(read, request, "a provider auction reads as one");

        let bid = |provider| serde_json::to_value(AuctionBid { request: request.clone(), host_id: "NBHOST".into(), provider }).unwrap();
        let component_ack: wasmcloud::ComponentAuctionAck = serde_json::from_value(bid(false)).unwrap();
        assert_eq!(component_ack, wasmcloud::ComponentAuctionAck::from_component_host_and_constraints("ghcr.io/acme/hello:1.0.0", "hello", "NBHOST", constraints.clone()));
        let provider_ack: wasmcloud::ProviderAuctionAck = serde_json::from_value(bid(true)).unwrap();
        assert_eq!(
            (provider_ack.provider_ref(), provider_ack.provider_id(), provider_ack.host_id(), provider_ack.constraints()),
            ("ghcr.io/acme/hello:1.0.0", "hello", "NBHOST", &constraints)
        );
    }
}
