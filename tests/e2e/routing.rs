//! The http-server capability's routing modes, several components behind one listener, and
//! conflicts refused with both owners named.

use crate::util::*;

#[test]
fn address_mode_gives_each_component_its_listener() {
    let (a, b) = (free_port(), free_port());
    let m = manifest(&app(
        "by-address",
        &[
            component("hello", guests::HELLO, 2, ""),
            component("faults", guests::FAULTS, 2, ""),
            http_server(
                "http",
                &[],
                &[("hello", &[("address", &format!("127.0.0.1:{a}"))]), ("faults", &[("address", &format!("127.0.0.1:{b}"))])],
            ),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    assert_eq!(get(&format!("http://127.0.0.1:{a}/anything"), None).body, "Hello from Trellis!\n");
    assert_eq!(get(&format!("http://127.0.0.1:{b}/"), None).body, "faults ok");
}

#[test]
fn path_mode_routes_two_components_on_one_listener() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let m = manifest(&app(
        "by-path",
        &[
            component("hello", guests::HELLO, 2, ""),
            component("faults", guests::FAULTS, 2, ""),
            http_server(
                "http",
                &[("routing_mode", "path"), ("default_address", &address)],
                &[("hello", &[("path", "/hello")]), ("faults", &[("path", "/")])],
            ),
        ],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    assert!(up.stdout.contains(&format!("http://{address}/hello -> hello")), "{}", up.stdout);
    assert_eq!(get(&format!("http://{address}/hello"), None).body, "Hello from Trellis!\n");
    assert_eq!(get(&format!("http://{address}/"), None).body, "faults ok");
    let missing = get(&format!("http://{address}/nowhere"), None);
    assert_eq!(missing.status, 404);
}

#[test]
fn host_mode_routes_by_host_header() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let m = manifest(&app(
        "by-host",
        &[
            component("hello", guests::HELLO, 2, ""),
            component("faults", guests::FAULTS, 2, ""),
            http_server(
                "http",
                &[("routing_mode", "host"), ("default_address", &address)],
                &[("hello", &[("host", "hello.example")]), ("faults", &[("host", "faults.example")])],
            ),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let url = format!("http://{address}/");
    assert_eq!(get(&url, Some("hello.example")).body, "Hello from Trellis!\n");
    assert_eq!(get(&url, Some("FAULTS.example:8080")).body, "faults ok");
    assert_eq!(get(&url, Some("other.example")).status, 404);
}

#[test]
fn two_apps_on_one_address_are_refused_naming_both() {
    let address = format!("127.0.0.1:{}", free_port());
    let one = manifest(&app("one", &[component("hello", guests::HELLO, 1, ""), http_server("http", &[], &[("hello", &[("address", &address)])])]));
    let two = manifest(&app("two", &[component("faults", guests::FAULTS, 1, ""), http_server("http", &[], &[("faults", &[("address", &address)])])]));
    let err = Up::start(&[&one.path, &two.path], &[]).unwrap_err();
    let expected = format!(
        "refusing to deploy two v0.1.0: spec.components[1].traits[0]: HTTP address {address} is already taken by deployed app `one` (spec.components[1].traits[0]); app `two` cannot have it too"
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_path_taken_twice_is_refused_naming_both() {
    let address = format!("127.0.0.1:{}", free_port());
    let config = [("routing_mode", "path"), ("default_address", address.as_str())];
    let one = manifest(&app("one", &[component("hello", guests::HELLO, 1, ""), http_server("http", &config, &[("hello", &[("path", "/api")])])]));
    let two = manifest(&app("two", &[component("faults", guests::FAULTS, 1, ""), http_server("http", &config, &[("faults", &[("path", "/api")])])]));
    let err = Up::start(&[&one.path, &two.path], &[]).unwrap_err();
    assert!(
        err.contains(&format!(
            "spec.components[1].traits[0]: HTTP route http://{address}/api is already taken by deployed app `one` (spec.components[1].traits[0]); app `two` cannot have it too"
        )),
        "{err}"
    );
}

#[test]
fn routing_modes_cannot_share_a_listener() {
    let address = format!("127.0.0.1:{}", free_port());
    let one = manifest(&app("one", &[component("hello", guests::HELLO, 1, ""), http_server("http", &[], &[("hello", &[("address", &address)])])]));
    let path = [("routing_mode", "path"), ("default_address", address.as_str())];
    let two = manifest(&app("two", &[component("faults", guests::FAULTS, 1, ""), http_server("http", &path, &[("faults", &[("path", "/x")])])]));
    let err = Up::start(&[&one.path, &two.path], &[]).unwrap_err();
    assert!(err.contains(&format!("address {address} routes by address for component `hello` of app `one`; component `faults` of app `two` asked to route it by path")), "{err}");
}

/// wasmCloud's per-link `readonly_mode`, `timeout_ms` and `cache_control`.
#[test]
fn link_settings_apply_to_each_request() {
    let port = free_port();
    let m = manifest(&app(
        "settings",
        &[
            component("faults", guests::FAULTS, 4, ""),
            http_server(
                "http",
                &[],
                &[("faults", &[("address", &format!("127.0.0.1:{port}")), ("readonly_mode", "true"), ("timeout_ms", "200"), ("cache_control", "max-age=60")])],
            ),
        ],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let ok = get(&format!("{base}/"), None);
    assert_eq!((ok.status, ok.header("cache-control")), (200, Some("max-age=60")));
    let post = post_zeros(&format!("{base}/upload"), 10);
    assert_eq!(post.status, 405, "{}", post.body);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert!(post.body.contains("component `faults` of app `settings` is read-only"), "{}", post.body);
    let slow = get(&format!("{base}/slow"), None);
    assert_eq!(slow.status, 408);
    assert!(slow.body.contains("did not answer within the link's timeout_ms of 200"), "{}", slow.body);
}
