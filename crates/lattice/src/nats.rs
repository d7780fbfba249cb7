//! The distributed lattice: the same [`Lattice`] over a NATS connection.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{HeaderMap, RequestErrorKind};
use futures::StreamExt as _;

use crate::{Lattice, LatticeError, Message, Subscriber};

/// How to reach a NATS server: the URL and, if the server wants them, credentials.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// `nats://host:port` (several, comma-separated, for a cluster).
    pub url: String,
    /// A `.creds` file (JWT and seed together).
    pub creds: Option<PathBuf>,
    /// A user JWT; needs `seed`.
    pub jwt: Option<String>,
    /// The nkey seed that signs the server's nonce for `jwt`.
    pub seed: Option<String>,
    /// Refuse a connection that is not TLS.
    pub require_tls: bool,
    /// The connection's name, as the server's monitoring shows it.
    pub name: String,
}

/// The key a connection authenticates with, besides a `.creds` file.
pub enum NatsKey {
    /// A user JWT and the key pair that signs the server's nonce for it.
    Jwt(String, std::sync::Arc<nkeys::KeyPair>),
    /// An nkey seed alone.
    Nkey(String),
}

impl NatsOptions {
    /// The key these options authenticate with, checked: a JWT needs its seed, and the seed
    /// must be an nkey seed. Every connection made from the options uses this, whichever
    /// client crate makes it.
    pub fn key(&self) -> Result<Option<NatsKey>, LatticeError> {
        match (&self.jwt, &self.seed) {
            (Some(jwt), Some(seed)) => {
                let key = nkeys::KeyPair::from_seed(seed).map_err(|e| LatticeError::Transport(format!("the NATS seed is not an nkey seed: {e}")))?;
                Ok(Some(NatsKey::Jwt(jwt.clone(), std::sync::Arc::new(key))))
            }
            (Some(_), None) => Err(LatticeError::Transport("a NATS JWT needs its seed (--nats-seed)".into())),
            (None, Some(seed)) => Ok(Some(NatsKey::Nkey(seed.clone()))),
            (None, None) => Ok(None),
        }
    }
}

/// How long [`Lattice::flush`] waits for the server.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// A lattice over a NATS connection.
#[derive(Clone, Debug)]
pub struct Nats {
    client: async_nats::Client,
}

impl Nats {
    /// Connects (an unreachable server is an error here, naming the URL); later disconnections
    /// are retried for ever, and subscriptions survive them.
    pub async fn connect(options: &NatsOptions) -> Result<Nats, LatticeError> {
        let mut connect = async_nats::ConnectOptions::new()
            .name(&options.name)
            .require_tls(options.require_tls)
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(count_reconnects());
        if let Some(path) = &options.creds {
            connect = connect.credentials_file(path).await.map_err(|e| LatticeError::Transport(format!("reading NATS credentials {}: {e}", path.display())))?;
        }
        match options.key()? {
            Some(NatsKey::Jwt(jwt, key)) => {
                connect = connect.jwt(jwt, move |nonce| {
                    let key = key.clone();
                    async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
                });
            }
            Some(NatsKey::Nkey(seed)) => connect = connect.nkey(seed),
            None => {}
        }
        let client = connect
            .connect(options.url.as_str())
            .await
            .map_err(|e| LatticeError::Transport(format!("cannot reach NATS at {} ({e}); is nats-server running?", options.url)))?;
        Ok(Nats { client })
    }

    /// The underlying client, for JetStream.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

fn transport(e: impl std::fmt::Display) -> LatticeError {
    LatticeError::Transport(e.to_string())
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(k.as_str(), v.as_str());
    }
    map
}

fn from_nats(message: async_nats::Message) -> Message {
    let headers = message.headers.iter().flat_map(|h| h.iter()).flat_map(|(k, values)| values.iter().map(move |v| (k.to_string(), v.to_string()))).collect();
    Message { subject: message.subject.to_string(), reply: message.reply.map(|r| r.to_string()), headers, payload: message.payload }
}

#[async_trait::async_trait]
impl Lattice for Nats {
    async fn publish(&self, message: Message) -> Result<(), LatticeError> {
        let headers = header_map(&message.headers);
        match message.reply {
            Some(reply) => self.client.publish_with_reply_and_headers(message.subject, reply, headers, message.payload).await,
            None => self.client.publish_with_headers(message.subject, headers, message.payload).await,
        }
        .map_err(transport)
    }

