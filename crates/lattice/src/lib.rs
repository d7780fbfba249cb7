//! The lattice: the transport every Trellis process speaks over.
//!
//! **Owns** the seam between the parts of Trellis and the wire: subjects with NATS wildcard
//! semantics (`*` one token, `>` the rest), publish/subscribe, queue groups (each message to
//! one member) and request/reply. [`InProcess`] is the embedded lattice; [`Nats`] implements
//! the same [`Lattice`] trait over a NATS server, so the manager and hosts above it cannot
//! tell which they run on. Both keep key-value [`Bucket`]s too (JetStream's on NATS).
//!
//! **Must not** contain business logic: it moves bytes between subjects and knows nothing of
//! manifests, components or the wadm API.
#![warn(missing_docs)]

mod in_process;
mod kv;
mod nats;
mod subject;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

pub use in_process::InProcess;
pub use kv::Bucket;
pub use nats::{BucketError, Nats, NatsKey, NatsOptions, create_kv_bucket, open_kv_bucket};
pub use subject::{Pattern, PatternError};

/// One message as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// Where a reply goes, for requests.
    pub reply: Option<String>,
    /// Header name/value pairs (NATS headers), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub payload: Bytes,
}

impl Message {
    /// A message with no reply subject and no headers.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Message {
        Message { subject: subject.into(), reply: None, headers: Vec::new(), payload: payload.into() }
    }

    /// The first value of header `name` (case-insensitive), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The messages of one subscription, until it is dropped.
pub type Subscriber = Pin<Box<dyn Stream<Item = Message> + Send>>;

/// Why a lattice operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LatticeError {
    /// Nobody subscribes to the subject of a request.
    #[error("no one answers on `{subject}`")]
    NoResponders {
        /// The request's subject.
        subject: String,
    },
    /// The request got no reply in time.
    #[error("no reply on `{subject}` within {} ms", timeout.as_millis())]
    TimedOut {
        /// The request's subject.
        subject: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The subject or pattern is malformed.
    #[error(transparent)]
    Subject(#[from] PatternError),
    /// The transport is gone (connection closed, process shutting down).
    #[error("lattice transport: {0}")]
    Transport(String),
}

/// A lattice transport: in-process or NATS.
#[async_trait::async_trait]
pub trait Lattice: Send + Sync + 'static {
    /// Publishes `message` to every plain subscriber of its subject and one member of each
    /// queue group.
    async fn publish(&self, message: Message) -> Result<(), LatticeError>;

    /// Subscribes to `pattern`; with `queue`, shares its messages with the group's other members.
    async fn subscribe(&self, pattern: &str, queue: Option<&str>) -> Result<Subscriber, LatticeError>;

    /// Sends `message` and waits up to `timeout` for one reply.
    async fn request(&self, message: Message, timeout: Duration) -> Result<Message, LatticeError>;

    /// Opens key-value bucket `name` of the lattice, creating it if it does not exist yet.
    async fn bucket(&self, name: &str) -> Result<std::sync::Arc<dyn Bucket>, LatticeError>;

    /// Waits until everything published so far has left this process (before it exits).
    async fn flush(&self) -> Result<(), LatticeError> {
        Ok(())
    }
}

/// Replies to `request` (a no-op when it expects no reply).
pub async fn respond(lattice: &dyn Lattice, request: &Message, payload: impl Into<Bytes>) -> Result<(), LatticeError> {
    match &request.reply {
        Some(reply) => lattice.publish(Message::new(reply.clone(), payload)).await,
        None => Ok(()),
    }
}

/// How long a scatter/gather (`host.ping`) usually waits for more answers after the last one.
pub const GATHER_QUIET: Duration = Duration::from_millis(250);
/// How long a scatter/gather usually waits at most.
pub const GATHER_LIMIT: Duration = Duration::from_secs(3);

/// Scatter/gather: sends `message` and collects every reply until none has come for `quiet`
/// (after the first) or `limit` has passed, as `host.ping` and auctions are answered by each
/// host that hears them.
pub async fn gather(lattice: &dyn Lattice, mut message: Message, quiet: Duration, limit: Duration) -> Result<Vec<Message>, LatticeError> {
    use futures::StreamExt as _;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let inbox = format!("_INBOX.trellis.{nonce:x}.{}.{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut replies = lattice.subscribe(&inbox, None).await?;
    message.reply = Some(inbox);
    lattice.publish(message).await?;
    let deadline = tokio::time::Instant::now() + limit;
    let mut gathered = Vec::new();
    loop {
        let wait = if gathered.is_empty() { limit } else { quiet };
        let until = deadline.min(tokio::time::Instant::now() + wait);
        match tokio::time::timeout_at(until, replies.next()).await {
            Ok(Some(reply)) => gathered.push(reply),
            Ok(None) | Err(_) => return Ok(gathered),
        }
    }
}
