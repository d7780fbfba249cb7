#!/usr/bin/env bash
# Observability overhead: the hello-world component served by four `trellis up` processes side
# by side, driven in turn by the same wrk load, several rounds interleaved so all see the same
# machine. Writes bench-report/observability.md and bench-report/observability.json.
#
#   off          no flags: logs only
#   metrics      --metrics-listen (Prometheus endpoint; every instrument recorded)
#   traces       metrics plus --enable-traces at 100% sampling, exported over OTLP/HTTP to a
#                collector that accepts every batch
#   traces-down  the same, the collector refusing connections: what a dead collector costs
#
#   benches/observability.sh [--duration 10] [--connections 32] [--rounds 3]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh

duration=10; connections=32; rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

need_wrk
rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo build --release --target wasm32-wasip2 --manifest-path examples/hello-world/Cargo.toml
component=$PWD/examples/hello-world/target/wasm32-wasip2/release/http_hello_world.wasm
cargo build --bin trellis
trellis=$PWD/target/debug/trellis

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/build"
cp "$component" "$work/build/http_hello_world.wasm"

# An OTLP/HTTP collector that takes every batch and counts the bytes: enough to make the
# exporter do its whole job (encode, send, wait for the answer).
collector_port=$(free_port)
python3 - "$collector_port" "$work/collector.bytes" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
total = 0
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global total
        total += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        open(out, "w").write(str(total))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf"); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()
PY
down_port=$(free_port)   # nothing listens there

declare -A port
start() {
  local name=$1; shift
  port[$name]=$(free_port)
  sed "s/127.0.0.1:8000/127.0.0.1:${port[$name]}/; s/instances: 100/instances: 1000/" examples/hello-world/wadm.yaml > "$work/$name.yaml"
  "$trellis" up --deploy "$work/$name.yaml" --state-dir "$work/state-$name" --api http://127.0.0.1:0 --log-level warn "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  wait_http "http://127.0.0.1:${port[$name]}/"
}
start off
start metrics --metrics-listen "127.0.0.1:$(free_port)"
start traces --metrics-listen "127.0.0.1:$(free_port)" --enable-traces --override-observability-endpoint "http://127.0.0.1:$collector_port"
start traces-down --metrics-listen "127.0.0.1:$(free_port)" --enable-traces --override-observability-endpoint "http://127.0.0.1:$down_port"
configs=(off metrics traces traces-down)

echo "warming up" >&2
for c in "${configs[@]}"; do wrk -t1 -c"$connections" -d2s "http://127.0.0.1:${port[$c]}/" >/dev/null; done

: >"$work/results"
for round in $(seq 1 "$rounds"); do
  for c in "${configs[@]}"; do
    read -r rps p50 p99 < <(run_wrk "http://127.0.0.1:${port[$c]}/" "$connections" "$duration")
    echo "$round $c $rps $p50 $p99" | tee -a "$work/results" >&2
  done
done
collected=$(cat "$work/collector.bytes" 2>/dev/null || echo 0)

mkdir -p bench-report
python3 - "$work/results" "$duration" "$connections" "$rounds" "$collected" <<'PY'
import json, statistics, sys, os, platform
path, duration, connections, rounds, collected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = [l.split() for l in open(path) if l.strip()]
configs = ["off", "metrics", "traces", "traces-down"]
def med(c, i): return statistics.median(float(r[i]) for r in rows if r[1] == c)
results = {c: {"rps": med(c, 2), "p50_ms": med(c, 3), "p99_ms": med(c, 4)} for c in configs}
per_round = {c: [round(float(a[2]) / float(b[2]), 3) for a, b in zip([r for r in rows if r[1] == c], [r for r in rows if r[1] == "off"])] for c in configs[1:]}
ratios = {c: round(results[c]["rps"] / results["off"]["rps"], 3) for c in configs[1:]}
report = {
    "load": {"tool": "wrk", "threads": 1, "connections": connections, "duration_s": duration, "rounds": rounds},
    "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
    "results": results, "ratio_rps_over_off": ratios, "ratio_per_round": per_round,
    "collector_bytes_received": collected,
    "goals": {"metrics_cost_at_most": 0.02, "traces_cost_at_most": 0.10},
}
json.dump(report, open("bench-report/observability.json", "w"), indent=2)
names = {"off": "off (logs only)", "metrics": "metrics (`--metrics-listen`)", "traces": "traces + metrics, 100% sampled, collector up", "traces-down": "traces + metrics, collector down"}
with open("bench-report/observability.md", "w") as f:
    f.write("# Observability overhead: hello-world through `trellis up`\n\n")
    f.write(f"wrk, 1 thread, {connections} connections, {duration} s per run, {rounds} interleaved rounds, medians; {os.cpu_count()} CPUs.\n\n")
    f.write("| configuration | req/s | p50 ms | p99 ms | req/s vs off |\n|---|---|---|---|---|\n")
    for c in configs:
        ratio = "1" if c == "off" else f"{ratios[c]} ({', '.join(map(str, per_round[c]))})"
        f.write(f"| {names[c]} | {results[c]['rps']:.0f} | {results[c]['p50_ms']:.3f} | {results[c]['p99_ms']:.3f} | {ratio} |\n")
    f.write(f"\nThe collector received {collected} bytes of spans. Goals: metrics cost at most 2% of throughput (ratio ≥ 0.98), full tracing at most 10% (≥ 0.90).\n")
print(open("bench-report/observability.md").read())
PY
