//! The interfaces Trellis serves for wasmCloud compatibility are wasmCloud's own: for each world
//! of the WIT a wasmCloud 1.9 host links (`wit/wasmcloud`, vendored from `wasmcloud-runtime`
//! 0.12.0), a component importing all of it is built from that WIT and must link against what
//! Trellis' capabilities define, with nothing stubbed. A function, parameter, result or
//! resource that differs fails here, naming the import.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trellis_runtime::wasmtime::component::Component;
use trellis_runtime::{Grants, Runtime, RuntimeConfig};
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{ManglingAndAbi, Resolve};

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/wasmcloud")
}

/// A component built from `dir`'s WIT that imports everything `world` imports.
fn component_importing(dir: &Path, world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e:#}", dir.display()));
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default().module(&module).unwrap().validate(true).encode().unwrap()
}

/// Links `wasm` with every capability a wasmCloud component can import granted, as a deploy
/// grants them; `Err` names what does not fit.
fn links_to_trellis(runtime: &Runtime, wasm: &[u8]) -> anyhow::Result<()> {
    let component = Component::new(runtime.engine(), wasm)?;
    let mut linker = runtime.linker()?;
    let mut grants = Grants::default();
    let kv: Arc<dyn trellis_cap_keyvalue::Store> = Arc::new(trellis_cap_keyvalue::MemoryStore::new());
    trellis_cap_keyvalue::grant(&mut linker, &mut grants, BTreeMap::from([("default".to_owned(), kv)]))?;
    let blobs: Arc<dyn trellis_cap_blobstore::BlobStore> = Arc::new(trellis_cap_blobstore::MemoryStore::new());
    trellis_cap_blobstore::grant(&mut linker, &mut grants, BTreeMap::from([("default".to_owned(), blobs)]))?;
    let broker: Arc<dyn trellis_cap_messaging::Broker> = Arc::new(trellis_cap_messaging::InProcessBroker::new());
    trellis_cap_messaging::grant(&mut linker, &mut grants, BTreeMap::from([("default".to_owned(), broker)]))?;
    trellis_cap_logging::grant(&mut linker, &mut grants, "conformance")?;
    trellis_cap_config::grant(&mut linker, &mut grants, trellis_cap_config::ConfigValues::new(BTreeMap::new()))?;
    trellis_cap_bus::grant(&mut linker, &mut grants)?;
    trellis_cap_secrets::grant(&mut linker, &mut grants, trellis_cap_secrets::ComponentSecrets::new(BTreeMap::new()))?;
    // The shape of an import can depend on the component (see `Grants::adapt`); no stub may stand
    // in for anything, so `prepare`'s deny-by-default linking is not used here.
    grants.apply_adapters(&mut linker, runtime.engine(), &component)?;
    linker.instantiate_pre(&component)?;
    Ok(())
}

/// wasmCloud's `interfaces` world, less `wasmcloud:identity/store@0.0.1`: wasmCloud serves that
/// one only when built with `workload-identity-interface`, off by default, and Trellis does not
/// serve it.
const HOST_WORLD: &str = "package trellis:conformance;

world interfaces {
    import wasi:blobstore/blobstore@0.2.0-draft;
    import wasi:blobstore/container@0.2.0-draft;
    import wasi:blobstore/types@0.2.0-draft;
    import wasi:config/store@0.2.0-draft;
    import wasi:keyvalue/atomics@0.2.0-draft;
    import wasi:keyvalue/batch@0.2.0-draft;
    import wasi:keyvalue/store@0.2.0-draft;
    import wasi:logging/logging@0.1.0-draft;
    import wasmcloud:bus/lattice@1.0.0;
    import wasmcloud:bus/lattice@2.0.1;
    import wasmcloud:bus/error@2.0.1;
    import wasmcloud:messaging/consumer@0.2.0;
    import wasmcloud:messaging/producer@0.3.0;
    import wasmcloud:messaging/request-reply@0.3.0;
    import wasmcloud:secrets/store@0.1.0-draft;
    import wasmcloud:secrets/reveal@0.1.0-draft;
}
";

/// A WIT package of `world_text` whose dependencies are wasmCloud's vendored ones.
fn package_with_wasmclouds_deps(world_text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("world.wit"), world_text).unwrap();
    copy_dir(&wit_dir().join("deps"), &dir.path().join("deps"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_interface_a_wasmcloud_host_links_links_on_trellis() {
    let runtime = Runtime::new(RuntimeConfig { pooling: false, cache_dir: None, ..RuntimeConfig::default() }).unwrap();
    // Each interface alone, so a failure names the one that differs, then all of them together.
    let imports: Vec<&str> = HOST_WORLD.lines().filter_map(|l| l.trim().strip_prefix("import ")).map(|l| l.trim_end_matches(';')).collect();
    let mut failures = Vec::new();
    for import in &imports {
        let package = package_with_wasmclouds_deps(&format!("package trellis:conformance;\n\nworld one {{\n    import {import};\n}}\n"));
        if let Err(e) = links_to_trellis(&runtime, &component_importing(package.path(), "one")) {
            failures.push(format!("{import}: {e:#}"));
        }
    }
    assert!(failures.is_empty(), "interfaces of wasmCloud's host WIT that do not link on Trellis:\n{}", failures.join("\n"));
    let all = package_with_wasmclouds_deps(HOST_WORLD);
    links_to_trellis(&runtime, &component_importing(all.path(), "interfaces")).unwrap();
    // The unversioned `wasi:logging` and the legacy `wasi:config/runtime`, as in wasmCloud's
    // `unversioned-interfaces` world and `config-legacy`.
    links_to_trellis(&runtime, &component_importing(&wit_dir(), "unversioned-interfaces")).unwrap();
    let legacy = package_with_wasmclouds_deps("package trellis:conformance;\n\nworld legacy {\n    import wasi:config/runtime@0.2.0-draft;\n}\n");
    copy_dir(&wit_dir().join("config-legacy"), &legacy.path().join("deps/config-legacy"));
    std::fs::remove_dir_all(legacy.path().join("deps/config")).unwrap();
    links_to_trellis(&runtime, &component_importing(legacy.path(), "legacy")).unwrap();
}

/// The check above is not vacuous: an import whose shape differs from Trellis' fails to link.
#[test]
fn a_differing_shape_fails_to_link() {
    let runtime = Runtime::new(RuntimeConfig { pooling: false, cache_dir: None, ..RuntimeConfig::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("world.wit"),
        "package trellis:conformance;\n\nworld wrong {\n    import wasi:keyvalue/store@0.2.0-draft;\n}\n",
    )
    .unwrap();
    let store = dir.path().join("deps/keyvalue");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(
        store.join("store.wit"),
        "package wasi:keyvalue@0.2.0-draft;\n\ninterface store {\n    open: func(identifier: string) -> result<u32, string>;\n}\n",
    )
    .unwrap();
    let err = links_to_trellis(&runtime, &component_importing(dir.path(), "wrong")).unwrap_err();
    assert!(format!("{err:#}").contains("open"), "{err:#}");
}
