#!/usr/bin/env bash
# Builds Trellis and the hello-world component, then serves examples/hello-world/wadm.yaml in
# embedded mode on http://127.0.0.1:8000/. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
# The component: the same build `wash build` does, into the path the manifest names.
cargo build --release --target wasm32-wasip2 --manifest-path examples/hello-world/Cargo.toml
mkdir -p examples/hello-world/build
cp examples/hello-world/target/wasm32-wasip2/release/http_hello_world.wasm examples/hello-world/build/

cargo build --bin trellis
echo
echo "Starting Trellis; in another terminal: curl http://127.0.0.1:8000/"
exec ./target/debug/trellis up --deploy examples/hello-world/wadm.yaml "$@"
