#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the manifest tables, and the end-to-end suite
# that drives the real `trellis` binary with components built from source.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
cargo test --workspace "$@"
