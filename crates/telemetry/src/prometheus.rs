//! The Prometheus endpoint: the meter provider's instruments, read when scraped and written in
//! Prometheus's text format.
//!
//! It reads the same instruments the OTLP exporter pushes, through a pull reader on the same
//! meter provider, so the two never disagree. Names follow OpenTelemetry's Prometheus
//! compatibility rules: dots become underscores, the unit is a suffix (`_seconds`, `_bytes`),
//! monotonic sums end in `_total`, and histograms are `_bucket`/`_sum`/`_count`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

/// Bucket bounds, in seconds, for durations from a fast guest call (100 µs) to a slow request (10 s).
pub const SECONDS_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A reader the endpoint collects from when scraped. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PullReader(Arc<ManualReader>);

impl PullReader {
    pub(crate) fn new() -> PullReader {
        PullReader(Arc::new(ManualReader::builder().with_temporality(Temporality::Cumulative).build()))
    }

    /// Every instrument's current value, in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut metrics = ResourceMetrics::default();
        if let Err(e) = self.0.collect(&mut metrics) {
            tracing::debug!("collecting metrics: {e}");
        }
        encode(&metrics)
    }
}

impl MetricReader for PullReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Serves `GET /metrics` on `address` until the process ends; returns the address bound.
pub(crate) async fn serve(address: SocketAddr, reader: PullReader) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let reader = reader.clone();
            async move {
                let body = tokio::task::spawn_blocking(move || reader.render()).await.unwrap_or_default();
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(address = %bound, "the metrics endpoint stopped: {e}");
        }
    });
    Ok(bound)
}

/// Writes `metrics` in Prometheus's text exposition format (version 0.0.4).
pub fn encode(metrics: &ResourceMetrics) -> String {
    let mut out = String::with_capacity(4096);
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            match metric.data() {
                AggregatedMetrics::F64(data) => write_metric(&mut out, metric, data, |v| *v),
                AggregatedMetrics::U64(data) => write_metric(&mut out, metric, data, |v| *v as f64),
                AggregatedMetrics::I64(data) => write_metric(&mut out, metric, data, |v| *v as f64),
            }
        }
    }
    out
}

fn write_metric<T>(out: &mut String, metric: &Metric, data: &MetricData<T>, value: impl Fn(&T) -> f64)
where
    T: Copy,
{
    let base = metric_name(metric.name(), metric.unit());
    match data {
        MetricData::Sum(sum) => {
            let (name, kind) = if sum.is_monotonic() { (format!("{base}_total"), "counter") } else { (base, "gauge") };
            header(out, &name, metric.description(), kind);
            for point in sum.data_points() {
                sample(out, &name, point.attributes(), None, value(&point.value()));
            }
        }
        MetricData::Gauge(gauge) => {
            header(out, &base, metric.description(), "gauge");
            for point in gauge.data_points() {
                sample(out, &base, point.attributes(), None, value(&point.value()));
            }
        }
        MetricData::Histogram(histogram) => {
            header(out, &base, metric.description(), "histogram");
            let bucket = format!("{base}_bucket");
            for point in histogram.data_points() {
                let mut cumulative = 0;
                for (bound, count) in point.bounds().zip(point.bucket_counts()) {
                    cumulative += count;
                    sample(out, &bucket, point.attributes(), Some(&bound.to_string()), cumulative as f64);
                }
                sample(out, &bucket, point.attributes(), Some("+Inf"), point.count() as f64);
                sample(out, &format!("{base}_sum"), point.attributes(), None, value(&point.sum()));
                sample(out, &format!("{base}_count"), point.attributes(), None, point.count() as f64);
            }
        }
        // Nothing here records exponential histograms.
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn header(out: &mut String, name: &str, description: &str, kind: &str) {
    if !description.is_empty() {
        let _ = writeln!(out, "# HELP {name} {}", description.replace('\\', "\\\\").replace('\n', "\\n"));
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample<'a>(out: &mut String, name: &str, attributes: impl Iterator<Item = &'a KeyValue>, le: Option<&str>, value: f64) {
    out.push_str(name);
    let mut labels: Vec<(String, String)> = attributes.map(|kv| (sanitize(kv.key.as_str()), label_value(&kv.value))).collect();
    labels.sort();
    if let Some(le) = le {
        labels.push(("le".into(), le.into()));
    }
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        value.to_string()
    }
}

fn label_value(value: &Value) -> String {
    value.as_str().into_owned()
}

/// `trellis.component.invocation.duration` in `s` → `trellis_component_invocation_duration_seconds`.
fn metric_name(name: &str, unit: &str) -> String {
    let mut name = sanitize(name);
    let suffix = match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "1" => "ratio",
        _ => "",
    };
    if !suffix.is_empty() && !name.ends_with(suffix) {
        name.push('_');
        name.push_str(suffix);
    }
    name
}

fn sanitize(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    #[test]
    fn counters_histograms_and_gauges_in_the_text_format() {
        let reader = PullReader::new();
        let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
        let meter = provider.meter("test");
        let calls = meter.u64_counter("trellis.component.invocations").with_description("Invocations").with_unit("{invocation}").build();
        let duration = meter.f64_histogram("trellis.component.invocation.duration").with_unit("s").with_boundaries(vec![0.001, 0.01]).build();
        let active = meter.i64_up_down_counter("trellis.component.instances.active").build();
        let attrs = [KeyValue::new("component", "say\"hi\""), KeyValue::new("outcome", "ok")];
        calls.add(3, &attrs);
        duration.record(0.005, &attrs);
        duration.record(0.5, &attrs);
        active.add(2, &[]);
        let text = reader.render();
        assert!(text.contains("# HELP trellis_component_invocations_total Invocations\n# TYPE trellis_component_invocations_total counter\n"), "{text}");
        assert!(text.contains("trellis_component_invocations_total{component=\"say\\\"hi\\\"\",outcome=\"ok\"} 3\n"), "{text}");
        assert!(text.contains("# TYPE trellis_component_invocation_duration_seconds histogram\n"), "{text}");
        assert!(text.contains("trellis_component_invocation_duration_seconds_bucket{component=\"say\\\"hi\\\"\",outcome=\"ok\",le=\"0.001\"} 0\n"), "{text}");
        assert!(text.contains("le=\"0.01\"} 1\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("trellis_component_invocation_duration_seconds_sum{component=\"say\\\"hi\\\"\",outcome=\"ok\"} 0.505\n"), "{text}");
        assert!(text.contains("trellis_component_invocation_duration_seconds_count{component=\"say\\\"hi\\\"\",outcome=\"ok\"} 2\n"), "{text}");
        assert!(text.contains("# TYPE trellis_component_instances_active gauge\ntrellis_component_instances_active 2\n"), "{text}");
    }

    #[test]
    fn names_follow_the_compatibility_rules() {
        assert_eq!(metric_name("http.server.request.duration", "s"), "http_server_request_duration_seconds");
        assert_eq!(metric_name("trellis.oci.pull.size", "By"), "trellis_oci_pull_size_bytes");
        assert_eq!(metric_name("x.seconds", "s"), "x_seconds");
        assert_eq!(metric_name("9lives", "{thing}"), "_9lives");
    }
}
