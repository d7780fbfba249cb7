//! Observability end to end: traces exported over OTLP/HTTP to a collector run here (no
//! collector can be installed, so the test decodes OTLP's own protobuf messages), one trace
//! across two hosts and NATS, the client's `traceparent` honoured, JSON log lines carrying the
//! trace, a real Prometheus scraping `/metrics`, and a collector that is down costing requests
//! nothing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;

use crate::lattice::Node;
use crate::util::{Nats, Up, app, component, free_port, get, get_with, guests, http_server, manifest, trellis, until};

/// A span as the collector got it, with the `process.pid` of the process that sent it.
#[derive(Debug, Clone)]
struct Received {
    pid: i64,
    name: String,
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// A log record as the collector got it.
#[derive(Debug, Clone)]
struct Record {
    body: String,
    trace_id: Vec<u8>,
}

/// An OTLP/HTTP receiver of traces, metrics (their names) and logs on loopback.
struct Collector {
    url: String,
    spans: Arc<Mutex<Vec<Received>>>,
    metrics: Arc<Mutex<Vec<String>>>,
    logs: Arc<Mutex<Vec<Record>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Collector {
    fn start() -> Collector {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let store = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP/HTTP protobuf body");
                    let mut store = store.lock().unwrap();
                    for resource in request.resource_spans {
                        let pid = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|kv| kv.key == "process.pid")
                            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                any_value::Value::IntValue(pid) => Some(*pid),
                                _ => None,
                            })
                            .unwrap_or_default();
                        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                            store.push(Received { pid, name: span.name, kind: span.kind, trace_id: span.trace_id, span_id: span.span_id, parent_span_id: span.parent_span_id });
                        }
                    }
                    ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
                }
            }),
        );
        let metrics: Arc<Mutex<Vec<String>>> = Arc::default();
        let logs: Arc<Mutex<Vec<Record>>> = Arc::default();
        let (metric_store, log_store) = (metrics.clone(), logs.clone());
        let app = app
            .route(
                "/v1/metrics",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let store = metric_store.clone();
                    async move {
                        let request = ExportMetricsServiceRequest::decode(body).expect("an OTLP/HTTP protobuf body");
                        let names = request.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics).map(|m| m.name);
                        store.lock().unwrap().extend(names);
                        ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], ExportMetricsServiceResponse::default().encode_to_vec())
                    }
                }),
            )
            .route(
                "/v1/logs",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let store = log_store.clone();
                    async move {
                        let request = ExportLogsServiceRequest::decode(body).expect("an OTLP/HTTP protobuf body");
                        let records = request.resource_logs.into_iter().flat_map(|r| r.scope_logs).flat_map(|s| s.log_records).map(|r| Record {
                            body: match r.body.and_then(|b| b.value) {
                                Some(any_value::Value::StringValue(s)) => s,
                                other => format!("{other:?}"),
                            },
                            trace_id: r.trace_id,
                        });
                        store.lock().unwrap().extend(records);
                        ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], ExportLogsServiceResponse::default().encode_to_vec())
                    }
                }),
            );
        runtime.spawn(async move { axum::serve(listener, app).await });
        Collector { url, spans, metrics, logs, _runtime: runtime }
    }

    /// The spans of trace `trace_id` once `done` says they are all there.
    fn trace(&self, trace_id: &[u8], done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        until("the trace's spans to reach the collector", Duration::from_secs(30), || {
            let spans: Vec<Received> = self.spans.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect();
            done(&spans).then_some(spans)
        })
    }
}

/// A client's own trace and span ids, and the `traceparent` that carries them.
struct ClientSpan {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    traceparent: String,
}

impl ClientSpan {
    fn new(seed: u8) -> ClientSpan {
        let trace_id: Vec<u8> = (0..16).map(|i| seed.wrapping_mul(31).wrapping_add(i)).collect();
        let span_id: Vec<u8> = (0..8).map(|i| seed.wrapping_add(i * 7 + 1)).collect();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let traceparent = format!("00-{}-{}-01", hex(&trace_id), hex(&span_id));
        ClientSpan { trace_id, span_id, traceparent }
    }
}

