//! What a process exports and where: wasmCloud's flags and variables, resolved once.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::TelemetryError;

/// The observability flags of every long-running `trellis` mode. The names are wasmCloud's, so a
/// host's environment carries over; the endpoints otherwise come from the standard
/// `OTEL_EXPORTER_OTLP_*` variables, the service name from `OTEL_SERVICE_NAME` and sampling from
/// `OTEL_TRACES_SAMPLER`, read by the OpenTelemetry SDK itself.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// How log lines are written to stderr: `text`, or `json` (one object a line, with the
    /// `trace_id` and `span_id` of the span it was written in).
    #[arg(long, env = "TRELLIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// wasmCloud's name for `--log-format json`.
    #[arg(long, env = "WASMCLOUD_STRUCTURED_LOGGING_ENABLED")]
    pub enable_structured_logging: bool,
    /// Export traces, metrics and logs over OTLP (each can be turned off on its own).
    #[arg(long, env = "WASMCLOUD_OBSERVABILITY_ENABLED")]
    pub enable_observability: bool,
    /// Export traces (default: as --enable-observability).
    #[arg(long, env = "WASMCLOUD_TRACES_ENABLED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub enable_traces: Option<bool>,
    /// Export metrics over OTLP (default: as --enable-observability).
    #[arg(long, env = "WASMCLOUD_METRICS_ENABLED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub enable_metrics: Option<bool>,
    /// Export logs (default: as --enable-observability).
    #[arg(long, env = "WASMCLOUD_LOGS_ENABLED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub enable_logs: Option<bool>,
    /// The collector's base URL for every signal (OTLP/HTTP adds `/v1/traces` and the like).
    /// Default: `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318` (gRPC: `:4317`).
    #[arg(long, env = "WASMCLOUD_OVERRIDE_OBSERVABILITY_ENDPOINT", value_name = "URL")]
    pub override_observability_endpoint: Option<String>,
    /// The full URL traces go to.
    #[arg(long, env = "WASMCLOUD_OVERRIDE_TRACES_ENDPOINT", value_name = "URL")]
    pub override_traces_endpoint: Option<String>,
    /// The full URL metrics go to.
    #[arg(long, env = "WASMCLOUD_OVERRIDE_METRICS_ENDPOINT", value_name = "URL")]
    pub override_metrics_endpoint: Option<String>,
    /// The full URL logs go to.
    #[arg(long, env = "WASMCLOUD_OVERRIDE_LOGS_ENDPOINT", value_name = "URL")]
    pub override_logs_endpoint: Option<String>,
    /// OTLP over `http` (protobuf) or `grpc`. Default: `OTEL_EXPORTER_OTLP_PROTOCOL`, else http.
    #[arg(long, env = "WASMCLOUD_OBSERVABILITY_PROTOCOL", value_enum)]
    pub observability_protocol: Option<Protocol>,
    /// Serve Prometheus metrics at `http://ADDRESS/metrics`, apart from any public listener.
    #[arg(long, env = "TRELLIS_METRICS_LISTEN", value_name = "ADDRESS")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The shape of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// OTLP's transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (port 4318).
    Http,
    /// OTLP/gRPC (port 4317).
    Grpc,
}

/// The three OpenTelemetry signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Instruments.
    Metrics,
    /// Log records.
    Logs,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        })
    }
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// Where one signal is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The transport.
    pub protocol: Protocol,
    /// The URL, or `None` to let the SDK take it from `OTEL_EXPORTER_OTLP_*`.
    pub endpoint: Option<String>,
    /// How long one export may take before its batch is given up.
    pub timeout: Duration,
}

impl Export {
    pub(crate) fn describe(&self, signal: Signal) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("from OTEL_EXPORTER_OTLP_{}_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT", signal.to_string().to_uppercase()),
        }
    }
}

