//! `wasmcloud:messaging@0.3.0`: the `producer` and `request-reply` imports and the exported
//! `incoming-handler`, over the same brokers as 0.2.0.
//!
//! Messages are resources here, with a content type and metadata. The brokers carry subject,
//! payload and reply subject only (as wasmCloud's wRPC messaging interface does), so content
//! type and metadata stay with the guest's own message.

use std::sync::Arc;
use std::time::Duration;

use trellis_runtime::{HasView, InvocationState};
use wasmtime::component::{Linker, Resource};

use crate::broker::{self, Broker};
use crate::consumer::MessagingState;

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:messaging/next",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasmcloud:messaging/types.client": crate::v0_3::Client,
            "wasmcloud:messaging/types.message": crate::v0_3::Message,
            "wasmcloud:messaging/request-reply.request-options": crate::v0_3::RequestOptions,
        },
    });
}

use generated::wasmcloud::messaging0_3_0::types::{self, Error};
use generated::wasmcloud::messaging0_3_0::{producer, request_reply};

pub(crate) use generated::exports::wasmcloud::messaging0_3_0::incoming_handler::GuestIndices as IncomingHandlerIndices;

/// The interface whose link name selects the broker (`set-link-name` or the link's name).
const PRODUCER: &str = "wasmcloud:messaging/producer";

/// A guest's connection: the messaging link it was opened with by name, or none, in which
/// case each call goes through the link selected at the time of that call (as keyvalue and
/// blobstore handles do on wasmCloud).
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct Client {
    link: Option<String>,
}

/// A message: one the guest made, or one it received.
#[derive(Debug, Default)]
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct Message {
    topic: Option<String>,
    reply_to: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
    metadata: Option<Vec<(String, String)>>,
}

impl Message {
    /// A message received from a broker, for the handler.
    pub(crate) fn received(message: broker::Message) -> Message {
        Message { topic: Some(message.subject), reply_to: message.reply_to, data: message.body, ..Message::default() }
    }
}

/// What the guest set on a request.
#[derive(Debug, Default)]
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct RequestOptions {
    timeout_ms: Option<u32>,
}

type View<'a> = trellis_runtime::View<'a, MessagingState>;

/// The broker a 0.3.0 call reaches.
trait Brokers {
    /// The broker of link `link`.
    fn broker(&self, link: &str) -> Result<Arc<dyn Broker>, Error>;
    /// The link name chosen for the producer now: `default`, or the one `set-link-name` selected.
    fn producer_link(&self) -> &str;
    /// The broker a call on `client` goes to: its own link, or the one selected now.
    fn client_broker(&self, client: &Resource<Client>) -> R<Result<Arc<dyn Broker>, Error>>;
}

impl Brokers for View<'_> {
    fn broker(&self, link: &str) -> Result<Arc<dyn Broker>, Error> {
        self.state.brokers.get(link).cloned().ok_or_else(|| Error::Connection(format!("no wasmcloud:messaging link named `{link}`")))
    }

    fn producer_link(&self) -> &str {
        self.links.name(PRODUCER)
    }

    fn client_broker(&self, client: &Resource<Client>) -> R<Result<Arc<dyn Broker>, Error>> {
        let link = self.table.get(client)?.link.as_deref().unwrap_or(self.producer_link());
        Ok(self.broker(link))
    }
}

/// The longest a `request` may wait, whatever the guest asks: its own deadline bounds it too.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A broker's failure as the guest's error: timeouts are told apart, as the interface does.
fn broker_error(error: crate::BrokerError) -> Error {
    match error {
        crate::BrokerError::TimedOut { .. } => Error::Timeout,
        other => Error::Other(other.to_string()),
    }
}

type R<T> = wasmtime::Result<T>;

impl types::Host for View<'_> {}

impl types::HostClient for View<'_> {
    /// `name` is a link name when the component has a messaging link of that name; any other
    /// name (wasmCloud components pass all sorts) means the link selected at each call.
    async fn connect(&mut self, name: String) -> R<Result<Resource<Client>, Error>> {
        let link = self.state.brokers.contains_key(&name).then_some(name);
        Ok(Ok(self.table.push(Client { link })?))
    }

    async fn disconnect(&mut self, _client: Resource<Client>) -> R<Result<(), Error>> {
        Ok(Ok(()))
    }

    async fn drop(&mut self, client: Resource<Client>) -> R<()> {
        self.table.delete(client)?;
        Ok(())
    }
}

