#!/usr/bin/env bash
# Stop what scripts/k8s/start.sh started in WORK_DIR, by the PIDs it wrote.
work=$1
for name in controller-manager apiserver etcd; do
    [ -f "$work/$name.pid" ] || continue
    pid=$(cat "$work/$name.pid")
    kill "$pid" 2>/dev/null && for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$work/$name.pid"
done