/// The endpoint of `signal` under the collector's `base` URL, as wasmCloud resolves it: over
/// HTTP a base without a path gets the signal's (`/v1/traces`) and one with a path is kept;
/// gRPC takes the base without any path.
fn signal_endpoint(base: &str, protocol: Protocol, signal: Signal) -> String {
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let (root, path) = match base[after_scheme..].find('/') {
        Some(i) => base.split_at(after_scheme + i),
        None => (base, ""),
    };
    match protocol {
        Protocol::Http if path.is_empty() || path == "/" => format!("{root}{}", signal.path()),
        Protocol::Http => base.to_owned(),
        Protocol::Grpc => root.to_owned(),
    }
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `tracing` filter of log lines (`RUST_LOG` syntax).
    pub log_filter: String,
    /// Text or JSON lines.
    pub log_format: LogFormat,
    /// Where spans go, if anywhere.
    pub traces: Option<Export>,
    /// Where metrics are pushed, if anywhere.
    pub metrics: Option<Export>,
    /// Where log records go, if anywhere.
    pub logs: Option<Export>,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// How often metrics are pushed.
    pub metrics_interval: Duration,
}

impl Settings {
    /// Logs only, as text, filtered by `log_filter`: what a process has with no flags.
    pub fn logs_only(log_filter: &str) -> Settings {
        Settings {
            log_filter: log_filter.to_owned(),
            log_format: LogFormat::Text,
            traces: None,
            metrics: None,
            logs: None,
            metrics_listen: None,
            metrics_interval: Duration::from_secs(60),
        }
    }

    /// Resolves `args` with the process's environment. `log_filter` is the `--log-level`;
    /// `RUST_LOG` wins over it.
    pub fn resolve(args: &TelemetryArgs, log_filter: &str) -> Result<Settings, TelemetryError> {
        Settings::resolve_with(args, log_filter, |name| std::env::var(name).ok())
    }

