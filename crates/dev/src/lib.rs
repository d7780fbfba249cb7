//! The developer loop's knowledge, for `trellis new`, `trellis build` and `trellis dev`.
//!
//! - [`template`]: the project templates compiled into the binary, and writing one out.
//! - [`project`]: what a project is and how it builds: its `wasmcloud.toml` (wash v1's keys) or,
//!   without one, what its files say (`Cargo.toml`, `package.json`, `pyproject.toml`/`app.py`).
//! - [`build`]: running that build with the language's toolchain, checking the toolchain first so
//!   a missing one is named with the command that installs it, and placing the artifact where
//!   the manifest expects it.
//! - [`watch`]: which of a manifest's projects a changed file belongs to, debounced.
//!
//! **Owns** project layout, toolchains and source watching.
//! **Must not** know hosts, the lattice or the manager: the binary deploys what this builds,
//! through the same API as every other client.
#![warn(missing_docs)]

pub mod build;
pub mod project;
pub mod template;
pub mod watch;
