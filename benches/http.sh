#!/usr/bin/env bash
# HTTP benchmark: the same hello-world component served by Trellis (full path: listener,
# router, limits, fresh instance per request) and by `wasmtime serve`, driven in turn by the
# same wrk load, several rounds interleaved so both see the same machine. Writes
# bench-report/http.md and bench-report/http.json.
#
#   benches/http.sh [--duration 10] [--connections 32] [--rounds 3]
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
wasmtime_version=48.0.8   # the wasmtime Trellis embeds, so both run the same compiler
if ! wasmtime --version 2>/dev/null | grep -q "$wasmtime_version"; then
  echo "installing wasmtime-cli $wasmtime_version (compiles for several minutes)" >&2
  cargo install wasmtime-cli --locked --version "$wasmtime_version"
fi

rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo build --release --target wasm32-wasip2 --manifest-path examples/hello-world/Cargo.toml
component=$PWD/examples/hello-world/target/wasm32-wasip2/release/http_hello_world.wasm
cargo build --bin trellis
trellis=$PWD/target/debug/trellis

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

trellis_port=$(free_port)
mkdir -p "$work/build"
cp "$component" "$work/build/http_hello_world.wasm"
sed "s/127.0.0.1:8000/127.0.0.1:$trellis_port/; s/instances: 100/instances: 1000/" examples/hello-world/wadm.yaml > "$work/wadm.yaml"
"$trellis" up --deploy "$work/wadm.yaml" --state-dir "$work/state" --log-level warn >"$work/trellis.out" 2>"$work/trellis.err" &
wait_http "http://127.0.0.1:$trellis_port/"

wasmtime_port=$(free_port)
# -S cli=y: Rust std imports wasi:cli (environment, exit) beyond the proxy world.
wasmtime serve -S cli=y --addr "127.0.0.1:$wasmtime_port" "$component" >"$work/wasmtime.out" 2>"$work/wasmtime.err" &
wait_http "http://127.0.0.1:$wasmtime_port/"

echo "warming up" >&2
wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$trellis_port/" >/dev/null
wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$wasmtime_port/" >/dev/null

: >"$work/results"
for round in $(seq 1 "$rounds"); do
  for server in trellis wasmtime; do
    port_var="${server}_port"
    read -r rps p50 p99 < <(run_wrk "http://127.0.0.1:${!port_var}/" "$connections" "$duration")
    echo "$round $server $rps $p50 $p99" | tee -a "$work/results" >&2
  done
done

mkdir -p bench-report
python3 - "$work/results" "$duration" "$connections" "$rounds" <<'PY'
import json, statistics, sys, platform, os, subprocess
path, duration, connections, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [l.split() for l in open(path) if l.strip()]
def med(server, i): return statistics.median(float(r[i]) for r in rows if r[1] == server)
t = {"rps": med("trellis", 2), "p50_ms": med("trellis", 3), "p99_ms": med("trellis", 4)}
w = {"rps": med("wasmtime", 2), "p50_ms": med("wasmtime", 3), "p99_ms": med("wasmtime", 4)}
ratios = [float(a[2]) / float(b[2]) for a, b in zip([r for r in rows if r[1]=="trellis"], [r for r in rows if r[1]=="wasmtime"])]
report = {
    "load": {"tool": "wrk", "threads": 1, "connections": connections, "duration_s": duration, "rounds": rounds},
    "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
    "trellis": t, "wasmtime_serve": w,
    "ratio_rps_trellis_over_wasmtime": round(t["rps"] / w["rps"], 3),
    "ratio_per_round": [round(r, 3) for r in ratios],
    "rounds": [{"round": int(r[0]), "server": r[1], "rps": float(r[2]), "p50_ms": float(r[3]), "p99_ms": float(r[4])} for r in rows],
}
json.dump(report, open("bench-report/http.json", "w"), indent=2)
with open("bench-report/http.md", "w") as f:
    f.write("# HTTP hello-world: Trellis vs wasmtime serve\n\n")
    f.write(f"wrk, 1 thread, {connections} connections, {duration} s per run, {rounds} interleaved rounds, medians; {os.cpu_count()} CPUs.\n\n")
    f.write("| server | req/s | p50 ms | p99 ms |\n|---|---|---|---|\n")
    f.write(f"| Trellis (`trellis up`, router + limits on) | {t['rps']:.0f} | {t['p50_ms']:.3f} | {t['p99_ms']:.3f} |\n")
    f.write(f"| `wasmtime serve` 48.0.8 | {w['rps']:.0f} | {w['p50_ms']:.3f} | {w['p99_ms']:.3f} |\n\n")
    f.write(f"**Ratio Trellis / wasmtime serve (req/s): {report['ratio_rps_trellis_over_wasmtime']}** (per round: {', '.join(map(str, report['ratio_per_round']))})\n")
print(open("bench-report/http.md").read())
PY
