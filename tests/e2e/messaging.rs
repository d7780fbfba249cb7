//! wasmcloud:messaging: publish, request/reply and delivery to handlers, on the in-process
//! broker and on a real NATS server, configured as wasmCloud's messaging-nats provider is.

use crate::util::*;

/// A link trait of `wasmcloud:messaging` `interfaces` from the component to `target`.
fn messaging_link(interfaces: &str, target: &str) -> String {
    format!("        - type: link\n          properties:\n            namespace: wasmcloud\n            package: messaging\n            interfaces: [{interfaces}]\n            target:\n              name: {target}\n")
}

/// Messaging capability `bus`, with `config`, subscribing each `(component, handler interface,
/// SUBSCRIPTIONS)`.
fn bus(image: &str, config: &[(&str, &str)], handlers: &[(&str, &str, &str)]) -> String {
    let mut bus = format!("    - name: bus\n      type: capability\n      properties:\n        image: {image}\n");
    if !config.is_empty() {
        bus += "        config:\n          - name: bus-config\n            properties:\n";
        for (k, v) in config {
            bus += &format!("              {k}: \"{v}\"\n");
        }
    }
    bus += "      traits:\n";
    for (target, interface, subscriptions) in handlers {
        bus += &messaging_link(interface, target);
        bus += &format!("            source:\n              config:\n                - name: subs-{target}\n                  properties:\n                    SUBSCRIPTIONS: \"{subscriptions}\"\n");
    }
    bus
}

/// The messenger guest linked to capability `bus` (consumer) and subscribed by it (handler).
pub(crate) fn messaging_app(image: &str, bus_config: &[(&str, &str)], subscriptions: &str, port: u16) -> ManifestFile {
    let messenger = component("messenger", guests::MESSENGER, 8, "") + &messaging_link("consumer", "bus");
    let bus = bus(image, bus_config, &[("messenger", "handler", subscriptions)]);
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
    up.wait_for_log(&["handled greet.world: hi", "component=chat-messenger"]);

    // A handler's error is logged, naming the component.
    get(&format!("{base}/publish/greet.x/fail"), None);
    up.wait_for_log(&["wasmcloud:messaging/handler.handle-message returned an error: asked to fail", "chat-messenger"]);

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

/// `wasmcloud:messaging@0.3.0` (messenger3) beside 0.2.0 (messenger) on one bus: each version's
/// requests reach the other version's handler, and a 0.3.0 handler answers with `reply`.
/// `no_answer` is what the guest gets when nobody answers its request.
fn exercise_both_versions(image: &str, bus_config: &[(&str, &str)], no_answer: &str) {
    let (port2, port3) = (free_port(), free_port());
    let m = manifest(&app(
        "mixed",
        &[
            component("messenger", guests::MESSENGER, 4, "") + &messaging_link("consumer", "bus"),
            component("messenger3", guests::MESSENGER3, 4, "") + &messaging_link("producer, request-reply", "bus"),
            bus(image, bus_config, &[("messenger", "handler", "v2.*"), ("messenger3", "incoming-handler", "v3.*")]),
            http_server(
                "http",
                &[],
                &[("messenger", &[("address", &format!("127.0.0.1:{port2}"))]), ("messenger3", &[("address", &format!("127.0.0.1:{port3}"))])],
            ),
        ],
    ));
    let up = Up::start(&[&m.path], &[]).unwrap();
    let (v2, v3) = (format!("http://127.0.0.1:{port2}"), format!("http://127.0.0.1:{port3}"));

    // A 0.3.0 request answered by a 0.2.0 handler, and the other way round.
    let reply = get(&format!("{v3}/request/v2.echo/ping"), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "reply: echo: ping"));
    let reply = get(&format!("{v2}/request/v3.echo/pong"), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "reply: echo3: pong"));
    let reply = get(&format!("{v3}/request/v3.echo/self"), None);
    assert_eq!((reply.status, reply.body.as_str()), (200, "reply: echo3: self"));

    // `send` reaches the 0.3.0 handler, which sees the topic.
    assert_eq!(get(&format!("{v3}/publish/v3.note/hi"), None).body, "published");
    up.wait_for_log(&["handled3 v3.note: hi", "component=mixed-messenger3"]);

    // Its error is logged, naming component and function.
    get(&format!("{v2}/publish/v3.x/fail"), None);
    up.wait_for_log(&["wasmcloud:messaging/incoming-handler.handle returned an error: asked to fail", "mixed-messenger3"]);

    // Nobody answers: the guest gets an error case, not a trap.
    let nobody = get(&format!("{v3}/request/nobody.home/x"), None);
    assert_eq!(nobody.status, 502);
    assert!(nobody.body.starts_with("error: Error::") && nobody.body.contains(no_answer), "{}", nobody.body);
}

#[test]
fn messaging_0_3_beside_0_2_in_process() {
    // The in-process broker knows no "no responders": the request waits out its timeout.
    exercise_both_versions("wasmcloud+builtin://messaging", &[], "Error::Timeout");
}

#[test]
fn messaging_0_3_beside_0_2_on_nats() {
    let nats = Nats::start();
    exercise_both_versions("ghcr.io/wasmcloud/messaging-nats:0.23.1", &[("cluster_uris", &nats.url)], "request to `nobody.home`: no responders");
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
