//! wasmcloud:messaging: publish, request/reply and delivery to handlers, on the in-process
//! broker and on a real NATS server, configured as wasmCloud's messaging-nats provider is.

use crate::util::*;

/// The messenger guest linked to capability `bus` (consumer) and subscribed by it (handler).
fn messaging_app(image: &str, bus_config: &[(&str, &str)], subscriptions: &str, port: u16) -> ManifestFile {
    let mut messenger = component("messenger", guests::MESSENGER, 8, "");
    messenger += "        - type: link\n          properties:\n            namespace: wasmcloud\n            package: messaging\n            interfaces: [consumer]\n            target:\n              name: bus\n";
    let mut bus = format!("    - name: bus\n      type: capability\n      properties:\n        image: {image}\n");
    if !bus_config.is_empty() {
        bus += "        config:\n          - name: bus-config\n            properties:\n";
        for (k, v) in bus_config {
            bus += &format!("              {k}: \"{v}\"\n");
        }
    }
    bus += &format!(
        "      traits:\n        - type: link\n          properties:\n            namespace: wasmcloud\n            package: messaging\n            interfaces: [handler]\n            target:\n              name: messenger\n            source:\n              config:\n                - name: subs\n                  properties:\n                    SUBSCRIPTIONS: \"{subscriptions}\"\n"
    );
    manifest(&app("chat", &[messenger, bus, http_server("http", &[], &[("messenger", &[("address", &format!("127.0.0.1:{port}"))])])]))
}

fn exercise(image: &str, bus_config: &[(&str, &str)]) {
    let port = free_port();
    let m = messaging_app(image, bus_config, "greet.*,rpc.echo|workers", port);
    let up = Up::start(&[&m.path], &[]).unwrap();
    let base = format!("http://127.0.0.1:{port}");

    // Request/reply through a handler that answers on the reply subject.
    let reply = get(&format!("{base}/request/rpc.echo/ping"), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "reply: echo: ping"));

    // Fire and forget: the handler runs and prints.
    assert_eq!(get(&format!("{base}/publish/greet.world/hi"), None).body, "published");
    up.wait_for_log(&["handled greet.world: hi", "component=chat_messenger"]);

    // A handler's error is logged, naming the component.
    get(&format!("{base}/publish/greet.x/fail"), None);
    up.wait_for_log(&["wasmcloud:messaging/handler.handle-message returned an error: asked to fail", "chat_messenger"]);

    // Nobody subscribed: the request fails back to the guest, naming the subject.
    let nobody = get(&format!("{base}/request/nobody.home/x"), None);
    assert_eq!(nobody.status, 502);
    assert!(nobody.body.contains("request to `nobody.home`"), "{}", nobody.body);
}

#[test]
fn messaging_in_process() {
    exercise("wasmcloud+builtin://messaging", &[]);
}

#[test]
fn messaging_on_nats_as_wasmclouds_provider_configures_it() {
    let nats = Nats::start();
    exercise("ghcr.io/wasmcloud/messaging-nats:0.23.1", &[("cluster_uris", &nats.url)]);
}

#[test]
fn without_a_consumer_link_nothing_is_sent() {
    let port = free_port();
    let m = manifest(&app(
        "mute",
        &[component("messenger", guests::MESSENGER, 1, ""), http_server("http", &[], &[("messenger", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let _up = Up::start(&[&m.path], &[]).unwrap();
    let reply = get(&format!("http://127.0.0.1:{port}/publish/a.b/x"), None);
    assert_eq!(reply.status, 500);
    assert!(reply.body.contains("called `wasmcloud:messaging/consumer@0.2.0#publish`, but it has no link named `default` for `wasmcloud:messaging/consumer`"), "{}", reply.body);
}

#[test]
fn bad_subscriptions_and_unreachable_nats_fail_the_deploy() {
    let port = free_port();
    let m = messaging_app("wasmcloud+builtin://messaging", &[], "orders..new", port);
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(err.contains("spec.components[1].traits[0].properties.source.config: SUBSCRIPTIONS of the link to `messenger`: `orders..new` is not a subject"), "{err}");

    let dead = format!("nats://127.0.0.1:{}", free_port());
    let m = messaging_app("ghcr.io/wasmcloud/messaging-nats:0.23.1", &[("cluster_uris", &dead)], "a.b", port);
    let err = Up::start(&[&m.path], &[]).unwrap_err();
    assert!(err.contains(&format!("nats backend of `bus`: cannot connect to NATS at `{dead}`")), "{err}");
}