fn find<'a>(spans: &'a [Received], what: &str, matches: impl Fn(&Received) -> bool) -> &'a Received {
    spans.iter().find(|s| matches(s)).unwrap_or_else(|| panic!("no span {what} in {spans:#?}"))
}

#[test]
fn a_request_through_two_hosts_and_nats_is_one_trace_under_the_clients_span() {
    let collector = Collector::start();
    let nats = Nats::start_jetstream();
    let traced = ["--enable-traces", "--override-observability-endpoint", &collector.url];
    // Batches leave every 200 ms, so the test waits little.
    let env = [("OTEL_BSP_SCHEDULE_DELAY", "200")];
    let _front = Node::start_env(&nats, "host", &[&["--label", "role=front"][..], &traced].concat(), &env);
    let _back = Node::start_env(&nats, "host", &[&["--label", "role=back"][..], &traced].concat(), &env);
    let _manager = Node::start(&nats, "manager", &["--resync-interval-ms", "500"]);

    let port = free_port();
    let only = |role: &str| format!("            spread:\n              - name: {role}\n                requirements:\n                  role: {role}\n");
    let callee = component("callee", guests::CALLEE, 1, "").replace("spreadscaler", "daemonscaler").replace("            instances: 1\n", &format!("            instances: 1\n{}", only("back")));
    let file = manifest(&app(
        "traced",
        &[callee, crate::calls::caller(1, &only("front")), http_server("http", &[], &[("caller", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let out = trellis().args(["--nats", &nats.url, "app", "deploy", file.path.to_str().unwrap(), "--wait"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = format!("http://127.0.0.1:{port}/greet/Ann/1");
    until("the caller to serve on the front host", Duration::from_secs(30), || (crate::util::try_get(&url) == Some(200)).then_some(()));

    let client = ClientSpan::new(7);
    let reply = get_with(&url, &[("traceparent", &client.traceparent)]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.starts_with("Hello, Ann!"), "{}", reply.body);

    let server = SpanKind::Server as i32;
    let spans = collector.trace(&client.trace_id, |spans| spans.len() >= 5);
    let http = find(&spans, "for the HTTP request", |s| s.kind == server && s.name == "GET");
    assert_eq!(http.parent_span_id, client.span_id, "the client's traceparent is the root's parent");
    let front = find(&spans, "for the caller's invocation", |s| s.name.starts_with("traced-caller ") && s.parent_span_id == http.span_id);
    let call = find(&spans, "for the call to the callee", |s| s.kind == SpanKind::Client as i32 && s.parent_span_id == front.span_id);
    assert!(call.name.starts_with("traced-callee trellis:calls/greeter"), "{}", call.name);
    let served = find(&spans, "for serving the call on the back host", |s| s.kind == server && s.parent_span_id == call.span_id);
    let back = find(&spans, "for the callee's invocation", |s| s.name.starts_with("traced-callee ") && s.parent_span_id == served.span_id);
    assert_eq!(back.name, "traced-callee trellis:calls/greeter@0.1.0.greet");
    assert_eq!([http.pid, front.pid, call.pid], [front.pid; 3], "the front host's spans");
    assert_eq!(served.pid, back.pid);
    assert_ne!(front.pid, back.pid, "one trace, two hosts: {spans:#?}");
    let ids: HashSet<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
    assert_eq!(ids.len(), spans.len(), "every span is its own");
}

#[test]
fn json_log_lines_carry_the_trace_and_guest_output_is_in_it() {
    let collector = Collector::start();
    let port = free_port();
    let file = manifest(&app(
        "printing",
        &[component("faults", guests::FAULTS, 4, ""), http_server("http", &[], &[("faults", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let endpoint = format!("{}/v1/traces", collector.url);
    let up = Up::start_under(
        &["env", "OTEL_BSP_SCHEDULE_DELAY=200"],
        &[&file.path],
        &["--log-format", "json", "--enable-traces", "--override-traces-endpoint", &endpoint],
    )
    .unwrap();
    let client = ClientSpan::new(42);
    let reply = get_with(&format!("http://127.0.0.1:{port}/print"), &[("traceparent", &client.traceparent)]);
    assert_eq!((reply.status, reply.body.as_str()), (200, "printed"));

    let spans = collector.trace(&client.trace_id, |spans| spans.len() >= 2);
    let invoke = find(&spans, "for the invocation", |s| s.name.starts_with("printing-faults "));
    let log = up.wait_for_log(&["hello on stdout"]);
    let line = log.lines().find(|l| l.contains("hello on stdout")).unwrap();
    let line: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(line["target"], "guest", "{line}");
    assert_eq!(line["fields"]["component"], "printing-faults", "{line}");
    assert_eq!(line["trace_id"], hex(&client.trace_id), "{line}");
    assert_eq!(line["span_id"], hex(&invoke.span_id), "the guest's line belongs to its invocation: {line}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("every line is JSON ({e}): {line}"));
    }
}

#[test]
fn metrics_and_logs_go_out_over_otlp_too_and_log_records_carry_the_trace() {
    let collector = Collector::start();
    let port = free_port();
    let file = manifest(&app(
        "exported",
        &[component("faults", guests::FAULTS, 4, ""), http_server("http", &[], &[("faults", &[("address", &format!("127.0.0.1:{port}"))])])],
    ));
    let _up = Up::start_under(
        &["env", "OTEL_METRIC_EXPORT_INTERVAL=300", "OTEL_BLRP_SCHEDULE_DELAY=200"],
        &[&file.path],
        &["--enable-observability", "--override-observability-endpoint", &collector.url],
    )
    .unwrap();
    let client = ClientSpan::new(99);
    let reply = get_with(&format!("http://127.0.0.1:{port}/print"), &[("traceparent", &client.traceparent)]);
    assert_eq!((reply.status, reply.body.as_str()), (200, "printed"));

    let record = until("the guest's line to reach the collector as a log record", Duration::from_secs(30), || {
        collector.logs.lock().unwrap().iter().find(|r| r.body == "hello on stdout").cloned()
    });
    assert_eq!(record.trace_id, client.trace_id, "the record belongs to the request's trace");
    until("the invocation counter to reach the collector", Duration::from_secs(30), || {
        let names = collector.metrics.lock().unwrap();
        (names.iter().any(|n| n == "trellis.component.invocations") && names.iter().any(|n| n == "http.server.request.duration")).then_some(())
    });
    collector.trace(&client.trace_id, |spans| !spans.is_empty());
}

#[test]
fn a_message_carries_its_publishers_trace_over_nats_to_the_handler() {
    let collector = Collector::start();
    let nats = Nats::start();
    let port = free_port();
    let m = crate::messaging::messaging_app("ghcr.io/wasmcloud/messaging-nats:0.23.1", &[("cluster_uris", &nats.url)], "greet.*", port);
    let endpoint = format!("{}/v1/traces", collector.url);
    let up = Up::start_under(&["env", "OTEL_BSP_SCHEDULE_DELAY=200"], &[&m.path], &["--log-format", "json", "--enable-traces", "--override-traces-endpoint", &endpoint]).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let handled = |needle: &str| -> serde_json::Value {
        let log = up.wait_for_log(&[needle]);
        serde_json::from_str(log.lines().find(|l| l.contains(needle)).unwrap()).unwrap()
    };

    // A guest publishes inside a request: the handler's invocation is in the request's trace.
    let client = ClientSpan::new(5);
    let reply = get_with(&format!("http://127.0.0.1:{port}/publish/greet.world/hi"), &[("traceparent", &client.traceparent)]);
    assert_eq!(reply.body, "published");
    assert_eq!(handled("handled greet.world: hi")["trace_id"], hex(&client.trace_id));
    let spans = collector.trace(&client.trace_id, |spans| spans.iter().any(|s| s.name == "receive greet.world"));
    let publisher = find(&spans, "for the publishing invocation", |s| s.name == "chat-messenger wasi:http/incoming-handler.handle");
    let receive = find(&spans, "for the delivery", |s| s.name == "receive greet.world");
    assert_eq!((receive.kind, receive.parent_span_id.as_slice()), (SpanKind::Consumer as i32, publisher.span_id.as_slice()));

    // Any NATS client's `traceparent` header is honoured the same way.
    let outsider = ClientSpan::new(6);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", outsider.traceparent.as_str());
        client.publish_with_headers("greet.outside", headers, "yo".into()).await.unwrap();
        client.flush().await.unwrap();
    });
    assert_eq!(handled("handled greet.outside: yo")["trace_id"], hex(&outsider.trace_id));
}

/// Debian's `prometheus`, scraping `target` every second, on loopback.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: trellis\n    static_configs:\n      - targets: ['{target}']\n")).unwrap();
        let port = free_port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("Debian's prometheus package (apt-get install prometheus)");
        let url = format!("http://127.0.0.1:{port}");
        until("Prometheus to be ready", Duration::from_secs(60), || (crate::util::try_get(&format!("{url}/-/ready")) == Some(200)).then_some(()));
        Prometheus { child, url, _dir: dir }
    }

    /// The value of an instant PromQL query that yields one number.
    fn value(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql.bytes().map(|b| if b.is_ascii_alphanumeric() || b"_.-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let reply = get(&format!("{}/api/v1/query?query={encoded}", self.url), None);
        let body: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_a_host_and_answers_for_its_invocations() {
    let (port, metrics) = (free_port(), free_port());
    let file = manifest(&app("counted", &[component("hello", guests::HELLO, 4, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])]));
    let metrics_address = format!("127.0.0.1:{metrics}");
    let _up = Up::start(&[&file.path], &["--metrics-listen", &metrics_address]).unwrap();
    let prometheus = Prometheus::start(&metrics_address);
    for _ in 0..25 {
        assert_eq!(get(&format!("http://127.0.0.1:{port}/"), None).status, 200);
    }
    let invocations = r#"sum(trellis_component_invocations_total{trellis_component_id="counted-hello"})"#;
    let counted = until("Prometheus to have scraped 25 invocations", Duration::from_secs(30), || prometheus.value(invocations).filter(|&n| n >= 25.0));
    assert_eq!(counted, 25.0);
    let requests = r#"sum(http_server_request_duration_seconds_count{trellis_app="counted",http_response_status_code="200"})"#;
    assert_eq!(prometheus.value(requests), Some(25.0), "requests by app and status");
    let p99 = r#"histogram_quantile(0.99, sum by (le) (trellis_component_invocation_duration_seconds_bucket))"#;
    let p99 = until("a p99 from the duration histogram", Duration::from_secs(30), || prometheus.value(p99).filter(|v| v.is_finite()));
    assert!(p99 > 0.0 && p99 < 10.0, "p99 {p99} s");
}

#[test]
fn a_collector_that_is_down_costs_requests_nothing_and_the_drops_are_counted() {
    // Accepts connections and never answers: the worst a collector can do.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", black_hole.local_addr().unwrap());
    let (port, metrics) = (free_port(), free_port());
    let file = manifest(&app("unheard", &[component("hello", guests::HELLO, 4, ""), http_server("http", &[], &[("hello", &[("address", &format!("127.0.0.1:{port}"))])])]));
    let metrics_address = format!("127.0.0.1:{metrics}");
    let _up = Up::start_under(
        &["env", "OTEL_BSP_MAX_QUEUE_SIZE=16", "OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_EXPORTER_OTLP_TIMEOUT=2000"],
        &[&file.path],
        &["--enable-traces", "--override-traces-endpoint", &endpoint, "--metrics-listen", &metrics_address],
    )
    .unwrap();
    for i in 0..300 {
        let reply = get(&format!("http://127.0.0.1:{port}/"), None);
        assert_eq!(reply.status, 200, "request {i}: {}", reply.body);
    }
    let scrape = || get(&format!("http://{metrics_address}/metrics"), None).body;
    let counter = |text: &str, name: &str| -> f64 {
        text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let text = scrape();
    assert!(counter(&text, "trellis_telemetry_spans_dropped_total") > 0.0, "a full queue drops and counts:\n{text}");
    assert_eq!(counter(&text, "trellis_telemetry_spans_exported_total"), 0.0);
    until("the stalled export to be counted failed", Duration::from_secs(30), || (counter(&scrape(), "trellis_telemetry_spans_failed_total") > 0.0).then_some(()));
}
