//! Trellis's observability: how a process's traces, metrics and logs are made, where they go,
//! and how a trace crosses from one process to the next.
//!
//! **Owns**
//! - the settings, in wasmCloud's spelling (`--enable-observability`, `WASMCLOUD_TRACES_ENABLED`,
//!   `--override-observability-endpoint`, `WASMCLOUD_OBSERVABILITY_PROTOCOL`...) and the standard
//!   `OTEL_*` variables the OpenTelemetry SDK reads ([`TelemetryArgs`]);
//! - the pipeline [`init`] installs: the `tracing` subscriber (text or JSON lines carrying trace
//!   and span ids), the OpenTelemetry tracer, meter and logger providers and their OTLP exporters;
//! - the span export queue, bounded, whose drops are counted ([`queue`]);
//! - the Prometheus endpoint, which reads the same instruments the OTLP exporter pushes
//!   ([`prometheus`]);
//! - W3C trace context (`traceparent`, `tracestate`) in and out of HTTP and NATS headers
//!   ([`propagation`]).
//!
//! **Does not touch** what is measured. Each crate names and records its own instruments through
//! the `opentelemetry` API and opens its spans with `tracing` under [`SPANS`]; until [`init`]
//! installs a pipeline those are no-ops, so libraries and their tests pay nothing.
//!
//! **Why spans go through `tracing`**: one span is then both the parent of the log lines written
//! inside it (which carry its ids) and the OpenTelemetry span exported. Spans are opened under
//! their own target, [`SPANS`], which only the OpenTelemetry layer enables: with traces off the
//! callsites are disabled outright and a request pays nothing for them.
//!
//! Start at [`init`].

mod json;
pub mod propagation;
pub mod prometheus;
pub mod queue;
mod settings;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use settings::{Export, LogFormat, Protocol, Settings, Signal, TelemetryArgs};

/// The `tracing` target of every span meant for OpenTelemetry. Open spans with
/// `tracing::info_span!(target: trellis_telemetry::SPANS, ...)`.
pub const SPANS: &str = "trellis_span";

/// The meter every Trellis crate records its instruments with.
pub fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("trellis")
}

