//! The runtime without a host: compilation cache and component preparation.

use trellis_runtime::{Allocation, Limits, LoadedFrom, Runtime, RuntimeConfig};

fn runtime(cache: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig { cache_dir: Some(cache.to_owned()), max_instances: 8, ..RuntimeConfig::default() }).unwrap()
}

#[test]
fn compiled_components_are_cached_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(trellis_test_guests::HELLO).unwrap();
    let rt = runtime(dir.path());
    assert_eq!(rt.allocation(), Allocation::Pooling);
    assert_eq!(rt.compile("hello", &wasm).unwrap().1, LoadedFrom::Compiled);
    // The same runtime shares the copy it has.
    assert_eq!(rt.compile("hello-again", &wasm).unwrap().1, LoadedFrom::Memory);
    // A new runtime (a restart) finds it.
    let rt = runtime(dir.path());
    assert_eq!(rt.compile("hello", &wasm).unwrap().1, LoadedFrom::Cache);
    // Other bytes are another entry.
    let other = std::fs::read(trellis_test_guests::FAULTS).unwrap();
    assert_eq!(rt.compile("faults", &other).unwrap().1, LoadedFrom::Compiled);
}

#[test]
fn concurrent_loads_of_the_same_bytes_compile_once() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(trellis_test_guests::HELLO).unwrap();
    let rt = runtime(dir.path());
    let (rt, wasm) = (&rt, &wasm);
    let from: Vec<LoadedFrom> = std::thread::scope(|s| {
        let loads: Vec<_> = (0..4).map(|i| s.spawn(move || rt.compile(&format!("hello-{i}"), wasm).unwrap().1)).collect();
        loads.into_iter().map(|l| l.join().unwrap()).collect()
    });
    assert_eq!(from.iter().filter(|f| **f == LoadedFrom::Compiled).count(), 1, "{from:?}");
    assert_eq!(from.iter().filter(|f| **f == LoadedFrom::Memory).count(), 3, "{from:?}");
}

#[test]
fn a_corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(trellis_test_guests::HELLO).unwrap();
    runtime(dir.path()).compile("hello", &wasm).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a compiled component").unwrap();
    }
    let rt = runtime(dir.path());
    assert_eq!(rt.compile("hello", &wasm).unwrap().1, LoadedFrom::Compiled);
    assert_eq!(runtime(dir.path()).compile("hello", &wasm).unwrap().1, LoadedFrom::Cache);
}

#[test]
fn not_a_component_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = runtime(dir.path()).compile("junk", b"\0asm junk").unwrap_err();
    assert!(format!("{err:#}").contains("compiling component `junk`"), "{err:#}");
}

#[test]
fn manifest_limits_are_capped_by_the_host() {
    let host = Limits { max_execution_time: std::time::Duration::from_secs(5), max_linear_memory_bytes: 1 << 20 };
    let asked = Limits { max_execution_time: std::time::Duration::from_secs(50), max_linear_memory_bytes: 1 << 10 };
    assert_eq!(asked.capped_by(host), Limits { max_execution_time: host.max_execution_time, max_linear_memory_bytes: 1 << 10 });
}

#[test]
fn prepared_components_carry_limits_and_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let (component, _) = rt.compile("hello", &std::fs::read(trellis_test_guests::HELLO).unwrap()).unwrap();
    let mut linker = rt.linker().unwrap();
    let prepared = rt.prepare("hello", &component, &mut linker, trellis_runtime::Grants::default(), Limits::default(), 7).unwrap();
    assert_eq!(prepared.id(), "hello");
    assert_eq!(prepared.max_concurrency(), 7);
    assert_eq!(prepared.limits(), Limits::default());
}

/// Components in the wild were built against every WASI 0.2 patch release, and some against
/// releases newer than this host's: each imports `wasi:clocks` and `wasi:random` at its own
/// version, and each links to the host's 0.2 implementation and runs.
#[test]
fn every_wasi_0_2_patch_release_links() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for version in ["0.2.0", "0.2.1", "0.2.2", "0.2.3", "0.2.6", "0.2.8", "0.2.12", "0.2.99"] {
        let text = format!(
            r#"(component
                 (import "wasi:clocks/monotonic-clock@{version}" (instance $clock (export "now" (func (result u64)))))
                 (import "wasi:random/random@{version}" (instance $random (export "get-random-u64" (func (result u64)))))
                 (core func $now (canon lower (func $clock "now")))
                 (core func $rand (canon lower (func $random "get-random-u64")))
                 (core module $m
                   (import "host" "now" (func $now (result i64)))
                   (import "host" "rand" (func $rand (result i64)))
                   (func (export "run") (result i64) call $rand drop call $now))
                 (core instance $host (export "now" (func $now)) (export "rand" (func $rand)))
                 (core instance $i (instantiate $m (with "host" (instance $host))))
                 (func (export "run") (result u64) (canon lift (core func $i "run"))))"#
        );
        let component = trellis_runtime::wasmtime::component::Component::new(rt.engine(), &text).unwrap();
        let mut linker = rt.linker().unwrap();
        let id = format!("wasi-{version}");
        let prepared = rt.prepare(&id, &component, &mut linker, trellis_runtime::Grants::default(), Limits::default(), 1).unwrap();
        let now = tokio.block_on(async {
            let trellis_runtime::Invocation { mut store, guard } = prepared.begin("run").await.unwrap();
            let instance = guard.run(prepared.instance_pre().instantiate_async(&mut store)).await.unwrap_or_else(|e| panic!("{id}: {e}"));
            let run = instance.get_typed_func::<(), (u64,)>(&mut store, "run").unwrap();
            guard.run(run.call_async(&mut store, ())).await.unwrap_or_else(|e| panic!("{id}: {e}")).0
        });
        assert!(now > 0, "{id}: the host's monotonic clock answered");
    }
}