impl types::HostMessage for View<'_> {
    async fn new(&mut self, data: Vec<u8>) -> R<Resource<Message>> {
        Ok(self.table.push(Message { data, ..Message::default() })?)
    }

    async fn topic(&mut self, m: Resource<Message>) -> R<Option<String>> {
        Ok(self.table.get(&m)?.topic.clone())
    }

    async fn content_type(&mut self, m: Resource<Message>) -> R<Option<String>> {
        Ok(self.table.get(&m)?.content_type.clone())
    }

    async fn set_content_type(&mut self, m: Resource<Message>, content_type: String) -> R<()> {
        self.table.get_mut(&m)?.content_type = Some(content_type);
        Ok(())
    }

    async fn data(&mut self, m: Resource<Message>) -> R<Vec<u8>> {
        Ok(self.table.get(&m)?.data.clone())
    }

    async fn set_data(&mut self, m: Resource<Message>, data: Vec<u8>) -> R<()> {
        self.table.get_mut(&m)?.data = data;
        Ok(())
    }

    async fn metadata(&mut self, m: Resource<Message>) -> R<Option<Vec<(String, String)>>> {
        Ok(self.table.get(&m)?.metadata.clone())
    }

    async fn add_metadata(&mut self, m: Resource<Message>, key: String, value: String) -> R<()> {
        let metadata = self.table.get_mut(&m)?.metadata.get_or_insert_default();
        metadata.retain(|(k, _)| *k != key);
        metadata.push((key, value));
        Ok(())
    }

    async fn set_metadata(&mut self, m: Resource<Message>, meta: Vec<(String, String)>) -> R<()> {
        self.table.get_mut(&m)?.metadata = Some(meta);
        Ok(())
    }

    async fn remove_metadata(&mut self, m: Resource<Message>, key: String) -> R<()> {
        if let Some(metadata) = &mut self.table.get_mut(&m)?.metadata {
            metadata.retain(|(k, _)| *k != key);
        }
        Ok(())
    }

    async fn drop(&mut self, m: Resource<Message>) -> R<()> {
        self.table.delete(m)?;
        Ok(())
    }
}

impl producer::Host for View<'_> {
    async fn send(&mut self, client: Resource<Client>, topic: String, message: Resource<Message>) -> R<Result<(), Error>> {
        let message = self.table.delete(message)?;
        let broker = match self.client_broker(&client)? {
            Ok(broker) => broker,
            Err(e) => return Ok(Err(e)),
        };
        Ok(broker.publish(broker::Message::traced(topic, message.data, None)).await.map_err(broker_error))
    }
}

impl request_reply::Host for View<'_> {
    /// One reply, the first: brokers answer a request with the first responder's message.
    async fn request(
        &mut self,
        client: Resource<Client>,
        topic: String,
        message: Resource<Message>,
        options: Option<Resource<RequestOptions>>,
    ) -> R<Result<Vec<Resource<Message>>, Error>> {
        let options = options.map(|o| self.table.delete(o)).transpose()?.unwrap_or_default();
        let timeout = options.timeout_ms.map_or(MAX_REQUEST_TIMEOUT, |ms| Duration::from_millis(ms.into()).min(MAX_REQUEST_TIMEOUT));
        let body = self.table.get(&message)?.data.clone();
        let broker = match self.client_broker(&client)? {
            Ok(broker) => broker,
            Err(e) => return Ok(Err(e)),
        };
        match broker.request(&topic, body, timeout).await {
            Ok(reply) => Ok(Ok(vec![self.table.push(Message::received(reply))?])),
            Err(reason) => Ok(Err(broker_error(reason))),
        }
    }

    async fn reply(&mut self, reply_to: Resource<Message>, message: Resource<Message>) -> R<Result<(), Error>> {
        let message = self.table.delete(message)?;
        let Some(subject) = self.table.get(&reply_to)?.reply_to.clone() else {
            return Ok(Err(Error::Other("the message has no reply subject: it was not sent as a request".into())));
        };
        // Through the selected link, as a 0.2.0 handler's publish goes.
        let broker = match self.broker(self.producer_link()) {
            Ok(broker) => broker,
            Err(e) => return Ok(Err(e)),
        };
        Ok(broker.publish(broker::Message::traced(subject, message.data, None)).await.map_err(broker_error))
    }
}

impl request_reply::HostRequestOptions for View<'_> {
    async fn new(&mut self) -> R<Resource<RequestOptions>> {
        Ok(self.table.push(RequestOptions::default())?)
    }

    async fn set_timeout_ms(&mut self, o: Resource<RequestOptions>, timeout_ms: u32) -> R<()> {
        self.table.get_mut(&o)?.timeout_ms = Some(timeout_ms);
        Ok(())
    }

    /// Brokers return the first reply; a wish for more is accepted and yields one.
    async fn set_expected_replies(&mut self, o: Resource<RequestOptions>, _expected: u32) -> R<()> {
        self.table.get(&o)?;
        Ok(())
    }

    async fn drop(&mut self, o: Resource<RequestOptions>) -> R<()> {
        self.table.delete(o)?;
        Ok(())
    }
}

/// Adds `wasmcloud:messaging/{types,producer,request-reply}@0.3.0` to `linker`, sending through
/// the brokers of the component's messaging links ([`MessagingState`]).
pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> anyhow::Result<()> {
    types::add_to_linker::<_, HasView<MessagingState>>(linker, View::of)?;
    producer::add_to_linker::<_, HasView<MessagingState>>(linker, View::of)?;
    request_reply::add_to_linker::<_, HasView<MessagingState>>(linker, View::of)?;
    Ok(())
}

/// The handler's error as text for logs.
pub(crate) fn describe(error: &Error) -> String {
    match error {
        Error::Timeout => "timeout".into(),
        Error::Connection(e) => format!("connection: {e}"),
        Error::PermissionDenied(e) => format!("permission denied: {e}"),
        Error::Other(e) => e.clone(),
    }
}
