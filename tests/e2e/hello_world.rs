//! The README's hello-world: the example manifest, unchanged but for its port, served.

use std::path::Path;

use crate::util::*;

/// Copies `examples/hello-world` (manifest and built component) to a temp dir, as a user's
/// checkout would have it after building, listening on `port`.
pub(crate) fn example_on(port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(Path::new(guests::HELLO_WORLD_EXAMPLE_DIR).join("wadm.yaml")).unwrap();
    assert!(manifest.contains("address: 127.0.0.1:8000"), "the example's listener moved; update this test");
    std::fs::write(dir.path().join("wadm.yaml"), manifest.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"))).unwrap();
    std::fs::create_dir(dir.path().join("build")).unwrap();
    std::fs::copy(guests::HELLO_WORLD_EXAMPLE, dir.path().join("build/http_hello_world.wasm")).unwrap();
    dir
}

#[test]
fn hello_world_example_answers_and_stops_cleanly() {
    let port = free_port();
    let example = example_on(port);
    let up = Up::start(&[&example.path().join("wadm.yaml")], &[]).unwrap();
    assert!(up.stdout.contains(&format!("http://127.0.0.1:{port}/ -> http-component")), "{}", up.stdout);
    let reply = get(&format!("http://127.0.0.1:{port}/"), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "Hello from Rust!\n"));
    assert!(up.terminate().success());
}

#[test]
fn in_flight_requests_finish_on_shutdown() {
    let port = free_port();
    let m = manifest(&app(
        "slow",
        &[component("faults", guests::FAULTS, 4, ""), http_server("http", &[], &[("faults", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}/slow");
    let request = std::thread::spawn(move || get(&url, None));
    // Signal only once the request is inside the guest.
    up.wait_for_log(&["slow request started"]);
    up.signal_terminate();
    let reply = request.join().unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done"));
    assert!(up.wait().success());
}

#[test]
fn guest_output_goes_to_the_log_tagged_with_the_component() {
    let port = free_port();
    let m = manifest(&app(
        "printer",
        &[component("faults", guests::FAULTS, 1, ""), http_server("http", &[], &[("faults", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{port}/print"), None).body, "printed");
    let log = up.log();
    let line = log.lines().find(|l| l.contains("hello on stdout")).unwrap_or_else(|| panic!("no guest line in:\n{log}"));
    assert!(line.contains("component=printer-faults") && line.contains("stream=\"stdout\""), "{line}");
    assert!(log.lines().any(|l| l.contains("hello on stderr") && l.contains("stream=\"stderr\"")), "{log}");
}
