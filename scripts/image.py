#!/usr/bin/env python3
"""Build a container image without a daemon or a registry: a docker-archive tarball that
`ctr -n k8s.io images import`, `docker load` and `podman load` all read.

    scripts/image.py TAG OUT.tar ENTRYPOINT [FILE ...] [--arg ARG ...] [--strip]

ENTRYPOINT and every FILE are host binaries; each lands in /usr/local/bin with the shared
libraries `ldd` names for it (at their own paths), so a dynamically linked binary runs in an
otherwise empty image. The image also has /tmp, the machine's CA bundle, an /etc/passwd naming user 65532 (`nonroot`, what
the Trellis charts and operator run as) and nothing else: no shell, no package manager.

    scripts/image.py trellis:0.1.0 trellis.tar target/release/trellis --strip
    scripts/image.py nats:local nats.tar "$(command -v nats-server)" --arg -js

`--strip` drops debug sections from the copies (a debug build shrinks about threefold).
The archive is deterministic: the same inputs give the same image id.
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

NONROOT = 65532
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def shared_libraries(binary):
    """Absolute paths of the libraries the dynamic loader maps for `binary` (none if static)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if out.returncode != 0:  # "not a dynamic executable"
        return []
    libs = []
    for line in out.stdout.splitlines():
        if "not found" in line:
            sys.exit(f"image.py: {binary} needs a library this machine lacks: {line.strip()}")
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            libs.append(match.group(1))
    return libs


def add_file(layer, source, dest, strip, mode=0o755):
    data = open(source, "rb").read()
    if strip:
        with tempfile.NamedTemporaryFile() as copy:
            shutil.copyfile(source, copy.name)
            subprocess.run(["objcopy", "--strip-debug", copy.name], check=True)
            data = open(copy.name, "rb").read()
    add_bytes(layer, dest, data, mode)


def add_bytes(layer, dest, data, mode=0o644):
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size, info.mode = len(data), mode
    layer.addfile(info, io.BytesIO(data))


def add_dir(layer, dest, mode=0o755):
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    layer.addfile(info)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tag", help="the image's name, e.g. trellis:0.1.0")
    parser.add_argument("out", help="where the docker-archive tarball goes")
    parser.add_argument("entrypoint", help="the binary the image runs")
    parser.add_argument("files", nargs="*", help="more binaries to put beside it")
    parser.add_argument("--arg", action="append", default=[], help="default argument (the image's Cmd)")
    parser.add_argument("--strip", action="store_true", help="strip debug sections from the binaries")
    args = parser.parse_args()

    binaries = [args.entrypoint, *args.files]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            sys.exit(f"image.py: {binary} is not an executable file")
    libraries = sorted({lib for binary in binaries for lib in shared_libraries(binary)})

    layer_bytes = io.BytesIO()
    with tarfile.open(fileobj=layer_bytes, mode="w", format=tarfile.GNU_FORMAT) as layer:
        dirs = {"/tmp", "/etc", "/usr/local/bin"} | {os.path.dirname(lib) for lib in libraries}
        for directory in sorted(dirs | {p for d in dirs for p in parents(d)}):
            add_dir(layer, directory, 0o1777 if directory == "/tmp" else 0o755)
        for binary in binaries:
            add_file(layer, binary, "/usr/local/bin/" + os.path.basename(binary), args.strip)
        for lib in libraries:
            add_file(layer, os.path.realpath(lib), lib, args.strip)
        # The host's CA bundle, so registries and NATS over TLS verify as they do on the host.
        if os.path.exists(CA_BUNDLE):
            add_dir(layer, "/etc/ssl")
            add_dir(layer, "/etc/ssl/certs")
            add_file(layer, CA_BUNDLE, CA_BUNDLE, False, 0o644)
        add_bytes(layer, "/etc/passwd", f"root:x:0:0::/:/nonexistent\nnonroot:x:{NONROOT}:{NONROOT}::/tmp:/nonexistent\n".encode())
        add_bytes(layer, "/etc/group", f"root:x:0:\nnonroot:x:{NONROOT}:\n".encode())
    layer = layer_bytes.getvalue()
    layer_sha = hashlib.sha256(layer).hexdigest()

    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/usr/local/bin/" + os.path.basename(args.entrypoint)],
            "Cmd": args.arg,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "User": f"{NONROOT}:{NONROOT}",
            "WorkingDir": "/tmp",
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_sha]},
    }, sort_keys=True).encode()
    config_sha = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": config_sha + ".json", "RepoTags": [qualified(args.tag)], "Layers": [layer_sha + "/layer.tar"]}]).encode()

    with tarfile.open(args.out, "w") as archive:
        for name, data in [(layer_sha + "/layer.tar", layer), (config_sha + ".json", config), ("manifest.json", manifest)]:
            add_bytes(archive, name, data)
    print(f"{args.out}: {qualified(args.tag)} ({len(layer) // (1 << 20)} MiB, sha256:{config_sha[:12]})")


def parents(path):
    while (path := os.path.dirname(path)) not in ("/", ""):
        yield path


def qualified(tag):
    """`trellis:0.1.0` → `docker.io/library/trellis:0.1.0`, the name containerd imports it under
    and the name a pod's `image: trellis:0.1.0` resolves to."""
    name = tag.split("/")
    if len(name) == 1:
        return "docker.io/library/" + tag
    if "." not in name[0] and ":" not in name[0] and name[0] != "localhost":
        return "docker.io/" + tag
    return tag


if __name__ == "__main__":
    main()
