//! The embedded lattice: subscriptions in a table, messages through channels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::{Lattice, LatticeError, Message, Pattern, Subscriber};

/// Where requests' replies go; [`crate::gather`]'s inboxes are plain subscriptions.
const INBOX_PREFIX: &str = "_INBOX.req.";

/// A lattice inside one process: no network, the same semantics as NATS core.
#[derive(Clone, Default)]
pub struct InProcess {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subscriptions: RwLock<Vec<Subscription>>,
    next_id: AtomicU64,
    /// Rotates queue-group deliveries over the members.
    next_member: AtomicU64,
    /// Requests waiting for their reply, by inbox: a reply is one map lookup, and an inbox
    /// leaves no subscription behind.
    pending: Mutex<HashMap<String, oneshot::Sender<Message>>>,
    buckets: crate::kv::MemoryBuckets,
}

struct Subscription {
    pattern: Pattern,
    queue: Option<String>,
    sender: mpsc::UnboundedSender<Message>,
}

impl InProcess {
    /// An empty lattice.
    pub fn new() -> InProcess {
        InProcess::default()
    }

    fn deliver(&self, message: Message) -> usize {
        if message.subject.starts_with(INBOX_PREFIX) {
            let waiting = self.inner.pending.lock().expect("pending table poisoned").remove(&message.subject);
            if let Some(reply) = waiting {
                return usize::from(reply.send(message).is_ok());
            }
        }
        let subscriptions = self.inner.subscriptions.read().expect("subscription table poisoned");
        let mut delivered = 0;
        let mut groups: HashMap<&str, Vec<&Subscription>> = HashMap::new();
        let mut closed = false;
        for s in subscriptions.iter() {
            // Every dropped subscription is swept here, not only those this subject matches.
            if s.sender.is_closed() {
                closed = true;
                continue;
            }
            if !s.pattern.matches(&message.subject) {
                continue;
            }
            match &s.queue {
                Some(q) => groups.entry(q).or_default().push(s),
                None => {
                    delivered += usize::from(s.sender.send(message.clone()).is_ok());
                }
            }
        }
        for members in groups.values() {
            let pick = self.inner.next_member.fetch_add(1, Ordering::Relaxed) as usize % members.len();
            delivered += usize::from(members[pick].sender.send(message.clone()).is_ok());
        }
        drop(subscriptions);
        if closed {
            self.inner.subscriptions.write().expect("subscription table poisoned").retain(|s| !s.sender.is_closed());
        }
        delivered
    }
}

#[async_trait::async_trait]
impl Lattice for InProcess {
    async fn bucket(&self, name: &str) -> Result<Arc<dyn crate::Bucket>, LatticeError> {
        Ok(self.inner.buckets.open(name))
    }

    async fn publish(&self, message: Message) -> Result<(), LatticeError> {
        Pattern::parse(&message.subject)?;
        self.deliver(message);
        Ok(())
    }

    async fn subscribe(&self, pattern: &str, queue: Option<&str>) -> Result<Subscriber, LatticeError> {
        let pattern = Pattern::parse(pattern)?;
        let (sender, receiver) = mpsc::unbounded_channel();
        self.inner.subscriptions.write().expect("subscription table poisoned").push(Subscription {
            pattern,
            queue: queue.map(str::to_owned),
            sender,
        });
        Ok(UnboundedReceiverStream::new(receiver).boxed())
    }

    async fn request(&self, mut message: Message, timeout: Duration) -> Result<Message, LatticeError> {
        let subject = message.subject.clone();
        Pattern::parse(&subject)?;
        let inbox = format!("{INBOX_PREFIX}{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (sender, reply) = oneshot::channel();
        self.inner.pending.lock().expect("pending table poisoned").insert(inbox.clone(), sender);
        message.reply = Some(inbox.clone());
        let forget = || self.inner.pending.lock().expect("pending table poisoned").remove(&inbox);
        if self.deliver(message) == 0 {
            forget();
            return Err(LatticeError::NoResponders { subject });
        }
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(LatticeError::Transport("the lattice dropped the request".into())),
            Err(_) => {
                forget();
                Err(LatticeError::TimedOut { subject, timeout })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond;

    #[tokio::test]
    async fn plain_subscribers_all_receive_and_queue_members_share() {
        let lattice = InProcess::new();
        let mut a = lattice.subscribe("evt.>", None).await.unwrap();
        let mut b = lattice.subscribe("evt.*", None).await.unwrap();
        let mut q1 = lattice.subscribe("evt.x", Some("workers")).await.unwrap();
        let mut q2 = lattice.subscribe("evt.x", Some("workers")).await.unwrap();
        for _ in 0..4 {
            lattice.publish(Message::new("evt.x", "hi")).await.unwrap();
        }
        for _ in 0..4 {
            assert_eq!(a.next().await.unwrap().payload, "hi");
            assert_eq!(b.next().await.unwrap().payload, "hi");
        }
        // Each of the four went to exactly one member; both members got some.
        let mut shared = 0;
        for q in [&mut q1, &mut q2] {
            let mut got = 0;
            while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(10), q.next()).await {
                got += 1;
            }
            assert!(got > 0);
            shared += got;
        }
        assert_eq!(shared, 4);
    }

    #[tokio::test]
    async fn request_reply_and_no_responders() {
        let lattice = InProcess::new();
        let err = lattice.request(Message::new("svc.echo", "x"), Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, LatticeError::NoResponders { subject: "svc.echo".into() });

        let mut server = lattice.subscribe("svc.echo", Some("svc")).await.unwrap();
        let responder = lattice.clone();
        tokio::spawn(async move {
            while let Some(m) = server.next().await {
                respond(&responder, &m, m.payload.clone()).await.unwrap();
            }
        });
        let reply = lattice.request(Message::new("svc.echo", "ping"), Duration::from_secs(1)).await.unwrap();
        assert_eq!(reply.payload, "ping");
    }

    #[tokio::test]
    async fn dropped_subscriptions_stop_receiving() {
        let lattice = InProcess::new();
        let sub = lattice.subscribe("a", None).await.unwrap();
        drop(sub);
        lattice.publish(Message::new("a", "x")).await.unwrap();
        assert!(lattice.inner.subscriptions.read().unwrap().is_empty());
    }

    #[tokio::test]
    async fn requests_leave_nothing_behind() {
        let lattice = InProcess::new();
        let mut server = lattice.subscribe("svc.echo", None).await.unwrap();
        let responder = lattice.clone();
        tokio::spawn(async move {
            while let Some(m) = server.next().await {
                respond(&responder, &m, m.payload.clone()).await.unwrap();
            }
        });
        for _ in 0..100 {
            lattice.request(Message::new("svc.echo", "ping"), Duration::from_secs(1)).await.unwrap();
        }
        let silent = lattice.subscribe("svc.silent", None).await.unwrap();
        let err = lattice.request(Message::new("svc.silent", "x"), Duration::from_millis(10)).await.unwrap_err();
        assert!(matches!(err, LatticeError::TimedOut { .. }));
        drop(silent);
        assert_eq!(lattice.inner.subscriptions.read().unwrap().len(), 2, "the server and the silent one, no inboxes");
        assert!(lattice.inner.pending.lock().unwrap().is_empty());
    }
}
