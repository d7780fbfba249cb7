#!/usr/bin/env bash
# Stop what start-node.sh started in WORK_DIR and remove what it made: the daemons, every pod's
# containers (through containerd, so no process is left behind), their mounts and network
# namespaces, the cni0 bridge and the iptables chains of kube-proxy and the CNI plugins.
#
# Usage: scripts/k8s/stop-node.sh WORK_DIR [BIN_DIR]     (BIN_DIR: for `kube-proxy --cleanup`)
set -uo pipefail
work=$(realpath -m "$1") bin=${2:-}
socket=$work/containerd/containerd.sock
stop() {  # stop NAME: SIGTERM, then SIGKILL after 5 s
    local pid
    pid=$(cat "$work/$1.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$work/$1.pid"
}
for daemon in kubelet kube-proxy scheduler controller-manager; do stop "$daemon"; done
if [ -S "$socket" ]; then
    ctr=(ctr --address "$socket" -n k8s.io)
    for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -a -s SIGKILL "$task" >/dev/null 2>&1; done
    for container in $("${ctr[@]}" containers ls -q 2>/dev/null); do
        "${ctr[@]}" tasks rm -f "$container" >/dev/null 2>&1
        "${ctr[@]}" containers rm "$container" >/dev/null 2>&1
    done
fi
for daemon in apiserver etcd containerd; do stop "$daemon"; done
# Shims outlive containerd: end the ones of this node.
pkill -9 -f "containerd-shim.*-address $socket" 2>/dev/null
awk -v w="$work" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
awk '$2 ~ "^/run/containerd/io.containerd" || $2 ~ "^/run/netns/cni-" {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
if [ -f "$work/netns-before" ]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do
        grep -qx "$ns" "$work/netns-before" || ip netns delete "$ns" 2>/dev/null
    done
fi
ip link del cni0 2>/dev/null
[ -n "$bin" ] && [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1
for table in nat filter mangle; do
    iptables -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (KUBE|CNI)' | sed 's/^-A/-D/' |
        while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null; done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)/{print $2}'); do iptables -t "$table" -F "$chain"; done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N (KUBE|CNI)/{print $2}'); do iptables -t "$table" -X "$chain"; done
done
rm -rf "$work"
true
