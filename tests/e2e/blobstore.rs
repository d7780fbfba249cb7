//! wasi:blobstore on every backend (a directory, memory, a real NATS JetStream object store),
//! bodies streamed both ways, names confined to the root, and containers reached only through
//! the component's own links.

use std::io::Read as _;

use crate::util::*;

/// The blobs guest (built against wasmCloud's WIT), linked to capability `store` whose image is
/// `image`, with link target config `config`, served at `port`.
fn blob_app(name: &str, image: &str, config: &[(&str, &str)], port: u16) -> ManifestFile {
    blob_app_of(guests::BLOBS, name, image, config, port)
}

/// [`blob_app`] with the guest at `guest`.
fn blob_app_of(guest: &str, name: &str, image: &str, config: &[(&str, &str)], port: u16) -> ManifestFile {
    let mut link = "        - type: link\n          properties:\n            namespace: wasi\n            package: blobstore\n            interfaces: [blobstore, container, types]\n            target:\n              name: store\n".to_owned();
    if !config.is_empty() {
        link += "              config:\n                - name: store-link\n                  properties:\n";
        for (k, v) in config {
            link += &format!("                    {k}: \"{v}\"\n");
        }
    }
    let component = component(name, guest, 4, "") + &link;
    let capability = format!("    - name: store\n      type: capability\n      properties:\n        image: {image}\n");
    manifest(&app(name, &[component, capability, http_server("http", &[], &[(name, &[("address", &format!("127.0.0.1:{port}"))])])]))
}

fn ok(method: &str, base: &str, path: &str, body: &[u8]) -> String {
    let r = send(method, &format!("{base}/{path}"), body);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    r.body
}

/// The same operations against any backend.
fn exercise(base: &str) {
    assert_eq!(ok("GET", base, "exists/photos", b""), "false");
    assert_eq!(ok("POST", base, "create/photos", b""), "created");
    // Creating an existing container is not an error, as with wasmCloud's providers.
    assert_eq!(ok("POST", base, "create/photos", b""), "created");
    assert_eq!(ok("GET", base, "exists/photos", b""), "true");
    assert_eq!(ok("GET", base, "container-info/photos", b""), "photos created=true");
    assert_eq!(ok("PUT", base, "o/photos/cat", b"meow meow"), "stored 9");
    assert_eq!(ok("PUT", base, "buffered/photos/dog", b"woof"), "stored 4");
    assert_eq!(ok("GET", base, "o/photos/cat", b""), "meow meow");
    assert_eq!(ok("GET", base, "o/photos/cat?start=5&end=7", b""), "meo");
    assert_eq!(ok("GET", base, "o/photos/cat?start=5&end=999", b""), "meow");
    assert_eq!(ok("GET", base, "sync/photos/dog", b""), "woof");
    assert_eq!(ok("GET", base, "info/photos/cat", b""), "photos/cat size=9");
    assert_eq!(ok("GET", base, "has/photos/cat", b""), "true");
    assert_eq!(ok("GET", base, "has/photos/bird", b""), "false");
    // Replacing an object replaces it whole.
    assert_eq!(ok("PUT", base, "o/photos/cat", b"purr"), "stored 4");
    assert_eq!(ok("GET", base, "o/photos/cat", b""), "purr");
    assert_eq!(ok("POST", base, "create/archive", b""), "created");
    assert_eq!(ok("POST", base, "copy/photos/cat/archive/cat-copy", b""), "copy done");
    assert_eq!(ok("POST", base, "move/photos/dog/archive/dog", b""), "move done");
    // Listing pages through the names two at a time.
    assert_eq!(ok("PUT", base, "o/archive/emu", b"e"), "stored 1");
    assert_eq!(ok("GET", base, "list/archive", b""), "cat-copy,dog,emu");
    assert_eq!(ok("GET", base, "list/photos", b""), "cat");
    assert_eq!(ok("GET", base, "o/archive/dog", b""), "woof");
    assert_eq!(ok("DELETE", base, "o/archive/emu", b""), "deleted");
    // Deleting what is not there is not an error.
    assert_eq!(ok("DELETE", base, "o/archive/emu", b""), "deleted");
    assert_eq!(ok("POST", base, "clear/archive", b""), "cleared");
    assert_eq!(ok("GET", base, "list/archive", b""), "");
    assert_eq!(ok("POST", base, "delete-container/archive", b""), "deleted");
    assert_eq!(ok("GET", base, "exists/archive", b""), "false");
    let missing = send("GET", &format!("{base}/o/nope/x"), b"");
    assert_eq!((missing.status, missing.body.as_str()), (404, "container `nope` does not exist"));
    let missing = send("GET", &format!("{base}/o/photos/bird"), b"");
    assert_eq!((missing.status, missing.body.as_str()), (404, "object `bird` does not exist in container `photos`"));
}

