#!/usr/bin/env bash
# Request/reply round trips over the in-process lattice and over NATS on loopback, side by side.
# Writes bench-report/lattice.md.   Usage: benches/lattice.sh [--requests 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
mkdir -p bench-report
{
  echo "# Lattice round trips ($(date -u +%F), $(nproc) cores, $(nats-server --version))"
  echo
  cargo bench -q -p trellis-lattice --bench roundtrip -- --nats "nats://127.0.0.1:$port" "$@"
} | tee bench-report/lattice.md
