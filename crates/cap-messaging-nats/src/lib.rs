//! The NATS backend of `wasmcloud:messaging`: what `ghcr.io/wasmcloud/messaging-nats` provides
//! in wasmCloud, configured the same way (`CLUSTER_URIS`).
//!
//! **Owns** the NATS client and the mapping of publish, request and (queue) subscribe onto it.
//! **Must not** know components or links.

use std::time::Duration;

use futures::StreamExt;
use trellis_cap_messaging::{Broker, BrokerError, Message, Subscriber};

/// wasmCloud's provider default when `CLUSTER_URIS` is not set.
pub const DEFAULT_CLUSTER_URIS: &str = "nats://127.0.0.1:4222";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `ghcr.io/wasmcloud/messaging-nats` (or `wasmcloud+builtin://messaging-nats`): the
/// provider's `cluster_uris` (comma-separated) is where it connects.
pub struct NatsMessagingBackend;

#[async_trait::async_trait]
impl trellis_capability::Backend<dyn Broker> for NatsMessagingBackend {
    fn names(&self) -> &'static [&'static str] {
        &["messaging-nats"]
    }
    fn replaces(&self) -> Option<&'static str> {
        Some("wasmcloud/messaging-nats")
    }
    fn describe(&self) -> &'static str {
        "nats backend"
    }
    async fn open(&self, link: &trellis_capability::LinkConfig<'_>) -> Result<std::sync::Arc<dyn Broker>, trellis_capability::OpenError> {
        let uris = link.get("cluster_uris").unwrap_or(DEFAULT_CLUSTER_URIS);
        let broker = NatsBroker::connect(uris).await.map_err(|e| trellis_capability::OpenError::Unavailable(format!("{e:#}")))?;
        Ok(std::sync::Arc::new(broker))
    }
}

/// A connection to a NATS server or cluster.
pub struct NatsBroker {
    client: async_nats::Client,
}

impl NatsBroker {
    /// Connects to `uris` (comma-separated, as in `CLUSTER_URIS`).
    pub async fn connect(uris: &str) -> anyhow::Result<NatsBroker> {
        let servers: Vec<&str> = uris.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(servers.as_slice())
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at `{}`: {e}", trellis_types::redact::urls(uris)))?;
        Ok(NatsBroker { client })
    }
}

#[async_trait::async_trait]
impl Broker for NatsBroker {
    async fn check(&self) -> Result<(), BrokerError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BrokerError::Backend(format!("the connection to NATS is {state}"))),
        }
    }
    async fn publish(&self, message: Message) -> Result<(), BrokerError> {
        // The publishing span's trace rides in the headers, as wasmCloud's messaging provider
        // carries it.
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in message.trace.headers() {
            headers.insert(name, value);
        }
        let result = match (message.reply_to, headers.is_empty()) {
            (Some(reply), true) => self.client.publish_with_reply(message.subject, reply, message.body.into()).await,
            (Some(reply), false) => self.client.publish_with_reply_and_headers(message.subject, reply, headers, message.body.into()).await,
            (None, true) => self.client.publish(message.subject, message.body.into()).await,
            (None, false) => self.client.publish_with_headers(message.subject, headers, message.body.into()).await,
        };
        result.map_err(|e| BrokerError::Backend(format!("NATS publish: {e}")))
    }

    async fn request(&self, subject: &str, body: Vec<u8>, timeout: Duration) -> Result<Message, BrokerError> {
        let request = async_nats::Request::new().payload(body.into()).timeout(Some(timeout));
        let reply = self.client.send_request(subject.to_owned(), request).await.map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::TimedOut => BrokerError::TimedOut { subject: subject.to_owned(), timeout },
            _ => BrokerError::Backend(format!("request to `{subject}`: {e}")),
        })?;
        Ok(received(reply))
    }

    async fn subscribe(&self, subject: &str, queue: Option<&str>) -> Result<Subscriber, BrokerError> {
        let mut subscription = match queue {
            Some(q) => self.client.queue_subscribe(subject.to_owned(), q.to_owned()).await,
            None => self.client.subscribe(subject.to_owned()).await,
        }
        .map_err(|e| BrokerError::Backend(format!("NATS subscribe to `{subject}`: {e}")))?;
        // The server knows of the subscription once this returns, so a message published after
        // the component is said to be subscribed (from any connection) reaches it.
        self.client.flush().await.map_err(|e| BrokerError::Backend(format!("NATS subscribe to `{subject}`: {e}")))?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            while let Some(m) = subscription.next().await {
                let message = received(m);
                if sender.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }
}

/// A NATS message as the capability hands it on, with the trace its headers carry.
fn received(m: async_nats::Message) -> Message {
    let trace = match &m.headers {
        Some(headers) => trellis_telemetry::propagation::TraceContext::from_headers(|name| headers.get(name).map(|v| v.as_str())),
        None => Default::default(),
    };
    Message { subject: m.subject.to_string(), body: m.payload.to_vec(), reply_to: m.reply.map(|r| r.to_string()), trace }
}
