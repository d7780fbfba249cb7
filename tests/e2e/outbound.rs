//! Outbound HTTP: denied without an http-client link, granted by one, narrowed by
//! `allowed_hosts`, and a malformed pattern refused at deploy.

use crate::util::*;

/// The fetch guest, linked to an http-client capability when `client` is given, with the
/// link's target config `allowed_hosts` when that is given; hello on two more ports as upstreams.
fn outbound_app(fetch_port: u16, upstreams: [u16; 2], client: Option<Option<&str>>) -> ManifestFile {
    let mut fetch = component("fetch", guests::FETCH, 4, "");
    let mut parts = vec![];
    if let Some(allowed) = client {
        fetch += "        - type: link\n          properties:\n            namespace: wasi\n            package: http\n            interfaces: [outgoing-handler]\n            target:\n              name: egress\n";
        if let Some(allowed) = allowed {
            fetch += &format!("              config:\n                - name: egress-allow\n                  properties:\n                    allowed_hosts: \"{allowed}\"\n");
        }
        parts.push("    - name: egress\n      type: capability\n      properties:\n        image: ghcr.io/wasmcloud/http-client:0.12.1\n".to_string());
    }
    parts.insert(0, fetch);
    parts.push(component("hello", guests::HELLO, 4, ""));
    parts.push(component("hello2", guests::HELLO, 4, ""));
    parts.push(http_server(
        "http",
        &[],
        &[
            ("fetch", &[("address", &format!("127.0.0.1:{fetch_port}"))]),
            ("hello", &[("address", &format!("127.0.0.1:{}", upstreams[0]))]),
            ("hello2", &[("address", &format!("127.0.0.1:{}", upstreams[1]))]),
        ],
    ));
    manifest(&app("egress", &parts))
}

fn ports() -> (u16, [u16; 2]) {
    (free_port(), [free_port(), free_port()])
}

#[test]
fn without_a_link_outbound_http_is_denied_and_logged() {
    let (port, up_ports) = ports();
    let m = outbound_app(port, up_ports, None);
    let up = Up::start(&[&m.path], &[]).unwrap();
    let reply = get(&format!("http://127.0.0.1:{port}/http/127.0.0.1:{}/", up_ports[0]), None);
    assert_eq!((reply.status, reply.body.as_str()), (502, "error: ErrorCode::HttpRequestDenied"));
    let log = up.log();
    assert!(
        log.lines().any(|l| l.contains("outbound HTTP denied: the component has no http-client link")
            && l.contains("component=egress-fetch")
            && l.contains(&format!("uri=http://127.0.0.1:{}/", up_ports[0]))),
        "{log}"
    );
}

#[test]
fn a_link_grants_outbound_http_and_is_reported_as_unrestricted() {
    let (port, up_ports) = ports();
    let m = outbound_app(port, up_ports, Some(None));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let reply = get(&format!("http://127.0.0.1:{port}/http/127.0.0.1:{}/", up_ports[0]), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "upstream 200: Hello from Trellis!\n"));
    assert!(up.log().contains("component `fetch` may send HTTP requests to any host (unrestricted egress)"), "{}", up.log());
    // The app's status says so too: deployed, with the warning, its field and line.
    let status = up.cli_json(&["app", "status", "egress", "-o", "json"]);
    let message = status["status"]["message"].as_str().unwrap_or_default();
    assert_eq!(status["status"]["type"], "deployed", "{status}");
    assert!(message.starts_with("warning: component `fetch` may send HTTP requests to any host (unrestricted egress)") && message.contains("(spec.components[0].traits[1], line "), "{message}");
    let link = status["scalers"].as_array().unwrap().iter().find(|s| s["kind"] == "LinkScaler" && s["status"]["message"].as_str().unwrap_or_default().contains("unrestricted egress"));
    assert!(link.is_some(), "no link scaler carries the warning: {status}");
}

#[test]
fn allowed_hosts_narrows_the_grant() {
    let (port, up_ports) = ports();
    let allowed = format!("http://127.0.0.1:{}", up_ports[0]);
    let m = outbound_app(port, up_ports, Some(Some(&allowed)));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let ok = get(&format!("http://127.0.0.1:{port}/http/127.0.0.1:{}/", up_ports[0]), None);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let denied = get(&format!("http://127.0.0.1:{port}/http/127.0.0.1:{}/", up_ports[1]), None);
    assert_eq!((denied.status, denied.body.as_str()), (502, "error: ErrorCode::HttpRequestDenied"));
    let expected = format!("outbound HTTP denied: http://127.0.0.1:{} is not in the link's allowed_hosts ({allowed})", up_ports[1]);
    assert!(up.log().contains(&expected), "{}", up.log());
    assert!(!up.log().contains("unrestricted egress"));
    assert!(!up.cli_json(&["app", "status", "egress", "-o", "json"]).to_string().contains("unrestricted egress"));
}

#[test]
fn a_malformed_pattern_fails_the_deploy() {
    let (port, up_ports) = ports();
    let m = outbound_app(port, up_ports, Some(Some("https://api.example.com/v1")));
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(
        err.contains("spec.components[0].traits[1].properties.target.config: allowed_hosts of the link from `fetch` to `egress`: `https://api.example.com/v1` is not a host pattern: a pattern names a host, not a path, query or user"),
        "{err}"
    );
}
