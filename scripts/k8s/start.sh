#!/usr/bin/env bash
# Start a Kubernetes control plane on loopback for the tests: etcd, kube-apiserver (RBAC, token
# auth, ServiceAccount tokens) and kube-controller-manager (garbage collection, ServiceAccount
# tokens). No node: pods are scheduled nowhere, which the operator tests do not need.
#
# Usage: scripts/k8s/start.sh BIN_DIR WORK_DIR [ETCD_PORT ETCD_PEER_PORT API_PORT]
# Writes WORK_DIR/kubeconfig (user `admin`, token `admin-token`) and waits until /readyz says ok.
# scripts/k8s/stop.sh WORK_DIR stops what this started.
set -euo pipefail
. "$(dirname "$0")/kubeconfig.sh"
bin=$1 work=$2 etcd_port=${3:-12379} peer_port=${4:-12380} api_port=${5:-16443}
mkdir -p "$work/etcd" "$work/certs"
[ -f "$work/certs/sa.key" ] || openssl genrsa -out "$work/certs/sa.key" 2048 2>/dev/null
echo "admin-token,admin,admin,system:masters" > "$work/tokens.csv"

etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    > "$work/etcd.log" 2>&1 &
echo $! > "$work/etcd.pid"

"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --advertise-address 127.0.0.1 \
    --cert-dir "$work/certs" --token-auth-file "$work/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$work/certs/sa.key" \
    --service-account-signing-key-file "$work/certs/sa.key" \
    > "$work/apiserver.log" 2>&1 &
echo $! > "$work/apiserver.pid"

write_kubeconfig "$work/kubeconfig" "https://127.0.0.1:$api_port"

ready() { [ "$(curl -sk -m 2 -H 'Authorization: Bearer admin-token' "https://127.0.0.1:$api_port/readyz" 2>/dev/null)" = ok ]; }
for _ in $(seq 1 240); do
    if ready; then break; fi
    if ! kill -0 "$(cat "$work/apiserver.pid")" 2>/dev/null; then tail -20 "$work/apiserver.log" >&2; exit 1; fi
    sleep 0.25
done
ready || { echo "kube-apiserver not ready after 60 s" >&2; tail -20 "$work/apiserver.log" >&2; exit 1; }

"$bin/kube-controller-manager" --kubeconfig "$work/kubeconfig" --bind-address 127.0.0.1 --port 0 --secure-port 0 \
    --service-account-private-key-file "$work/certs/sa.key" --root-ca-file "$work/certs/apiserver.crt" \
    --use-service-account-credentials --controllers '*,-nodelifecycle' --leader-elect=false \
    > "$work/controller-manager.log" 2>&1 &
echo $! > "$work/controller-manager.pid"
echo "https://127.0.0.1:$api_port"
