//! `wasmcloud:messaging/consumer@0.2.0`: what a component linked to a messaging capability may
//! send, and the state both versions share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use trellis_runtime::{Grants, HasView, InvocationState};
use wasmtime::component::Linker;

use crate::broker::{Broker, Message};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:messaging/consumer",
        imports: { default: async },
    });
}

use generated::wasmcloud::messaging0_2_0::{consumer, types};

/// The per-invocation state of both versions: the broker of each of the component's messaging links.
pub(crate) struct MessagingState {
    pub(crate) brokers: Arc<BTreeMap<String, Arc<dyn Broker>>>,
}

type View<'a> = trellis_runtime::View<'a, MessagingState>;

/// The broker a 0.2.0 call reaches.
trait ConsumerBroker {
    /// The broker of the `wasmcloud:messaging/consumer` link selected now.
    fn broker(&self) -> Result<&Arc<dyn Broker>, String>;
}

impl ConsumerBroker for View<'_> {
    fn broker(&self) -> Result<&Arc<dyn Broker>, String> {
        let link = self.links.name("wasmcloud:messaging/consumer");
        self.state.brokers.get(link).ok_or_else(|| format!("no wasmcloud:messaging link named `{link}`"))
    }
}

/// The longest a `request` may wait, whatever the guest asks: its own deadline bounds it too.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl consumer::Host for View<'_> {
    async fn request(&mut self, subject: String, body: Vec<u8>, timeout_ms: u32) -> Result<types::BrokerMessage, String> {
        let timeout = Duration::from_millis(timeout_ms.into()).min(MAX_REQUEST_TIMEOUT);
        let reply = self.broker()?.request(&subject, body, timeout).await.map_err(|e| e.to_string())?;
        Ok(types::BrokerMessage { subject: reply.subject, body: reply.body, reply_to: reply.reply_to })
    }

    async fn publish(&mut self, msg: types::BrokerMessage) -> Result<(), String> {
        self.broker()?.publish(Message::traced(msg.subject, msg.body, msg.reply_to)).await.map_err(|e| e.to_string())
    }
}

impl types::Host for View<'_> {}

/// Adds `wasmcloud:messaging/consumer@0.2.0` and `producer` / `request-reply@0.3.0` to
/// `linker`, sending through the broker of the link name selected for the interface
/// (`default` unless the guest chose).
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, brokers: BTreeMap<String, Arc<dyn Broker>>) -> anyhow::Result<()> {
    consumer::add_to_linker::<_, HasView<MessagingState>>(linker, View::of)?;
    types::add_to_linker::<_, HasView<MessagingState>>(linker, View::of)?;
    crate::v0_3::add_to_linker(linker)?;
    grants.interfaces("wasmcloud:messaging/");
    let brokers = Arc::new(brokers);
    grants.state(move || MessagingState { brokers: brokers.clone() });
    Ok(())
}
