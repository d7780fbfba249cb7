//! The compiled-component cache survives a restart.

use crate::util::*;

#[test]
fn second_start_loads_compiled_component_from_cache() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = manifest(&app(
        "cached",
        &[component("hello", guests::HELLO, 1, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let compiled = |log: &str| log.lines().filter(|l| l.contains("trellis_runtime::cache: compiled component")).count();
    let cached = |log: &str| log.lines().filter(|l| l.contains("loaded compiled component from cache")).count();

    let first = Up::start_in(&[&m.path], state.path(), &[]).unwrap();
    let log = first.log();
    assert_eq!((compiled(&log), cached(&log)), (1, 0), "{log}");
    assert!(first.terminate().success());

    let second = Up::start_in(&[&m.path], state.path(), &[]).unwrap();
    let log = second.log();
    assert_eq!((compiled(&log), cached(&log)), (0, 1), "{log}");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Trellis!\n");
}

/// Where the pool's address space cannot be reserved (here a 16 GiB `ulimit -v`), the host
/// warns once, falls back to on-demand allocation, and serves.
#[test]
fn pooling_falls_back_to_on_demand_with_one_warning() {
    let port = free_port();
    let m = manifest(&app(
        "small-machine",
        &[component("hello", guests::HELLO, 1, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let up = Up::start_under(&["prlimit", "--as=17179869184"], &[&m.path], &[]).unwrap();
    let log = up.log();
    let warnings: Vec<_> = log.lines().filter(|l| l.contains("falling back to on-demand allocation")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(log.contains("allocation=OnDemand"), "{log}");
    assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).body, "Hello from Trellis!\n");
}
