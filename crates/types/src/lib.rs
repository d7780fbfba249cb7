//! Trellis wire types: the wadm OAM application manifest, the wadm API's bodies, what the
//! manager asks of hosts, and, as the lattice grows, the control interface and event shapes
//! that wasmCloud 1.x speaks.
//!
//! **Owns** the data model and its validation: every error a user can make in a manifest is
//! reported here with the file, the line and the field path, so every front end (the CLI, the
//! manager's API, the dashboard) tells the user the same thing.
//!
//! **Must not** do I/O: callers read files and sockets and hand this crate text.
//!
//! Start at [`manifest::Manifest::parse`].
#![warn(missing_docs)]

pub mod ctl;
pub mod image;
pub mod inventory;
pub mod manifest;
pub mod placement;
pub mod redact;
pub mod wadm;
