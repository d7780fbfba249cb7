//! The live event stream: one subscription to the lattice's events (`wasmbus.evt.<lattice>.>`,
//! what hosts and the manager publish) and to the manager's application status
//! (`wadm.status.<lattice>.>`, `wadm.evt.<lattice>.>`), fanned out to every open dashboard as
//! server-sent events. The last events are kept, so a page opened now shows what just happened.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use trellis_lattice::{Lattice, LatticeError, Message};

use crate::Shared;

/// How many past events a newly opened page is shown.
const KEPT: usize = 500;
/// How many events a slow page may fall behind before it is told to read everything again.
const BACKLOG: usize = 1024;
/// How often an idle stream says it is alive (so proxies keep it open); nothing else is sent
/// while the lattice is quiet.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One thing that happened on the lattice, as the dashboard is told of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatticeEvent {
    /// Counts up from 1 for the life of the server.
    pub seq: u64,
    /// What happened: the CloudEvent's name (`host_heartbeat`, `component_scaled`,
    /// `linkdef_set`, ...), or `app_status` for the manager's status of an application.
    pub kind: String,
    /// Who said so: a host id, `manager`, or the application whose status this is.
    pub source: String,
    /// When the server heard it (milliseconds since the Unix epoch).
    pub received_ms: u64,
    /// The event's data as published.
    pub data: serde_json::Value,
}

impl LatticeEvent {
    /// The event `message` carries, if it is one; `status_prefix` is `wadm.status.<lattice>.`.
    fn from_message(status_prefix: &str, message: &Message) -> Option<LatticeEvent> {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
        let received_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        if let Some(app) = message.subject.strip_prefix(status_prefix) {
            return Some(LatticeEvent { seq: 0, kind: "app_status".into(), source: app.to_owned(), received_ms, data: body });
        }
        // A CloudEvent: `type` is `com.wasmcloud.lattice.<name>` (or wadm's `com.wasmcloud.wadm.<name>`).
        let kind = body.get("type").and_then(|t| t.as_str()).and_then(|t| t.rsplit('.').next()).unwrap_or_else(|| message.subject.rsplit('.').next().unwrap_or(""));
        let source = body.get("source").and_then(|s| s.as_str()).unwrap_or("").to_owned();
        let data = body.get("data").cloned().unwrap_or(serde_json::Value::Null);
        Some(LatticeEvent { seq: 0, kind: kind.to_owned(), source, received_ms, data })
    }
}

/// Fans the lattice's events out to every open dashboard.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    sender: broadcast::Sender<Arc<LatticeEvent>>,
    recent: Mutex<VecDeque<Arc<LatticeEvent>>>,
}

impl EventHub {
    /// Subscribes to `lattice_name`'s events on `lattice` and starts fanning them out.
    pub async fn start(lattice: &dyn Lattice, lattice_name: &str) -> Result<EventHub, LatticeError> {
        let hub = EventHub { inner: Arc::new(HubInner { sender: broadcast::channel(BACKLOG).0, recent: Mutex::new(VecDeque::with_capacity(KEPT)) }) };
        let patterns = [
            format!("wasmbus.evt.{lattice_name}.>"),
            format!("{}.{lattice_name}.>", trellis_types::wadm::STATUS_PREFIX),
            format!("wadm.evt.{lattice_name}.>"),
        ];
        let mut subscriptions = Vec::with_capacity(patterns.len());
        for pattern in &patterns {
            subscriptions.push(lattice.subscribe(pattern, None).await?);
        }
        let mut messages = futures::stream::select_all(subscriptions);
        let (hub_task, status_prefix) = (hub.clone(), format!("{}.{lattice_name}.", trellis_types::wadm::STATUS_PREFIX));
        tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                if let Some(event) = LatticeEvent::from_message(&status_prefix, &message) {
                    hub_task.publish(event);
                }
            }
        });
        Ok(hub)
    }

    /// Numbers `event`, keeps it among the recent ones and sends it to every open stream.
    pub fn publish(&self, mut event: LatticeEvent) {
        let mut recent = self.inner.recent.lock().expect("event log poisoned");
        event.seq = recent.back().map_or(1, |last| last.seq + 1);
        let event = Arc::new(event);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        // Sent under the lock, so a new stream's snapshot and its live events neither overlap
        // nor leave a gap. No receiver is not an error: nobody is looking.
        let _ = self.inner.sender.send(event);
    }

    /// The recent events and a receiver of every later one.
    pub fn follow(&self) -> (Vec<Arc<LatticeEvent>>, broadcast::Receiver<Arc<LatticeEvent>>) {
        let recent = self.inner.recent.lock().expect("event log poisoned");
        (recent.iter().cloned().collect(), self.inner.sender.subscribe())
    }
}

