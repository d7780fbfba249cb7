//! The wadm API's request and reply bodies (`wadm.api.<lattice>.model.*`), as wadm 0.21 sends
//! them, so wadm's own clients understand Trellis.

use serde::{Deserialize, Serialize};

/// Subject prefix of the API.
pub const API_PREFIX: &str = "wadm.api";
/// Subject prefix of status updates (`wadm.status.<lattice>.<app>`).
pub const STATUS_PREFIX: &str = "wadm.status";
/// Queue group every manager serves the API in.
pub const API_QUEUE: &str = "wadm_server";
/// Where a Trellis manager lists every named config: `trellis.config.v1.<lattice>.list`
/// (wasmCloud's control interface has `config.get.<name>` only).
pub const CONFIG_LIST_PREFIX: &str = "trellis.config.v1";
/// Where the manager announces stored and deleted manifest versions:
/// `wadm.evt.<lattice>.model_version_created` and `.model_version_deleted`, as CloudEvents.
pub const MODEL_EVENT_PREFIX: &str = "wadm.evt";

/// Header naming where a `put` manifest came from, for error messages (the CLI sends the path).
pub const SOURCE_HEADER: &str = "Trellis-Source";
/// Header giving the directory a `put` manifest's relative image paths resolve against.
pub const BASE_DIR_HEADER: &str = "Trellis-Base-Dir";

/// The subject of API operation `op` (`put`, `get`, `deploy`, ...), on one application or, with
/// no name, on the lattice: `wadm.api.<lattice>.model.<op>[.<name>]`.
pub fn model_subject(lattice: &str, op: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{API_PREFIX}.{lattice}.model.{op}.{name}"),
        None => format!("{API_PREFIX}.{lattice}.model.{op}"),
    }
}

/// Body of `get`, `deploy` and `del`: an optional version (`latest` or absent: the newest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRequest {
    /// The version, if not the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Outcome of `model.put`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PutResult {
    /// The first version of a new application.
    Created,
    /// Another version of an existing application.
    NewVersion,
    /// Nothing stored; `message` says why.
    Error,
}

/// Reply to `model.put`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutReply {
    /// What happened.
    pub result: PutResult,
    /// Versions now stored.
    #[serde(default)]
    pub total_versions: usize,
    /// The version just stored.
    #[serde(default)]
    pub current_version: String,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// Application name.
    #[serde(default)]
    pub name: String,
}

/// Outcome of reads (`model.get`, `model.versions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GetResult {
    /// Found.
    Success,
    /// No such application or version.
    NotFound,
    /// Failed; `message` says why.
    Error,
}

/// Reply to `model.get.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetReply {
    /// What happened.
    pub result: GetResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// The manifest, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<serde_json::Value>,
}

/// Reply to `model.get` without a name: every application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListReply {
    /// What happened.
    pub result: GetResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// One entry per application.
    pub models: Vec<ModelSummary>,
}

/// One application in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Application name.
    pub name: String,
    /// The newest version.
    pub version: String,
    /// The `description` annotation.
    pub description: Option<String>,
    /// The version deployed, if any.
    pub deployed_version: Option<String>,
    /// Status of the application and its scalers.
    #[serde(default)]
    pub detailed_status: Status,
    /// Deprecated by wadm in favour of `detailed_status`; still sent for old clients.
    pub status: StatusType,
    /// Deprecated by wadm in favour of `detailed_status`; still sent for old clients.
    pub status_message: Option<String>,
}

/// Reply to `model.versions.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionsReply {
    /// What happened.
    pub result: GetResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// Oldest first.
    pub versions: Vec<VersionInfo>,
}

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version.
    pub version: String,
    /// Whether it is the deployed one.
    pub deployed: bool,
}

/// Outcome of `model.del`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteResult {
    /// Removed.
    Deleted,
    /// Nothing to remove.
    Noop,
    /// Failed; `message` says why.
    Error,
}

/// Reply to `model.del.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReply {
    /// What happened.
    pub result: DeleteResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// Whether the delete also undeployed the application.
    #[serde(default)]
    pub undeploy: bool,
}

