//! Guest components for Trellis' tests, built from source once per build by `build.rs` and
//! shared by every test: each constant is the path of a compiled `.wasm` component, or of the
//! fixture capability provider's executable (`ECHO_PROVIDER`).
//!
//! **Owns** the fixtures' sources (`guests/`, `provider/`) and their build. **Must not** hold test logic.
#![warn(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