    pub(crate) fn resolve_with(args: &TelemetryArgs, log_filter: &str, env: impl Fn(&str) -> Option<String>) -> Result<Settings, TelemetryError> {
        let protocol = match (args.observability_protocol, env("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref()) {
            (Some(p), _) => p,
            (None, None | Some("http/protobuf")) => Protocol::Http,
            (None, Some("grpc")) => Protocol::Grpc,
            (None, Some(other)) => {
                return Err(TelemetryError::Setting(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other}: Trellis exports `http/protobuf` or `grpc`"
                )));
            }
        };
        for (flag, url) in [
            ("--override-observability-endpoint", &args.override_observability_endpoint),
            ("--override-traces-endpoint", &args.override_traces_endpoint),
            ("--override-metrics-endpoint", &args.override_metrics_endpoint),
            ("--override-logs-endpoint", &args.override_logs_endpoint),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(TelemetryError::Setting(format!("{flag} `{url}`: expected an http:// or https:// URL")));
            }
        }
        let timeout = env("OTEL_EXPORTER_OTLP_TIMEOUT").and_then(|ms| ms.parse().ok()).map_or(Duration::from_secs(5), Duration::from_millis);
        let export = |enabled: Option<bool>, own: &Option<String>, signal: Signal| {
            enabled.unwrap_or(args.enable_observability).then(|| Export {
                protocol,
                endpoint: own.clone().or_else(|| args.override_observability_endpoint.as_ref().map(|base| signal_endpoint(base, protocol, signal))),
                timeout,
            })
        };
        let interval = env("OTEL_METRIC_EXPORT_INTERVAL").and_then(|ms| ms.parse().ok()).map_or(Duration::from_secs(60), Duration::from_millis);
        Ok(Settings {
            log_filter: env("RUST_LOG").unwrap_or_else(|| log_filter.to_owned()),
            log_format: if args.enable_structured_logging { LogFormat::Json } else { args.log_format },
            traces: export(args.enable_traces, &args.override_traces_endpoint, Signal::Traces),
            metrics: export(args.enable_metrics, &args.override_metrics_endpoint, Signal::Metrics),
            logs: export(args.enable_logs, &args.override_logs_endpoint, Signal::Logs),
            metrics_listen: args.metrics_listen,
            metrics_interval: interval,
        })
    }

    /// The filter of log lines. Spans meant for OpenTelemetry are never log lines.
    pub(crate) fn log_filter(&self) -> String {
        format!("{},{}=off", self.log_filter, crate::SPANS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: TelemetryArgs,
    }

    fn resolve(argv: &[&str], env: &[(&str, &str)]) -> Result<Settings, TelemetryError> {
        let cli = Cli::try_parse_from(std::iter::once("trellis").chain(argv.iter().copied())).expect("flags parse");
        Settings::resolve_with(&cli.args, "info", |name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn off_by_default() {
        let s = resolve(&[], &[]).unwrap();
        assert_eq!((s.traces, s.metrics, s.logs, s.metrics_listen), (None, None, None, None));
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.log_filter, "info");
    }

    #[test]
    fn observability_turns_every_signal_on_and_each_can_be_turned_off() {
        let s = resolve(&["--enable-observability", "--enable-logs", "false"], &[]).unwrap();
        assert!(s.traces.is_some() && s.metrics.is_some());
        assert_eq!(s.logs, None);
        let s = resolve(&["--enable-traces"], &[]).unwrap();
        assert!(s.traces.is_some());
        assert_eq!((s.metrics, s.logs), (None, None));
    }

    #[test]
    fn the_base_endpoint_gets_each_signals_path_over_http_and_is_kept_over_grpc() {
        let s = resolve(&["--enable-observability", "--override-observability-endpoint", "http://collector:4318/"], &[]).unwrap();
        assert_eq!(s.traces.unwrap().endpoint.as_deref(), Some("http://collector:4318/v1/traces"));
        assert_eq!(s.metrics.unwrap().endpoint.as_deref(), Some("http://collector:4318/v1/metrics"));
        let s = resolve(
            &["--enable-traces", "--override-observability-endpoint", "http://collector:4317", "--observability-protocol", "grpc"],
            &[],
        )
        .unwrap();
        let traces = s.traces.unwrap();
        assert_eq!((traces.protocol, traces.endpoint.as_deref()), (Protocol::Grpc, Some("http://collector:4317")));
    }

    #[test]
    fn a_base_with_a_path_is_kept_over_http_and_stripped_over_grpc() {
        assert_eq!(signal_endpoint("https://c.example:4318/otlp/ingest", Protocol::Http, Signal::Traces), "https://c.example:4318/otlp/ingest");
        assert_eq!(signal_endpoint("https://c.example:4318", Protocol::Http, Signal::Logs), "https://c.example:4318/v1/logs");
        assert_eq!(signal_endpoint("https://c.example:4317/some/path", Protocol::Grpc, Signal::Metrics), "https://c.example:4317");
    }

    #[test]
    fn a_signals_own_endpoint_wins_and_the_sdk_reads_otel_variables_otherwise() {
        let s = resolve(
            &["--enable-traces", "--override-observability-endpoint", "http://a:4318", "--override-traces-endpoint", "http://b:9999/t"],
            &[],
        )
        .unwrap();
        assert_eq!(s.traces.unwrap().endpoint.as_deref(), Some("http://b:9999/t"));
        let s = resolve(&["--enable-traces"], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
        let traces = s.traces.unwrap();
        assert_eq!((traces.protocol, traces.endpoint), (Protocol::Grpc, None));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = resolve(&["--enable-traces"], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err().to_string();
        assert!(e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), "{e}");
        let e = resolve(&["--override-traces-endpoint", "collector:4318"], &[]).unwrap_err().to_string();
        assert!(e.contains("--override-traces-endpoint `collector:4318`"), "{e}");
    }

    #[test]
    fn structured_logging_is_json_and_rust_log_wins() {
        let s = resolve(&["--enable-structured-logging"], &[("RUST_LOG", "debug")]).unwrap();
        assert_eq!((s.log_format, s.log_filter.as_str()), (LogFormat::Json, "debug"));
        assert_eq!(s.log_filter(), "debug,trellis_span=off");
    }
}