/// Outcome of `model.deploy` and `model.undeploy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployResult {
    /// Accepted; the manager is now reconciling.
    Acknowledged,
    /// No such application or version.
    NotFound,
    /// Refused; `message` says why.
    Error,
}

/// Reply to `model.deploy.<name>` and `model.undeploy.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployReply {
    /// What happened.
    pub result: DeployResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// Application name.
    #[serde(default)]
    pub name: String,
    /// The version concerned.
    #[serde(default)]
    pub version: Option<String>,
}

/// Outcome of `model.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusResult {
    /// Found.
    Ok,
    /// No such application.
    NotFound,
    /// Failed; `message` says why.
    Error,
}

/// Reply to `model.status.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// What happened.
    pub result: StatusResult,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// An application's status: overall and per scaler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Overall, the aggregate of the scalers'.
    #[serde(rename = "status")]
    pub info: StatusInfo,
    /// One per scaler.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scalers: Vec<ScalerStatus>,
    /// Deprecated by wadm; always empty.
    #[serde(default)]
    pub version: String,
    /// Deprecated by wadm; always empty.
    #[serde(default)]
    pub components: Vec<serde_json::Value>,
}

/// One scaler's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalerStatus {
    /// Stable id: a digest of what the scaler manages.
    #[serde(default)]
    pub id: String,
    /// `SpreadScaler`, `DaemonScaler`, `LinkScaler`, `ConfigScaler`, `SecretScaler`.
    #[serde(default)]
    pub kind: String,
    /// For people, e.g. `myapp-hello` or `myapp-http -(wasi:http)-> myapp-hello`.
    #[serde(default)]
    pub name: String,
    /// Its status.
    #[serde(rename = "status")]
    pub info: StatusInfo,
}

/// A status and the reason for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The state.
    #[serde(rename = "type")]
    pub status_type: StatusType,
    /// Why, in words a user can act on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl StatusInfo {
    /// A status with a reason.
    pub fn new(status_type: StatusType, message: impl Into<String>) -> StatusInfo {
        StatusInfo { status_type, message: message.into() }
    }
}

/// The states of an application or scaler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusType {
    /// Cannot proceed yet (no matching host, config not defined).
    Waiting,
    /// Not deployed.
    #[default]
    Undeployed,
    /// Commands issued, not yet done.
    #[serde(alias = "compensating")]
    Reconciling,
    /// Everything as declared.
    #[serde(alias = "ready")]
    Deployed,
    /// A command failed; the message says which and why.
    Failed,
    /// Deployed but not answering as it should.
    Unhealthy,
}

impl StatusType {
    /// wadm's aggregation: failed > undeployed > waiting > reconciling > unhealthy > deployed.
    pub fn severity(self) -> u8 {
        match self {
            StatusType::Failed => 5,
            StatusType::Undeployed => 4,
            StatusType::Waiting => 3,
            StatusType::Reconciling => 2,
            StatusType::Unhealthy => 1,
            StatusType::Deployed => 0,
        }
    }

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusType::Waiting => "waiting",
            StatusType::Undeployed => "undeployed",
            StatusType::Reconciling => "reconciling",
            StatusType::Deployed => "deployed",
            StatusType::Failed => "failed",
            StatusType::Unhealthy => "unhealthy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_wadm_on_the_wire() {
        let put = PutReply {
            result: PutResult::Created,
            total_versions: 1,
            current_version: "v0.0.1".into(),
            message: "ok".into(),
            name: "app".into(),
        };
        let json = serde_json::to_value(&put).unwrap();
        assert_eq!(json["result"], "created");
        let status = StatusReply {
            result: StatusResult::Ok,
            message: String::new(),
            status: Some(Status { info: StatusInfo::new(StatusType::Undeployed, ""), ..Status::default() }),
        };
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, r#"{"result":"ok","message":"","status":{"status":{"type":"undeployed"},"version":"","components":[]}}"#);
        let legacy: StatusInfo = serde_json::from_str(r#"{"type":"compensating"}"#).unwrap();
        assert_eq!(legacy.status_type, StatusType::Reconciling);
    }
}