    async fn subscribe(&self, pattern: &str, queue: Option<&str>) -> Result<Subscriber, LatticeError> {
        crate::Pattern::parse(pattern)?;
        let subscriber = match queue {
            Some(q) => self.client.queue_subscribe(pattern.to_owned(), q.to_owned()).await,
            None => self.client.subscribe(pattern.to_owned()).await,
        }
        .map_err(transport)?;
        // The server knows of the subscription once this returns, so a publish that follows
        // (from any connection) reaches it, as with the in-process lattice.
        self.client.flush().await.map_err(transport)?;
        Ok(Box::pin(subscriber.map(from_nats)))
    }

    async fn flush(&self) -> Result<(), LatticeError> {
        // With the server gone the client would wait for a reconnect for ever, and a process
        // flushing its last events on the way out would never exit.
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(flushed) => flushed.map_err(transport),
            Err(_) => Err(LatticeError::Transport(format!("NATS did not take the last messages within {} s", FLUSH_TIMEOUT.as_secs()))),
        }
    }

    async fn bucket(&self, name: &str) -> Result<std::sync::Arc<dyn crate::Bucket>, LatticeError> {
        let js = async_nats::jetstream::new(self.client.clone());
        let store = open_kv_bucket(&js, name)
            .await
            .map_err(|e| LatticeError::Transport(format!("JetStream bucket {name}: {e}; is nats-server running with JetStream (-js)?")))?;
        Ok(std::sync::Arc::new(crate::kv::JetStreamBucket(store)))
    }

    async fn request(&self, message: Message, timeout: Duration) -> Result<Message, LatticeError> {
        let subject = message.subject.clone();
        let request = async_nats::Request::new().payload(message.payload).headers(header_map(&message.headers)).timeout(Some(timeout));
        match self.client.send_request(message.subject, request).await {
            Ok(reply) => Ok(from_nats(reply)),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::NoResponders => LatticeError::NoResponders { subject },
                RequestErrorKind::TimedOut => LatticeError::TimedOut { subject, timeout },
                _ => transport(format!("request on `{subject}`: {e}")),
            }),
        }
    }
}

/// A key-value bucket that could be neither opened nor created.
#[derive(Debug, thiserror::Error)]
#[error("cannot open it ({open}) nor create it ({create})")]
pub struct BucketError {
    /// Why opening failed.
    pub open: async_nats::jetstream::context::KeyValueError,
    /// Why creating failed.
    pub create: async_nats::Error,
}

/// Opens key-value bucket `name`, creating it (as [`create_kv_bucket`] does) if it does not
/// exist; the error says why neither worked.
pub async fn open_kv_bucket(js: &async_nats::jetstream::Context, name: &str) -> Result<async_nats::jetstream::kv::Store, BucketError> {
    match js.get_key_value(name).await {
        Ok(store) => Ok(store),
        Err(open) => create_kv_bucket(js, name).await.map_err(|create| BucketError { open, create }),
    }
}

/// Creates key-value bucket `bucket` (one value per key) by creating its backing stream as
/// async-nats would. async-nats' own `create_key_value` first reads the account's JetStream
/// info, which it cannot parse from nats-server 2.9; this works on 2.9 and on current servers.
pub async fn create_kv_bucket(
    js: &async_nats::jetstream::Context,
    bucket: &str,
) -> Result<async_nats::jetstream::kv::Store, async_nats::Error> {
    use async_nats::jetstream::stream;
    js.create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await?;
    // Opened by name so the store's subjects and prefixes are set exactly as async-nats sets them.
    Ok(js.get_key_value(bucket).await?)
}

/// Counts `trellis.nats.reconnects`: every connection after a connection's first.
fn count_reconnects() -> impl Fn(async_nats::Event) -> std::future::Ready<()> + Send + Sync + 'static {
    static RECONNECTS: std::sync::LazyLock<opentelemetry::metrics::Counter<u64>> = std::sync::LazyLock::new(|| {
        trellis_telemetry::meter().u64_counter("trellis.nats.reconnects").with_description("Times a NATS connection was made again after it was lost").with_unit("{reconnect}").build()
    });
    let connected_before = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    move |event| {
        if matches!(event, async_nats::Event::Connected) && connected_before.swap(true, std::sync::atomic::Ordering::Relaxed) {
            RECONNECTS.add(1, &[]);
        }
        std::future::ready(())
    }
}
