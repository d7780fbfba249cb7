//! The embedded lattice: subscriptions in a table, messages through channels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::{Lattice, LatticeError, Message, Pattern, Subscriber};

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
        let subscriptions = self.inner.subscriptions.read().expect("subscription table poisoned");
        let mut delivered = 0;
        let mut groups: HashMap<&str, Vec<&Subscription>> = HashMap::new();
        let mut closed = false;
        for s in subscriptions.iter().filter(|s| s.pattern.matches(&message.subject)) {
            if s.sender.is_closed() {
                closed = true;
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
        let inbox = format!("_INBOX.{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let mut replies = self.subscribe(&inbox, None).await?;
        let subject = message.subject.clone();
        message.reply = Some(inbox);
        Pattern::parse(&subject)?;
        if self.deliver(message) == 0 {
            return Err(LatticeError::NoResponders { subject });
        }
        match tokio::time::timeout(timeout, replies.next()).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(LatticeError::Transport("the reply subscription closed".into())),
            Err(_) => Err(LatticeError::TimedOut { subject, timeout }),
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
}
