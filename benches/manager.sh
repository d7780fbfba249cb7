#!/usr/bin/env bash
# Reconcile N applications (default 1000) across H in-process hosts (default 10), from put to
# all `deployed`; report the time and the process's CPU time and peak memory.
# Usage: benches/manager.sh [--apps N] [--hosts H]   (writes bench-report-manager.md)
set -euo pipefail
cd "$(dirname "$0")/.."
apps=1000 hosts=10
while [ $# -gt 0 ]; do
  case "$1" in
    --apps) apps=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
cargo build -q --bin trellis
wasm=$(find target/debug/build -path '*trellis-test-guests*/out/wasm/*/hello.wasm' | head -1)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
host_flags=()
for i in $(seq 1 "$hosts"); do host_flags+=(--host "rack=r$i"); done
start_trellis() {
  ./target/debug/trellis up --state-dir "$work/state" --api http://127.0.0.1:0 "${host_flags[@]}" >"$work/out" 2>"$work/log" &
  pid=$!
  until grep -q "^Trellis is up" "$work/out"; do sleep 0.1; done
  export TRELLIS_API=$(sed -n 's/^API: //p' "$work/out")
}
wait_all_deployed() {
  while :; do
    deployed=$(./target/debug/trellis app list -o json | grep -c '"type": "deployed"' || true)
    [ "$deployed" -ge "$apps" ] && break
    sleep 0.2
  done
}
start_trellis
for i in $(seq 1 "$apps"); do
  cat >"$work/app$i.yaml" <<YAML
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: bench-$i
  annotations:
    version: v1
spec:
  components:
    - name: hello
      type: component
      properties:
        image: file://$PWD/$wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 1
YAML
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks0=$(cpu_ticks)
start=$(date +%s.%N)
for i in $(seq 1 "$apps"); do ./target/debug/trellis app deploy "$work/app$i.yaml" >/dev/null; done
submitted=$(date +%s.%N)
wait_all_deployed
end=$(date +%s.%N)
ticks1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
# Recovery: kill -9, start again on the same state directory, and wait for every app to be back.
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
restart=$(date +%s.%N)
start_trellis
wait_all_deployed
recovered=$(date +%s.%N)
restart_cpu=$(echo "scale=2; $(cpu_ticks) / $hz" | bc)
restart_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
report=$(cat <<MD
# Manager benchmark

$apps applications across $hosts in-process hosts, one component each, put and deployed one by
one through the CLI (one \`trellis app deploy\` process per app), until \`trellis app list\`
shows every one \`deployed\`.

| measure | value |
|---|---|
| put + deploy requests submitted | $(echo "$submitted - $start" | bc) s |
| first put to all deployed | $(echo "$end - $start" | bc) s |
| trellis CPU time (hosts + manager + API) | $(echo "scale=2; ($ticks1 - $ticks0) / $hz" | bc) s |
| trellis peak RSS | $((hwm / 1024)) MiB (now $((rss / 1024)) MiB) |
| kill -9, restart on the same state, all deployed again | $(echo "$recovered - $restart" | bc) s |
| CPU time of the restarted process | $restart_cpu s |
| peak RSS of the restarted process | $((restart_hwm / 1024)) MiB |
MD
)
echo "$report" | tee bench-report-manager.md
