//! A broker inside the process: NATS subject semantics without a server, for embedded mode.

use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::broker::{Broker, BrokerError, Message, Subscriber, inbox, matches, valid_subject};

/// How many undelivered messages a subscriber may have before publishes to it are dropped
/// (logged), so one slow handler cannot make the broker hold unbounded memory.
const BACKLOG: usize = 1024;

struct Sub {
    pattern: String,
    queue: Option<String>,
    sender: mpsc::Sender<Message>,
}

/// Subjects and subscriptions in memory, shared by everything in the process.
#[derive(Default)]
pub struct InProcessBroker {
    subs: Mutex<Vec<Sub>>,
    /// Round-robin position for queue groups.
    turn: AtomicUsize,
}

impl InProcessBroker {
    /// A broker with no subscriptions.
    pub fn new() -> InProcessBroker {
        InProcessBroker::default()
    }
}

#[async_trait::async_trait]
impl Broker for InProcessBroker {
    async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        if message.subject.is_empty() || message.subject.contains(['*', '>', ' ']) {
            return Err(BrokerError::NotPublishable(message.subject));
        }
        let targets: Vec<mpsc::Sender<Message>> = {
            let mut subs = self.subs.lock().expect("broker poisoned");
            subs.retain(|s| !s.sender.is_closed());
            let mut plain = Vec::new();
            let mut groups: std::collections::BTreeMap<&str, Vec<&mpsc::Sender<Message>>> = Default::default();
            for s in subs.iter().filter(|s| matches(&s.pattern, &message.subject)) {
                match &s.queue {
                    None => plain.push(s.sender.clone()),
                    Some(q) => groups.entry(q.as_str()).or_default().push(&s.sender),
                }
            }
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            plain.extend(groups.values().map(|members| members[turn % members.len()].clone()));
            plain
        };
        for target in targets {
            if target.try_send(message.clone()).is_err() {
                tracing::warn!(subject = %message.subject, "a subscriber is {BACKLOG} messages behind; message dropped for it");
            }
        }
        Ok(())
    }

    async fn request(&self, subject: &str, body: Vec<u8>, timeout: Duration) -> Result<Message, BrokerError> {
        let reply_to = inbox();
        let mut replies = self.subscribe(&reply_to, None).await?;
        self.publish(Message::traced(subject.to_owned(), body, Some(reply_to))).await?;
        match tokio::time::timeout(timeout, replies.recv()).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(BrokerError::Closed(subject.to_owned())),
            Err(_) => Err(BrokerError::TimedOut { subject: subject.to_owned(), timeout }),
        }
    }

    async fn subscribe(&self, subject: &str, queue: Option<&str>) -> Result<Subscriber, BrokerError> {
        if !valid_subject(subject) {
            return Err(BrokerError::InvalidSubject(subject.to_owned()));
        }
        let (sender, receiver) = mpsc::channel(BACKLOG);
        self.subs.lock().expect("broker poisoned").push(Sub { pattern: subject.to_owned(), queue: queue.map(str::to_owned), sender });
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(subject: &str) -> Message {
        Message::traced(subject.into(), b"x".to_vec(), None)
    }

    #[tokio::test]
    async fn fan_out_and_queue_groups() {
        let broker = InProcessBroker::new();
        let mut all = broker.subscribe("orders.>", None).await.unwrap();
        let mut q1 = broker.subscribe("orders.new", Some("workers")).await.unwrap();
        let mut q2 = broker.subscribe("orders.new", Some("workers")).await.unwrap();
        for _ in 0..4 {
            broker.publish(msg("orders.new")).await.unwrap();
        }
        let mut got = (0, 0, 0);
        while all.try_recv().is_ok() {
            got.0 += 1;
        }
        while q1.try_recv().is_ok() {
            got.1 += 1;
        }
        while q2.try_recv().is_ok() {
            got.2 += 1;
        }
        assert_eq!(got.0, 4, "every plain subscriber gets every message");
        assert_eq!(got.1 + got.2, 4, "a queue group gets each message once");
        assert!(got.1 > 0 && got.2 > 0, "and shares them: {got:?}");
    }

    #[tokio::test]
    async fn request_reply_and_timeout() {
        let broker = std::sync::Arc::new(InProcessBroker::new());
        let mut service = broker.subscribe("echo", None).await.unwrap();
        let b = broker.clone();
        tokio::spawn(async move {
            let m = service.recv().await.unwrap();
            b.publish(Message::traced(m.reply_to.unwrap(), m.body, None)).await.unwrap();
        });
        let reply = broker.request("echo", b"hi".to_vec(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(reply.body, b"hi");
        let err = broker.request("nobody.home", vec![], Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(err.to_string(), "request to `nobody.home` timed out after 50 ms");
        assert!(matches!(err, BrokerError::TimedOut { .. }), "a timeout is told apart from other failures");
    }
}

/// `wasmcloud+builtin://messaging`: one [`InProcessBroker`] for every app of the process that
/// registered it, as one NATS server would be for a lattice.
#[derive(Default)]
pub struct InProcessBackend {
    broker: Arc<InProcessBroker>,
}

#[async_trait::async_trait]
impl trellis_capability::Backend<dyn Broker> for InProcessBackend {
    fn names(&self) -> &'static [&'static str] {
        &["messaging"]
    }
    fn describe(&self) -> &'static str {
        "in-process broker"
    }
    async fn open(&self, _link: &trellis_capability::LinkConfig<'_>) -> Result<Arc<dyn Broker>, trellis_capability::OpenError> {
        Ok(self.broker.clone())
    }
}

