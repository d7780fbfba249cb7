//! Guest components for Trellis' tests, built from source once per build by `build.rs` and
//! shared by every test: each constant is the path of a compiled `.wasm` component (one per
//! directory of `guests/` that builds a component: `blobs-draft` is `BLOBS_DRAFT`), or of a
//! capability provider executable of `provider/` (`ECHO_PROVIDER`, and one per `src/bin/`
//! file: `KEYVALUE_PROVIDER`, `BLOBSTORE_FS_PROVIDER`). A new guest or provider needs no list
//! edited: `build.rs` finds it.
//!
//! **Owns** the fixtures' sources (`guests/`, `provider/`) and their build. **Must not** hold test logic.
#![warn(missing_docs)]

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
