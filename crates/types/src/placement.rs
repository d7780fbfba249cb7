//! What the manager asks of a host, and what a host reports back.
//!
//! The manager places an application's components on hosts; each host receives its
//! [`Assignment`] for that application (the manifest plus how many concurrent instances of
//! each component to run there) and reports what it runs in a [`HostReport`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;

/// One application's share of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The manifest version to run.
    pub manifest: Arc<Manifest>,
    /// Where relative image paths in the manifest resolve.
    pub base_dir: PathBuf,
    /// Component name → maximum concurrent instances on this host. Components not listed do not
    /// run here.
    pub components: BTreeMap<String, u32>,
    /// Named config the manifest references but does not define, resolved by the manager.
    pub configs: BTreeMap<String, BTreeMap<String, String>>,
    /// A digest of all of the above: equal revisions mean nothing to do.
    pub revision: String,
}

/// What a host runs and what it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host's id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Application name → what runs of it here.
    pub apps: BTreeMap<String, AppOnHost>,
}

/// One application's state on one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOnHost {
    /// The revision running, if one deployed.
    pub revision: Option<String>,
    /// The manifest version running.
    pub version: Option<String>,
    /// Component name → maximum concurrent instances running.
    pub components: BTreeMap<String, u32>,
    /// What it serves here, as `URL -> component`.
    pub routes: Vec<String>,
    /// Warnings of the last deploy.
    pub warnings: Vec<String>,
    /// The last attempt that failed, if the newest attempt failed.
    pub failure: Option<Failure>,
}

/// Why applying an assignment failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The revision that failed.
    pub revision: String,
    /// The manifest field at fault, if known (e.g. `spec.components[0].properties.image`).
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}