/// `http.request.method` as OpenTelemetry's HTTP conventions have it: the standard methods by
/// name, any other `_OTHER`, so a client cannot grow a metric's series.
pub fn http_method(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

static CURRENT: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

/// The settings [`init`] installed in this process, for what it starts that exports on its own
/// (capability providers get them in their host data, as wasmCloud's do).
pub fn current() -> Option<&'static Settings> {
    CURRENT.get()
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A setting is wrong; the message names it.
    #[error("{0}")]
    Setting(String),
    /// An OTLP exporter could not be built.
    #[error("the OTLP {signal} exporter ({endpoint}): {source}")]
    Exporter {
        /// traces, metrics or logs.
        signal: Signal,
        /// Where it was to send.
        endpoint: String,
        /// Why.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The Prometheus endpoint could not listen.
    #[error("--metrics-listen {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The installed pipeline. Dropping it does not flush; call [`Telemetry::shutdown`] on the way out.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    logger: Option<SdkLoggerProvider>,
    metrics_address: Option<SocketAddr>,
}

impl Telemetry {
    /// Where `/metrics` is served, when it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Sends what is queued (within a few seconds: a collector that is down must not hold the
    /// process up) and stops the exporters.
    pub async fn shutdown(self) {
        let Telemetry { tracer, meter, logger, .. } = self;
        let flushing = tokio::task::spawn_blocking(move || {
            if let Some(t) = tracer {
                let _ = t.shutdown_with_timeout(Duration::from_secs(3));
            }
            if let Some(m) = meter {
                let _ = m.shutdown_with_timeout(Duration::from_secs(3));
            }
            if let Some(l) = logger {
                let _ = l.shutdown_with_timeout(Duration::from_secs(3));
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(10), flushing).await;
    }
}

/// Installs the process's logging, tracing and metrics as `settings` say, for the process named
/// `service` (the OpenTelemetry `service.name` unless `OTEL_SERVICE_NAME` names another).
///
/// Call it once, early, inside the tokio runtime: exporters and the metrics endpoint run on it.
pub async fn init(service: &str, settings: &Settings) -> Result<Telemetry, TelemetryError> {
    let _ = CURRENT.set(settings.clone());
    let resource = resource(service);
    let tracer = settings.traces.as_ref().map(|export| tracer_provider(export, &resource)).transpose()?;
    let pull = settings.metrics_listen.map(|_| prometheus::PullReader::new());
    let meter = if pull.is_some() || settings.metrics.is_some() {
        let mut builder = SdkMeterProvider::builder().with_resource(resource.clone());
        if let Some(reader) = &pull {
            builder = builder.with_reader(reader.clone());
        }
        if let Some(export) = &settings.metrics {
            let exporter = metric_exporter(export)?;
            let reader = opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .with_interval(settings.metrics_interval)
            .build();
            builder = builder.with_reader(reader);
        }
        let provider = builder.build();
        opentelemetry::global::set_meter_provider(provider.clone());
        queue::register_instruments();
        Some(provider)
    } else {
        None
    };
    let logger = settings.logs.as_ref().map(|export| logger_provider(export, &resource)).transpose()?;

    install_subscriber(settings, tracer.as_ref(), logger.as_ref());

    let metrics_address = match (settings.metrics_listen, pull) {
        (Some(address), Some(reader)) => Some(prometheus::serve(address, reader).await.map_err(|source| TelemetryError::Bind { address, source })?),
        _ => None,
    };
    if let Some(address) = metrics_address {
        tracing::info!(%address, "serving Prometheus metrics at /metrics");
    }
    Ok(Telemetry { tracer, meter, logger, metrics_address })
}

/// Installs log lines alone (text, `log_filter` unless `RUST_LOG` says otherwise): for the
/// modes that export nothing. Needs no runtime.
pub fn init_logs(log_filter: &str) {
    let mut settings = Settings::logs_only(log_filter);
    if let Ok(filter) = std::env::var("RUST_LOG") {
        settings.log_filter = filter;
    }
    install_subscriber(&settings, None, None);
}

/// The `tracing` subscriber: log lines as `settings` say, spans to `tracer`, log records to
/// `logger`. A second call in one process (tests) keeps the first.
fn install_subscriber(settings: &Settings, tracer: Option<&SdkTracerProvider>, logger: Option<&SdkLoggerProvider>) {
    let filter = settings.log_filter();
    // JSON lines find their trace and span ids in the span's record, so with traces on the
    // log layer must see the spans too; otherwise it never does, and with traces off they are
    // not made at all.
    let fmt_filter = match (settings.log_format, tracer) {
        (LogFormat::Json, Some(_)) => format!("{},{SPANS}=trace", settings.log_filter),
        _ => filter.clone(),
    };
    let fmt = match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(tracing_subscriber::EnvFilter::new(&filter))
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(json::JsonLines)
            .with_filter(tracing_subscriber::EnvFilter::new(&fmt_filter))
            .boxed(),
    };
    // Every span costs on the request path, so the layer records what the spans say and no
    // more: no source locations, thread names or busy/idle clocks read at every poll. Entering a
    // span makes its context current only where log lines or exported records need its ids.
    let spans = tracer.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("trellis"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(settings.log_format == LogFormat::Json || settings.logs.is_some())
            .with_filter(tracing_subscriber::filter::Targets::new().with_target(SPANS, tracing::Level::INFO))
    });
    // Exported records carry their span's ids too, so this layer sees the spans as well.
    let logs = logger.map(|provider| {
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
            .with_filter(tracing_subscriber::EnvFilter::new(format!("{},{SPANS}=trace", settings.log_filter)))
    });
    let _ = tracing_subscriber::registry().with(fmt).with(spans).with(logs).try_init();
}

/// `service.name` and what the environment adds (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`).
fn resource(service: &str) -> Resource {
    let builder = Resource::builder();
    let builder = if std::env::var_os("OTEL_SERVICE_NAME").is_some() { builder } else { builder.with_service_name(service.to_owned()) };
    builder.with_attribute(KeyValue::new("process.pid", i64::from(std::process::id()))).build()
}

/// The OTLP exporter `$exporter` (`SpanExporter`, `MetricExporter`, `LogExporter`) for `$signal`
/// as `$export` says: over HTTP or gRPC, to its endpoint (else the SDK's `OTEL_*` choice), bounded
/// by its timeout. The three builders share no trait, hence a macro.
macro_rules! otlp_exporter {
    ($exporter:ident, $signal:expr, $export:expr) => {{
        let export: &Export = $export;
        let built = match export.protocol {
            Protocol::Http => {
                let builder = opentelemetry_otlp::$exporter::builder().with_http().with_timeout(export.timeout);
                match &export.endpoint {
                    Some(endpoint) => builder.with_endpoint(endpoint.clone()).build(),
                    None => builder.build(),
                }
            }
            Protocol::Grpc => {
                let builder = opentelemetry_otlp::$exporter::builder().with_tonic().with_timeout(export.timeout);
                match &export.endpoint {
                    Some(endpoint) => builder.with_endpoint(endpoint.clone()).build(),
                    None => builder.build(),
                }
            }
        };
        built.map_err(|source| TelemetryError::Exporter { signal: $signal, endpoint: export.describe($signal), source })
    }};
}

fn tracer_provider(export: &Export, resource: &Resource) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = otlp_exporter!(SpanExporter, Signal::Traces, export)?;
    // The SDK's sampler follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_span_processor(queue::ExportQueue::start(exporter, queue::QueueConfig { timeout: export.timeout, ..queue::QueueConfig::from_env() }))
        .build())
}

fn metric_exporter(export: &Export) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
    otlp_exporter!(MetricExporter, Signal::Metrics, export)
}

fn logger_provider(export: &Export, resource: &Resource) -> Result<SdkLoggerProvider, TelemetryError> {
    let exporter = otlp_exporter!(LogExporter, Signal::Logs, export)?;
    let processor = opentelemetry_sdk::logs::log_processor_with_async_runtime::BatchLogProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    Ok(SdkLoggerProvider::builder().with_resource(resource.clone()).with_log_processor(processor).build())
}
