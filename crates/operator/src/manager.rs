//! The operator's one way to the deployment manager: wadm's API (`wadm.api.<lattice>.model.*`)
//! on the lattice, the same subjects and bodies `trellis app` and wadm's own clients send. The
//! operator never goes around the manager.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use trellis_lattice::{Lattice, LatticeError, Message};
use trellis_types::wadm::{
    DeleteReply, DeleteResult, DeployReply, DeployResult, GetReply, GetResult, ListReply, ModelSummary, PutReply, PutResult,
    Status, StatusReply, StatusResult, VersionInfo, VersionRequest, VersionsReply, model_subject,
};

/// How long one API call may take before the manager counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the manager failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ManagerError {
    /// No manager answered: not running, or the lattice is unreachable.
    #[error("the deployment manager of lattice `{lattice}` did not answer: {source}")]
    Unreachable {
        /// The lattice asked.
        lattice: String,
        /// What the transport said.
        source: LatticeError,
    },
    /// It answered, and refused.
    #[error("{0}")]
    Refused(String),
    /// It answered something that is not wadm's reply.
    #[error("the deployment manager sent an unreadable reply to {subject}: {message}")]
    BadReply {
        /// The request's subject.
        subject: String,
        /// The parse error.
        message: String,
    },
}

impl ManagerError {
    /// Whether the manager could not be reached at all (as opposed to refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ManagerError::Unreachable { .. })
    }
}

/// The manager's view of one application.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Every stored version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// The deployed version's status, if one is deployed.
    pub status: Option<Status>,
}

impl Observed {
    /// The version deployed, if any.
    pub fn deployed(&self) -> Option<&str> {
        self.versions.iter().find(|v| v.deployed).map(|v| v.version.as_str())
    }

    /// The newest stored version.
    pub fn latest(&self) -> Option<&str> {
        self.versions.last().map(|v| v.version.as_str())
    }
}

/// The deployment manager of every lattice, reached over one lattice connection.
#[derive(Clone)]
pub struct Manager {
    lattice: Arc<dyn Lattice>,
}

impl Manager {
    /// Calls go out on `lattice` (a NATS connection serves every lattice name).
    pub fn new(lattice: Arc<dyn Lattice>) -> Manager {
        Manager { lattice }
    }

    async fn call<T: DeserializeOwned>(&self, lattice: &str, op: &str, name: Option<&str>, message: Message) -> Result<T, ManagerError> {
        let subject = model_subject(lattice, op, name);
        let message = Message { subject: subject.clone(), ..message };
        let reply = self.lattice.request(message, TIMEOUT).await.map_err(|source| ManagerError::Unreachable { lattice: lattice.to_owned(), source })?;
        serde_json::from_slice(&reply.payload).map_err(|e| ManagerError::BadReply { subject, message: e.to_string() })
    }

    fn versioned(version: Option<&str>) -> Message {
        let body = serde_json::to_vec(&VersionRequest { version: version.map(str::to_owned) }).expect("a version request serializes");
        Message::new("", body)
    }

    /// Stored versions and the deployed status; `None` when the manager knows no such application.
    pub async fn observe(&self, lattice: &str, app: &str) -> Result<Option<Observed>, ManagerError> {
        let versions: VersionsReply = self.call(lattice, "versions", Some(app), Message::new("", Vec::new())).await?;
        match versions.result {
            GetResult::Success if !versions.versions.is_empty() => {}
            GetResult::Success | GetResult::NotFound => return Ok(None),
            GetResult::Error => return Err(ManagerError::Refused(versions.message)),
        }
        let status: StatusReply = self.call(lattice, "status", Some(app), Message::new("", Vec::new())).await?;
        let status = match status.result {
            StatusResult::Ok => status.status,
            StatusResult::NotFound => None,
            StatusResult::Error => return Err(ManagerError::Refused(status.message)),
        };
        Ok(Some(Observed { versions: versions.versions, status }))
    }

    /// The manifest of one stored version, as JSON.
    pub async fn manifest(&self, lattice: &str, app: &str, version: &str) -> Result<Option<serde_json::Value>, ManagerError> {
        let reply: GetReply = self.call(lattice, "get", Some(app), Self::versioned(Some(version))).await?;
        match reply.result {
            GetResult::Success => Ok(reply.manifest),
            GetResult::NotFound => Ok(None),
            GetResult::Error => Err(ManagerError::Refused(reply.message)),
        }
    }

    /// Stores a manifest; returns the version stored.
    pub async fn put(&self, lattice: &str, source: &str, text: String) -> Result<String, ManagerError> {
        let mut message = Message::new("", text.into_bytes());
        message.headers.push((trellis_types::wadm::SOURCE_HEADER.to_owned(), source.to_owned()));
        let reply: PutReply = self.call(lattice, "put", None, message).await?;
        match reply.result {
            PutResult::Created | PutResult::NewVersion => Ok(reply.current_version),
            PutResult::Error => Err(ManagerError::Refused(reply.message)),
        }
    }

    /// Deploys one stored version.
    pub async fn deploy(&self, lattice: &str, app: &str, version: &str) -> Result<(), ManagerError> {
        let reply: DeployReply = self.call(lattice, "deploy", Some(app), Self::versioned(Some(version))).await?;
        match reply.result {
            DeployResult::Acknowledged => Ok(()),
            DeployResult::NotFound | DeployResult::Error => Err(ManagerError::Refused(reply.message)),
        }
    }

    /// Undeploys the application and deletes every version.
    pub async fn remove(&self, lattice: &str, app: &str) -> Result<(), ManagerError> {
        let reply: DeployReply = self.call(lattice, "undeploy", Some(app), Message::new("", Vec::new())).await?;
        if reply.result == DeployResult::Error {
            return Err(ManagerError::Refused(reply.message));
        }
        let reply: DeleteReply = self.call(lattice, "del", Some(app), Self::versioned(None)).await?;
        match reply.result {
            DeleteResult::Deleted | DeleteResult::Noop => Ok(()),
            DeleteResult::Error => Err(ManagerError::Refused(reply.message)),
        }
    }

    /// Every application of the lattice.
    pub async fn list(&self, lattice: &str) -> Result<Vec<ModelSummary>, ManagerError> {
        let reply: ListReply = self.call(lattice, "get", None, Message::new("", Vec::new())).await?;
        match reply.result {
            GetResult::Success | GetResult::NotFound => Ok(reply.models),
            GetResult::Error => Err(ManagerError::Refused(reply.message)),
        }
    }
}
