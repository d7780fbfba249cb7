#!/usr/bin/env bash
# Build the Kubernetes binaries the tests run from Debian bookworm's source package, once: by
# default the control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl), a
# node (kubelet, kube-proxy) and its `pause` sandbox binary (compiled statically from the same
# tree). The result is cached under $TRELLIS_K8S_CACHE (default /var/cache/trellis/k8s) keyed on
# the Debian version, and reused when present.
#
# Usage: scripts/k8s/build.sh [cmd/NAME ...]      prints the directory holding the binaries
#
# Needs root for apt-get. The vendored modern-go/reflect2 1.0.1 crashes the API server under
# Go >= 1.18 on its first request ("fatal error: fault" in mapiterinit), so it is replaced with
# Debian's reflect2 1.0.2 before building.
set -euo pipefail

version=1.20.5+really1.20.2-1.1+deb12u1
cache=${TRELLIS_K8S_CACHE:-/var/cache/trellis/k8s}/$version
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl cmd/kubelet cmd/kube-proxy build/pause)

missing=()
for t in "${targets[@]}"; do [ -x "$cache/bin/$(basename "$t")" ] || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$cache/bin"; exit 0; fi

log() { echo "k8s: $*" >&2; }
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list; then
    log "adding deb-src for bookworm"
    cat > /etc/apt/sources.list.d/trellis-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq >&2
fi
log "installing build dependencies"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    dpkg-dev golang-go rsync make gcc libc6-dev golang-github-modern-go-reflect2-dev etcd-server >&2

work=$cache/src
mkdir -p "$work" "$cache/bin"
tree=$work/kubernetes-1.20.5+really1.20.2
if [ ! -d "$tree" ]; then
    log "fetching the source package kubernetes=$version"
    (cd "$work" && apt-get source -qq "kubernetes=$version" >&2)
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
    rm -f "$tree/vendor/github.com/modern-go/reflect2/go.mod"
fi
commands=()
for t in "${missing[@]}"; do
    if [ "$t" = build/pause ]; then
        log "compiling the pause sandbox binary"
        gcc -Os -static -o "$cache/bin/pause" "$tree/build/pause/linux/pause.c" >&2
    else
        commands+=("$t")
    fi
done
if [ ${#commands[@]} -gt 0 ]; then
    log "building ${commands[*]} (a few minutes on 2 cores)"
    (
        cd "$tree"
        export GOPATH=$tree/.go CGO_ENABLED=0 GOCACHE=$work/gocache
        make WHAT="${commands[*]}" >&2
        for t in "${commands[@]}"; do cp "_output/bin/$(basename "$t")" "$cache/bin/"; done
    )
fi
"$cache/bin/kube-apiserver" --version >&2 || true
echo "$cache/bin"
