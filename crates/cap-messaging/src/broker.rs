//! The trait every message broker implements, and subscription specs.

use std::time::Duration;

/// A message on a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where it was published.
    pub subject: String,
    /// Its payload.
    pub body: Vec<u8>,
    /// Where a reply goes, for a request.
    pub reply_to: Option<String>,
    /// The trace of the span that published it, carried in the message's headers where the
    /// broker has them.
    pub trace: trellis_telemetry::propagation::TraceContext,
}

impl Message {
    /// A message published from within the current span (a guest's invocation): it carries
    /// that span's trace.
    pub fn traced(subject: String, body: Vec<u8>, reply_to: Option<String>) -> Message {
        Message { subject, body, reply_to, trace: trellis_telemetry::propagation::TraceContext::of(&tracing::Span::current()) }
    }
}

/// Messages arriving on a subscription.
pub type Subscriber = tokio::sync::mpsc::Receiver<Message>;

/// Why a broker did not do what it was asked. Guests see the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// A subject with wildcards or spaces, or none, was published to.
    #[error("`{0}` is not a subject to publish to")]
    NotPublishable(String),
    /// A subscription's subject is malformed.
    #[error("`{0}` is not a subject")]
    InvalidSubject(String),
    /// No reply came in time.
    #[error("request to `{subject}` timed out after {} ms", timeout.as_millis())]
    TimedOut {
        /// Where the request went.
        subject: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The broker went away while a request waited.
    #[error("request to `{0}`: the broker closed")]
    Closed(String),
    /// The backend failed (a NATS connection, ...); the text names it.
    #[error("{0}")]
    Backend(String),
}

/// A broker: subjects with NATS semantics (`.`-separated tokens, `*` for one, `>` for the rest),
/// queue groups sharing a subject's messages, request/reply through a reply subject.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Whether the broker is reachable, for the host's health checks; the error says why not.
    async fn check(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    /// Publishes a message.
    async fn publish(&self, message: Message) -> Result<(), BrokerError>;
    /// Publishes to `subject` with a fresh reply subject and waits for the first reply.
    async fn request(&self, subject: &str, body: Vec<u8>, timeout: Duration) -> Result<Message, BrokerError>;
    /// Subscribes to `subject`; in a `queue` group each message goes to one member.
    async fn subscribe(&self, subject: &str, queue: Option<&str>) -> Result<Subscriber, BrokerError>;
}

/// One entry of wasmCloud's `SUBSCRIPTIONS` link config: `subject` or `subject|queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subject, possibly with wildcards.
    pub subject: String,
    /// Queue group, if any.
    pub queue: Option<String>,
}

impl Subscription {
    /// Parses a comma-separated `SUBSCRIPTIONS` value.
    pub fn parse_list(text: &str) -> Result<Vec<Subscription>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                let (subject, queue) = match entry.split_once('|') {
                    Some((s, q)) => (s.trim(), Some(q.trim().to_owned())),
                    None => (entry, None),
                };
                if !valid_subject(subject) {
                    return Err(format!("`{subject}` is not a subject (tokens separated by `.`, `*` for one token, `>` last for the rest)"));
                }
                if queue.as_deref().is_some_and(|q| q.is_empty() || q.contains(char::is_whitespace)) {
                    return Err(format!("`{entry}` names an empty or spaced queue group"));
                }
                Ok(Subscription { subject: subject.to_owned(), queue })
            })
            .collect()
    }
}

/// Whether `subject` is a valid subscription subject.
pub(crate) fn valid_subject(subject: &str) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    !subject.is_empty()
        && tokens.iter().enumerate().all(|(i, t)| {
            !t.is_empty() && !t.contains(char::is_whitespace) && (*t != ">" || i == tokens.len() - 1) && (t.len() == 1 || !t.contains(['*', '>']))
        })
}

/// Whether `subject` (no wildcards) matches `pattern` (wildcards allowed).
pub(crate) fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A reply subject nobody else will use.
pub(crate) fn inbox() -> String {
    format!("_INBOX.{}", ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_with_nats_wildcards() {
        assert!(matches("a.b", "a.b"));
        assert!(matches("a.*", "a.b"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches("a.>", "a.b.c"));
        assert!(!matches("a.>", "a"));
        assert!(!matches("a.b", "a.c"));
    }

    #[test]
    fn subscriptions_parse_as_wasmcloud_writes_them() {
        let subs = Subscription::parse_list("orders.*, audit.>|auditors").unwrap();
        assert_eq!(subs[0], Subscription { subject: "orders.*".into(), queue: None });
        assert_eq!(subs[1], Subscription { subject: "audit.>".into(), queue: Some("auditors".into()) });
        assert!(Subscription::parse_list("a..b").unwrap_err().contains("`a..b` is not a subject"));
        assert!(Subscription::parse_list("a.>.b").is_err());
        assert!(Subscription::parse_list("a|").is_err());
    }
}