#[test]
fn filesystem_backend_keeps_objects_as_files_confined_to_root() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let root_dir = root.path().join("blobs");
    let m = blob_app("files", "ghcr.io/wasmcloud/blobstore-fs:0.10.1", &[("ROOT", root_dir.to_str().unwrap())], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    exercise(&base);
    // wasmCloud's blobstore-fs layout: `ROOT/<container>/<object>`, both ways.
    assert_eq!(std::fs::read(root_dir.join("photos/cat")).unwrap(), b"purr");
    std::fs::write(root_dir.join("photos/from-wasmcloud"), b"written by a provider").unwrap();
    assert_eq!(ok("GET", &base, "o/photos/from-wasmcloud", b""), "written by a provider");
    std::fs::remove_file(root_dir.join("photos/from-wasmcloud")).unwrap();
    // Names that would leave the root are refused, and nothing is written outside it.
    let r = send("PUT", &format!("{base}/o/photos/sub/../../../escape"), b"x");
    assert!(r.status == 500 && r.body.contains("invalid object name"), "{}: {}", r.status, r.body);
    assert!(!root.path().join("escape").exists() && !root_dir.join("escape").exists());
}

/// wasmCloud's own blobstore-fs provider, built from its published crate and run as a provider
/// process: the host bridges the component's `wasi:blobstore` to the provider's
/// `wrpc:blobstore@0.2.0`, bodies streamed both ways, and the objects land where that provider
/// keeps them, `ROOT/<container>/<object>`.
#[test]
fn wasmclouds_blobstore_fs_provider_serves_a_component_through_the_bridge() {
    let nats = Nats::start_jetstream();
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = crate::providers::archive_of(dir.path(), "blobstore-fs", guests::BLOBSTORE_FS_PROVIDER);
    let root = dir.path().join("blobs");
    std::fs::create_dir_all(&root).unwrap();
    let port = free_port();
    let m = blob_app("bridged", archive.to_str().unwrap(), &[("ROOT", root.to_str().unwrap())], port);
    let up = Up::start(&[], &["--nats", &nats.url, "--heartbeat-interval", "0.3"]).unwrap();
    let out = up.cli(&["app", "deploy", m.path.to_str().unwrap(), "--wait"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(ok("POST", &base, "create/photos", b""), "created");
    assert_eq!(ok("GET", &base, "exists/photos", b""), "true");
    assert_eq!(ok("PUT", &base, "o/photos/cat", b"meow meow"), "stored 9");
    assert_eq!(ok("GET", &base, "o/photos/cat", b""), "meow meow");
    assert_eq!(ok("GET", &base, "o/photos/cat?start=5&end=7", b""), "meo");
    assert_eq!(ok("GET", &base, "info/photos/cat", b""), "photos/cat size=9");
    assert_eq!(ok("GET", &base, "has/photos/cat", b""), "true");
    assert_eq!(ok("GET", &base, "has/photos/bird", b""), "false");
    // What is missing is said so, as with every other backend.
    let missing = send("GET", &format!("{base}/o/nope/x"), b"");
    assert_eq!((missing.status, missing.body.as_str()), (404, "container `nope` does not exist"));
    let missing = send("GET", &format!("{base}/o/photos/bird"), b"");
    assert_eq!((missing.status, missing.body.as_str()), (404, "object `bird` does not exist in container `photos`"));
    assert_eq!(std::fs::read(root.join("photos/cat")).unwrap(), b"meow meow", "the provider's layout");
    std::fs::write(root.join("photos/from-wasmcloud"), b"written beside the provider").unwrap();
    assert_eq!(ok("GET", &base, "list/photos", b""), "cat,from-wasmcloud");
    assert_eq!(ok("GET", &base, "o/photos/from-wasmcloud", b""), "written beside the provider");
    // A body larger than one wRPC frame streams through in order.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(ok("PUT", &base, "o/photos/big", &big), format!("stored {}", big.len()));
    assert_eq!(std::fs::read(root.join("photos/big")).unwrap(), big);
    let (status, len) = get_len(&format!("{base}/o/photos/big"));
    assert_eq!((status, len), (200, big.len() as u64));
    assert_eq!(ok("DELETE", &base, "o/photos/cat", b""), "deleted");
    assert_eq!(ok("GET", &base, "has/photos/cat", b""), "false");
    assert_eq!(ok("POST", &base, "clear/photos", b""), "cleared");
    assert_eq!(ok("GET", &base, "list/photos", b""), "");
}

#[test]
fn memory_backend() {
    let port = free_port();
    let m = blob_app("mem", "wasmcloud+builtin://blobstore-memory", &[], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    exercise(&format!("http://127.0.0.1:{port}"));
}

/// wasmCloud's `outgoing-value-write-body` returns `result<output-stream>`, the upstream
/// draft's `result<output-stream, error>`: a component built against either runs.
#[test]
fn the_upstream_drafts_shape_of_the_interface_runs_too() {
    let port = free_port();
    let m = blob_app_of(guests::BLOBS_DRAFT, "draft", "wasmcloud+builtin://blobstore-memory", &[], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    exercise(&format!("http://127.0.0.1:{port}"));
}

#[test]
fn nats_object_store_backend() {
    let nats = Nats::start_jetstream();
    let port = free_port();
    let m = blob_app("objects", "ghcr.io/wasmcloud/blobstore-nats:0.4.0", &[("cluster_uri", &nats.url)], port);
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    exercise(&base);

    // wasmCloud's blobstore-nats keeps a container as the object store named after it, and an
    // object under its own name: what one wrote, the other reads.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stored = runtime.block_on(async {
        use tokio::io::AsyncReadExt as _;
        let js = async_nats::jetstream::new(async_nats::connect(nats.url.as_str()).await.unwrap());
        let photos = js.get_object_store("photos").await.unwrap();
        let mut cat = Vec::new();
        photos.get("cat").await.unwrap().read_to_end(&mut cat).await.unwrap();
        photos.put("from-wasmcloud", &mut &b"written by a provider"[..]).await.unwrap();
        cat
    });
    assert_eq!(stored, b"purr");
    assert_eq!(ok("GET", &base, "o/photos/from-wasmcloud", b""), "written by a provider");
}

/// 64 MiB in and out through the component without the host holding it: peak memory grows by
/// far less than the object.
#[test]
fn large_objects_stream_through() {
    const SIZE: u64 = 64 << 20;
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = blob_app("big", "wasmcloud+builtin://blobstore-fs", &[("ROOT", root.path().to_str().unwrap())], port);
    let up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    ok("POST", &base, "create/big", b"");
    ok("PUT", &base, "o/big/warmup", &[7u8; 1 << 20]);
    let before = up.peak_rss_bytes();
    let r = send_reader("PUT", &format!("{base}/o/big/zeros"), std::io::repeat(0).take(SIZE), SIZE);
    assert_eq!((r.status, r.body.as_str()), (200, "stored 67108864"));
    assert_eq!(std::fs::metadata(root.path().join("big/zeros")).unwrap().len(), SIZE);
    assert_eq!(get_len(&format!("{base}/o/big/zeros")), (200, SIZE));
    let grown = up.peak_rss_bytes().saturating_sub(before);
    assert!(grown < SIZE / 2, "peak RSS grew by {} MiB moving a {} MiB object", grown >> 20, SIZE >> 20);
}

#[test]
fn containers_are_reached_only_through_the_components_own_link() {
    let (root_a, root_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    let a = blob_app("alpha", "ghcr.io/wasmcloud/blobstore-fs:0.10.1", &[("ROOT", root_a.path().to_str().unwrap())], port_a);
    let b = blob_app("beta", "ghcr.io/wasmcloud/blobstore-fs:0.10.1", &[("ROOT", root_b.path().to_str().unwrap())], port_b);
    let unlinked = manifest(&app(
        "gamma",
        &[component("gamma", guests::BLOBS, 1, ""), http_server("http", &[], &[("gamma", &[("address", &format!("127.0.0.1:{port_c}"))])])],
    ));
    let up = Up::start(&[&a.path, &b.path, &unlinked.path], &[]).unwrap();
    ok("POST", &format!("http://127.0.0.1:{port_a}"), "create/private", b"");
    ok("PUT", &format!("http://127.0.0.1:{port_a}"), "o/private/plan", b"alpha's");
    // Another app's link has its own root: the container is not there.
    assert_eq!(ok("GET", &format!("http://127.0.0.1:{port_b}"), "exists/private", b""), "false");
    // No link, no blobstore: the call fails naming the import, and the host stays up.
    let r = send("GET", &format!("http://127.0.0.1:{port_c}/exists/private"), b"");
    assert_eq!(r.status, 500, "{}", r.body);
    up.wait_for_log(&["wasi:blobstore/blobstore@0.2.0-draft", "has no link named `default`"]);
    assert_eq!(ok("GET", &format!("http://127.0.0.1:{port_a}"), "o/private/plan", b""), "alpha's");
}
