#!/usr/bin/env bash
# The developer loop, measured per language: a project from each template served by
# `trellis dev`, its greeting edited SWAPS times in a row under wrk load. For each save it
# records the time until the first response from the new build, split as `dev` reports it
# (build, compile, swap); across all swaps, failed requests (wrk's errors and non-2xx, and a
# checker's) and stale responses (a checker that reads each response's build number and knows
# which build `dev` last reported serving). Writes bench-report/dev.md.
#
#   benches/dev.sh [--swaps 10] [--languages "rust typescript python"] [--connections 4]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh

swaps=10; languages="rust typescript python"; connections=4
while [ $# -gt 0 ]; do
  case "$1" in
    --swaps) swaps=$2; shift 2 ;;
    --languages) languages=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

need_wrk
rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo build -q --bin trellis
trellis=$PWD/target/debug/trellis
js=$PWD/crates/test-guests/js
[ -x "$js/node_modules/.bin/jco" ] || npm ci --prefix "$js" --no-audit --no-fund
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR=$PWD/target/dev-bench

# checker URL EXPECT_FILE OUT_FILE: requests URL in a loop until OUT_FILE's parent has `stop`;
# a response whose build number is below the one in EXPECT_FILE (read before each request) is
# stale. Writes "requests failed stale" to OUT_FILE.
checker() {
  python3 - "$@" <<'PY'
import os, re, sys, urllib.request
url, expect, out = sys.argv[1:4]
stop = os.path.join(os.path.dirname(out), "stop")
requests = failed = stale = 0
while not os.path.exists(stop):
    want = int(open(expect).read() or 0)
    requests += 1
    try:
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        m = re.search(r"build (\d+)", body)
        if not m or int(m.group(1)) < want:
            stale += 1
    except Exception:
        failed += 1
open(out, "w").write(f"{requests} {failed} {stale}\n")
PY
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else print a[int((NR + 1) / 2)] }'; }

report=bench-report/dev.md
mkdir -p bench-report
{
  echo "# \`trellis dev\`: save to new answer, under load ($swaps swaps per language, wrk -c$connections)"
  echo
  echo "Machine: $(nproc) cores; \`benches/dev.sh --swaps $swaps\`. Medians over the swaps; the swap is from the deploy's start to the old build's routes moved (the component is compiled before it)."
  echo
  echo "| language | component | save → first new answer | build | compile | swap | requests (wrk) | failed | stale (checker, of requests) |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$report"

for language in $languages; do
  case "$language" in
    rust) template=rust-hello; source=src/lib.rs; greeting='Hello from Rust!' ;;
    typescript) template=typescript-hello; source=src/app.ts; greeting='Hello from TypeScript!' ;;
    python) template=python-hello; source=app.py; greeting='Hello from Python!' ;;
    *) echo "unknown language $language" >&2; exit 2 ;;
  esac
  dir=$work/$language
  mkdir -p "$dir"
  (cd "$dir" && "$trellis" new bench --template "$template" >/dev/null)
  project=$dir/bench
  port=$(free_port)
  sed -i "s/127.0.0.1:8000/127.0.0.1:$port/" "$project/wadm.yaml"
  [ "$language" = typescript ] && ln -s "$js/node_modules" "$project/node_modules"
  sed -i "s/$greeting/build 1/" "$project/$source"
  echo 1 > "$dir/expect"
  "$trellis" dev "$project" --api http://127.0.0.1:0 --state-dir "$dir/state" >"$dir/stdout" 2>"$dir/stderr" &
  dev=$!
  for _ in $(seq 1 3000); do grep -q 'build #1 serving' "$dir/stdout" && break; sleep 0.1; done
  grep -q 'build #1 serving' "$dir/stdout" || { echo "$language: trellis dev did not serve; see $dir/stderr" >&2; tail -20 "$dir/stderr" >&2; exit 1; }
  url=http://127.0.0.1:$port/
  wrk -t1 -c"$connections" -d3600s "$url" >"$dir/wrk" 2>&1 &
  wrk_pid=$!
  checker "$url" "$dir/expect" "$dir/checked" &
  checker_pid=$!
  : > "$dir/first"
  for n in $(seq 2 $((swaps + 1))); do
    saved=$(date +%s.%N)
    sed -i "s/build $((n - 1))/build $n/" "$project/$source"
    until curl -fs "$url" 2>/dev/null | grep -q "build $n\$"; do sleep 0.01; done
    echo "$(date +%s.%N) - $saved" | bc >> "$dir/first"
    for _ in $(seq 1 600); do grep -q "build #$n serving" "$dir/stdout" && break; sleep 0.05; done
    echo "$n" > "$dir/expect"
  done
  touch "$dir/stop"
  wait "$checker_pid"
  kill -INT "$wrk_pid"; wait "$wrk_pid" || true
  kill -TERM "$dev"; wait "$dev" || true
  lines=$(grep 'serving:' "$dir/stdout" | tail -n "$swaps")
  build=$(echo "$lines" | sed -E 's/.*build ([0-9.]+) s.*/\1/' | median)
  compile=$(echo "$lines" | sed -E 's/.*compile ([0-9.]+) s.*/\1/' | median)
  swap=$(echo "$lines" | sed -E 's/.*swap ([0-9]+) ms.*/\1/' | median)
  size=$(echo "$lines" | tail -1 | sed -E 's/.*\(([0-9]+) KiB.*/\1/')
  first=$(median < "$dir/first")
  requests=$(awk '/requests in/ { print $1 }' "$dir/wrk")
  wrk_failed=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$dir/wrk")
  read -r checked checker_failed stale < "$dir/checked"
  printf '| %s | %s KiB | %.2f s | %s s | %s s | %s ms | %s | %s | %s (of %s) |\n' \
    "$language" "$size" "$first" "$build" "$compile" "$swap" "$requests" "$((wrk_failed + checker_failed))" "$stale" "$checked" >> "$report"
  echo "$language done" >&2
done
cat "$report"