/// `GET /v1/events`: the recent events (those after `Last-Event-ID` when the browser
/// reconnects), then `caught_up`, then each new one as it happens. What comes before `caught_up`
/// is history: a page reads the lattice once it arrives. A page that falls too far behind is
/// sent `resync` and should read the lattice again.
pub(crate) async fn stream(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last_seen = headers.get("last-event-id").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let (recent, receiver) = shared.events.follow();
    let events = replay(recent, last_seen, receiver).map(|event| Ok(to_sse(&event)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// What a stream sends: the history after `last_seen` (all of it if the server has restarted
/// since, its numbers then being smaller), `caught_up`, then the live events.
fn replay(
    recent: Vec<Arc<LatticeEvent>>,
    last_seen: Option<u64>,
    receiver: broadcast::Receiver<Arc<LatticeEvent>>,
) -> impl Stream<Item = Arc<LatticeEvent>> {
    let newest = recent.last().map_or(0, |e| e.seq);
    let after = last_seen.filter(|&seen| seen <= newest).unwrap_or(0);
    let history = recent.into_iter().filter(move |e| e.seq > after);
    let live = BroadcastStream::new(receiver).map(|item| match item {
        Ok(event) => event,
        Err(BroadcastStreamRecvError::Lagged(missed)) => marker("resync", serde_json::json!({ "missed": missed })),
    });
    futures::stream::iter(history).chain(futures::stream::once(async { marker("caught_up", serde_json::Value::Null) })).chain(live)
}

/// An event of the stream itself, not of the lattice (numbered 0, so it moves no `Last-Event-ID`).
fn marker(kind: &str, data: serde_json::Value) -> Arc<LatticeEvent> {
    Arc::new(LatticeEvent { seq: 0, kind: kind.to_owned(), source: String::new(), received_ms: 0, data })
}

fn to_sse(event: &LatticeEvent) -> Event {
    let event_json = serde_json::to_string(event).expect("events serialize");
    let sse = Event::default().data(event_json);
    if event.seq == 0 { sse } else { sse.id(event.seq.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> Arc<LatticeEvent> {
        Arc::new(LatticeEvent { seq, kind: "host_heartbeat".into(), source: "N".into(), received_ms: 0, data: serde_json::Value::Null })
    }

    async fn first(stream: impl Stream<Item = Arc<LatticeEvent>>, n: usize) -> Vec<(u64, String)> {
        stream.take(n).map(|e| (e.seq, e.kind.clone())).collect().await
    }

    #[tokio::test]
    async fn history_then_caught_up_then_live_and_a_reconnect_resumes_after_what_it_saw() {
        let (sender, _) = broadcast::channel(8);
        let history = vec![event(1), event(2), event(3)];
        let stream = replay(history.clone(), None, sender.subscribe());
        sender.send(event(4)).unwrap();
        let kinds = first(stream, 5).await;
        assert_eq!(kinds.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3, 0, 4]);
        assert_eq!(kinds[3].1, "caught_up");

        // The browser reconnects with Last-Event-ID: 2.
        let stream = replay(history.clone(), Some(2), sender.subscribe());
        assert_eq!(first(stream, 2).await, [(3, "host_heartbeat".to_owned()), (0, "caught_up".to_owned())]);
        // ... to a server that restarted since: everything it has.
        let stream = replay(history, Some(40), sender.subscribe());
        assert_eq!(first(stream, 4).await.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3, 0]);
    }
}
