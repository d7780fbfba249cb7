//! The span export queue: bounded, never blocking the span's thread, its drops counted.
//!
//! The SDK's batch processors keep their drop count to themselves (they log it at shutdown).
//! A collector that is down must cost a request nothing and an operator must see what was lost,
//! so spans go through this queue instead: a span ending is one `try_send`; when the queue is
//! full the span is dropped and `trellis.telemetry.spans.dropped` rises. One task on the
//! runtime sends batches, each bounded by the export timeout.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use tokio::sync::mpsc;

/// How big the queue and its batches are, and how often a partial batch goes out.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// Spans waiting at most; more are dropped.
    pub capacity: usize,
    /// Spans sent in one export at most.
    pub batch: usize,
    /// How long a partial batch waits.
    pub delay: Duration,
    /// How long one export may take.
    pub timeout: Duration,
}

impl Default for QueueConfig {
    /// The SDK's own defaults (OTEL_BSP_*): 2048 queued, 512 a batch, every 5 s, 30 s an export,
    /// except the export timeout, which is 5 s: a collector that never answers would otherwise
    /// hold the queue for 30 s a batch while spans drop.
    fn default() -> Self {
        QueueConfig { capacity: 2048, batch: 512, delay: Duration::from_secs(5), timeout: Duration::from_secs(5) }
    }
}

impl QueueConfig {
    /// The defaults, with the SDK's standard variables applied: `OTEL_BSP_MAX_QUEUE_SIZE`,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` and `OTEL_BSP_SCHEDULE_DELAY` (milliseconds). A value
    /// that is not a positive number is ignored. The export timeout is the exporter's
    /// (`OTEL_EXPORTER_OTLP_TIMEOUT`), set by the caller.
    pub fn from_env() -> QueueConfig {
        QueueConfig::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> QueueConfig {
        let number = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok()).filter(|&n| n > 0);
        let d = QueueConfig::default();
        QueueConfig {
            capacity: number("OTEL_BSP_MAX_QUEUE_SIZE").map_or(d.capacity, |n| n as usize),
            batch: number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").map_or(d.batch, |n| n as usize),
            delay: number("OTEL_BSP_SCHEDULE_DELAY").map_or(d.delay, Duration::from_millis),
            timeout: d.timeout,
        }
    }
}

/// Counts since the process started, over every queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Spans sent and acknowledged.
    pub exported: u64,
    /// Spans dropped because the queue was full.
    pub dropped: u64,
    /// Spans in batches the collector refused or did not answer for in time.
    pub failed: u64,
}

static EXPORTED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// The counts so far.
pub fn stats() -> QueueStats {
    QueueStats { exported: EXPORTED.load(Ordering::Relaxed), dropped: DROPPED.load(Ordering::Relaxed), failed: FAILED.load(Ordering::Relaxed) }
}

/// Registers the counts as instruments of [`crate::meter`].
pub(crate) fn register_instruments() {
    let meter = crate::meter();
    let counter = |name: &'static str, description: &'static str, value: &'static AtomicU64| {
        meter
            .u64_observable_counter(name)
            .with_description(description)
            .with_unit("{span}")
            .with_callback(move |observer| observer.observe(value.load(Ordering::Relaxed), &[]))
            .build()
    };
    // Observable instruments live as long as the meter provider; the handles need not be kept.
    let _ = counter("trellis.telemetry.spans.exported", "Spans the collector acknowledged", &EXPORTED);
    let _ = counter("trellis.telemetry.spans.dropped", "Spans dropped because the export queue was full", &DROPPED);
    let _ = counter("trellis.telemetry.spans.failed", "Spans in batches the collector refused or did not answer in time", &FAILED);
}

enum Control {
    Resource(Resource),
    Flush(std::sync::mpsc::SyncSender<()>),
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// A span processor that queues ended spans for one exporter.
pub struct ExportQueue {
    spans: mpsc::Sender<SpanData>,
    control: mpsc::UnboundedSender<Control>,
}

impl fmt::Debug for ExportQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportQueue").field("queued", &(self.spans.max_capacity() - self.spans.capacity())).finish()
    }
}

impl ExportQueue {
    /// Starts the task that sends to `exporter`. Must be called inside a tokio runtime.
    pub fn start<E: SpanExporter + 'static>(exporter: E, config: QueueConfig) -> ExportQueue {
        let (spans, receiver) = mpsc::channel(config.capacity.max(1));
        let (control, commands) = mpsc::unbounded_channel();
        tokio::spawn(run(exporter, config, receiver, commands));
        ExportQueue { spans, control }
    }

    fn ask(&self, make: impl FnOnce(std::sync::mpsc::SyncSender<()>) -> Control, timeout: Duration) -> OTelSdkResult {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.control.send(make(done)).map_err(|_| OTelSdkError::AlreadyShutdown)?;
        wait.recv_timeout(timeout).map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for ExportQueue {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.spans.try_send(span).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, Duration::from_secs(10))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(Control::Shutdown, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.control.send(Control::Resource(resource.clone()));
    }
}

