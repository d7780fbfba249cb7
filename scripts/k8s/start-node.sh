#!/usr/bin/env bash
# Start a one-node Kubernetes cluster whose pods really run: containerd (with runc and the Debian
# CNI plugins), etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet and
# kube-proxy in iptables mode, so ClusterIPs answer from this machine. Everything it writes is
# under WORK_DIR (containerd's root, state and socket too); nothing in /etc is touched. Needs root.
#
# Usage: IMAGES="a.tar b.tar" scripts/k8s/start-node.sh BIN_DIR WORK_DIR
#   BIN_DIR   what scripts/k8s/build.sh printed (it builds the `pause` sandbox binary too)
#   IMAGES    docker-archive tarballs (scripts/image.py) imported for `imagePullPolicy: Never`
# Writes WORK_DIR/kubeconfig (user `admin`, token `admin-token`) and returns once the node is
# Ready. The node's address is 10.88.0.1 (the pods' bridge, cni0), the API server's
# https://10.88.0.1:16443. There is no cluster DNS (Debian has no CoreDNS): give pods addresses.
# scripts/k8s/stop-node.sh WORK_DIR stops it and removes what it made.
#
# Debian packages: containerd runc containernetworking-plugins iptables conntrack etcd-server.
set -euo pipefail
here=$(dirname "$0")
. "$here/kubeconfig.sh"
bin=$(realpath "$1") work=$(realpath -m "$2")
node_ip=10.88.0.1 pod_cidr=10.88.0.0/16 api_port=16443
mkdir -p "$work"/{etcd,certs,kubelet,cni,containerd}
log() { echo "node: $*" >&2; }
start() {
    local name=$1; shift
    "$@" > "$work/$name.log" 2>&1 &
    echo $! > "$work/$name.pid"
}
running() { kill -0 "$(cat "$work/$1.pid")" 2>/dev/null || { log "$1 exited:"; tail -20 "$work/$1.log" >&2; exit 1; }; }
wait_for() {  # wait_for WHAT SECONDS PROCESS COMMAND...
    local what=$1 seconds=$2 process=$3; shift 3
    for _ in $(seq 1 $((seconds * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        running "$process"
        sleep 0.25
    done
    log "$what not ready after ${seconds}s"; tail -20 "$work/$process.log" >&2; exit 1
}

# Network namespaces that exist now are not ours: stop-node.sh removes only the others.
ip netns list 2>/dev/null | awk '{print $1}' > "$work/netns-before"
ip link show cni0 >/dev/null 2>&1 || { ip link add cni0 type bridge; ip addr add "$node_ip/16" dev cni0; }
ip link set cni0 up
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true

# containerd. restrict_oom_score_adj: a VM without CAP_SYS_RESOURCE cannot set the sandbox's
# oom_score_adj of -998, and every pod would fail.
socket=$work/containerd/containerd.sock
cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
[grpc]
  address = "$socket"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "docker.io/library/pause:3.2"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$work/cni"
TOML
cat > "$work/cni/10-bridge.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "trellis-node", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$work/cni/ipam", "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
JSON
start containerd containerd --config "$work/containerd.toml"
wait_for containerd 20 containerd ctr --address "$socket" version
python3 "$here/../image.py" pause:3.2 "$work/pause.tar" "$bin/pause" >/dev/null
for image in "$work/pause.tar" ${IMAGES:-}; do
    ctr --address "$socket" -n k8s.io images import --no-unpack=false "$image" >/dev/null
done

# The control plane, on the node's address.
[ -f "$work/certs/sa.key" ] || openssl genrsa -out "$work/certs/sa.key" 2048 2>/dev/null
# The API server's client certificate towards the kubelet (logs, exec, port-forward), from a CA
# the kubelet trusts; the kubelet takes no anonymous requests.
if [ ! -f "$work/certs/kubelet-client.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=trellis-node-ca -keyout "$work/certs/ca.key" -out "$work/certs/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
        -keyout "$work/certs/kubelet-client.key" -out "$work/certs/kubelet-client.csr" 2>/dev/null
    openssl x509 -req -in "$work/certs/kubelet-client.csr" -CA "$work/certs/ca.crt" -CAkey "$work/certs/ca.key" \
        -CAcreateserial -days 2 -out "$work/certs/kubelet-client.crt" 2>/dev/null
fi
echo "admin-token,admin,admin,system:masters" > "$work/tokens.csv"
start etcd etcd --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:22379 \
    --advertise-client-urls http://127.0.0.1:22379 --listen-peer-urls http://127.0.0.1:22380
start apiserver "$bin/kube-apiserver" --etcd-servers http://127.0.0.1:22379 \
    --bind-address "$node_ip" --advertise-address "$node_ip" --secure-port "$api_port" --cert-dir "$work/certs" \
    --token-auth-file "$work/tokens.csv" --authorization-mode Node,RBAC --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$work/certs/sa.key" \
    --service-account-signing-key-file "$work/certs/sa.key" --kubelet-preferred-address-types InternalIP \
    --kubelet-client-certificate "$work/certs/kubelet-client.crt" --kubelet-client-key "$work/certs/kubelet-client.key"
write_kubeconfig "$work/kubeconfig" "https://$node_ip:$api_port"
api_ready() { [ "$(curl -sk -m 2 -H 'Authorization: Bearer admin-token' "https://$node_ip:$api_port/readyz")" = ok ]; }
wait_for kube-apiserver 60 apiserver api_ready

start controller-manager "$bin/kube-controller-manager" --kubeconfig "$work/kubeconfig" --bind-address 127.0.0.1 \
    --port 0 --secure-port 0 --service-account-private-key-file "$work/certs/sa.key" \
    --root-ca-file "$work/certs/apiserver.crt" --use-service-account-credentials --leader-elect=false
start scheduler "$bin/kube-scheduler" --kubeconfig "$work/kubeconfig" --bind-address 127.0.0.1 --port 0 \
    --secure-port 0 --leader-elect=false
# --cgroups-per-qos=false: the node has no QoS cgroup hierarchy of its own to manage here.
start kubelet "$bin/kubelet" --kubeconfig "$work/kubeconfig" --container-runtime remote \
    --container-runtime-endpoint "unix://$socket" --cgroup-driver cgroupfs --fail-swap-on=false \
    --pod-infra-container-image docker.io/library/pause:3.2 --hostname-override node1 --node-ip "$node_ip" \
    --address "$node_ip" --root-dir "$work/kubelet" --cert-dir "$work/kubelet/pki" --cgroups-per-qos=false \
    --enforce-node-allocatable= --read-only-port 0 --anonymous-auth=false --authorization-mode AlwaysAllow \
    --client-ca-file "$work/certs/ca.crt" --eviction-hard= --image-gc-high-threshold 100 \
    --image-gc-low-threshold 99 --serialize-image-pulls=false
start kube-proxy "$bin/kube-proxy" --kubeconfig "$work/kubeconfig" --proxy-mode iptables \
    --hostname-override node1 --cluster-cidr "$pod_cidr" --metrics-bind-address 127.0.0.1:10249 \
    --healthz-bind-address 127.0.0.1:10256 --conntrack-max-per-core 0
node_ready() { "$bin/kubectl" --kubeconfig "$work/kubeconfig" get node node1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True; }
wait_for "node node1" 90 kubelet node_ready
wait_for kube-proxy 30 kube-proxy curl -sf -m 2 http://127.0.0.1:10256/healthz
log "node1 Ready (kubeconfig $work/kubeconfig)"