async fn run<E: SpanExporter>(mut exporter: E, config: QueueConfig, mut spans: mpsc::Receiver<SpanData>, mut control: mpsc::UnboundedReceiver<Control>) {
    let mut batch = Vec::with_capacity(config.batch);
    let mut tick = tokio::time::interval(config.delay);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Resource(resource)) => exporter.set_resource(&resource),
                Some(Control::Flush(done)) => {
                    drain(&mut spans, &mut batch);
                    send(&exporter, &mut batch, config, &mut warned).await;
                    let _ = done.send(());
                }
                Some(Control::Shutdown(done)) => {
                    drain(&mut spans, &mut batch);
                    send(&exporter, &mut batch, config, &mut warned).await;
                    let _ = exporter.shutdown();
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            received = spans.recv() => match received {
                Some(span) => {
                    batch.push(span);
                    if batch.len() >= config.batch {
                        send(&exporter, &mut batch, config, &mut warned).await;
                    }
                }
                None => return,
            },
            _ = tick.tick() => send(&exporter, &mut batch, config, &mut warned).await,
        }
    }
}

fn drain(spans: &mut mpsc::Receiver<SpanData>, batch: &mut Vec<SpanData>) {
    while let Ok(span) = spans.try_recv() {
        batch.push(span);
    }
}

/// Sends `batch` in chunks of the batch size, each within the timeout; says so, at most once a
/// minute, when the collector fails.
async fn send<E: SpanExporter>(exporter: &E, batch: &mut Vec<SpanData>, config: QueueConfig, warned: &mut Option<tokio::time::Instant>) {
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(config.batch));
        let chunk = std::mem::replace(batch, rest);
        let n = chunk.len() as u64;
        let outcome = match tokio::time::timeout(config.timeout, exporter.export(chunk)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", config.timeout.as_millis())),
        };
        match outcome {
            Ok(()) => {
                EXPORTED.fetch_add(n, Ordering::Relaxed);
            }
            Err(why) => {
                FAILED.fetch_add(n, Ordering::Relaxed);
                if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    *warned = Some(tokio::time::Instant::now());
                    tracing::warn!(spans = n, "exporting spans failed: {why} (trellis.telemetry.spans.failed counts them)");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone, Default)]
    struct Recorder {
        got: Arc<Mutex<Vec<usize>>>,
        stall: bool,
    }

    impl SpanExporter for Recorder {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if self.stall {
                std::future::pending::<()>().await;
            }
            self.got.lock().unwrap().push(batch.len());
            Ok(())
        }
    }

    fn span(n: u64) -> SpanData {
        SpanData {
            span_context: SpanContext::new(TraceId::from(u128::from(n) + 1), SpanId::from(n + 1), TraceFlags::SAMPLED, false, TraceState::default()),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "test".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    #[test]
    fn the_sdks_variables_size_the_queue() {
        let vars = [("OTEL_BSP_MAX_QUEUE_SIZE", "64"), ("OTEL_BSP_SCHEDULE_DELAY", "250"), ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "nope")];
        let config = QueueConfig::from_vars(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()));
        assert_eq!((config.capacity, config.delay), (64, Duration::from_millis(250)));
        assert_eq!(config.batch, QueueConfig::default().batch, "a bad value keeps the default");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_bounded_and_flush_sends_the_rest() {
        let recorder = Recorder::default();
        let config = QueueConfig { capacity: 100, batch: 4, delay: Duration::from_secs(3600), timeout: Duration::from_secs(5) };
        let queue = ExportQueue::start(recorder.clone(), config);
        for n in 0..10 {
            queue.on_end(span(n));
        }
        tokio::task::spawn_blocking(move || queue.force_flush()).await.unwrap().unwrap();
        let got = recorder.got.lock().unwrap().clone();
        assert_eq!(got.iter().sum::<usize>(), 10, "{got:?}");
        assert!(got.iter().all(|&n| n <= 4), "{got:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_collector_drops_and_counts_instead_of_blocking() {
        let recorder = Recorder { stall: true, ..Recorder::default() };
        let config = QueueConfig { capacity: 8, batch: 1, delay: Duration::from_secs(3600), timeout: Duration::from_secs(3600) };
        let queue = ExportQueue::start(recorder, config);
        let before = stats().dropped;
        let started = std::time::Instant::now();
        for n in 0..1000 {
            queue.on_end(span(n));
        }
        assert!(started.elapsed() < Duration::from_secs(1), "ending spans waited on the collector");
        // At most the queue, plus the one span the exporter holds, got through.
        assert!(stats().dropped - before >= 1000 - 8 - 1, "dropped {}", stats().dropped - before);
    }
}
