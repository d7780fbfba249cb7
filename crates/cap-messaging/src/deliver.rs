//! Delivering subscribed messages: each message is one invocation of the component's
//! `wasmcloud:messaging/handler@0.2.0.handle-message` or `incoming-handler@0.3.0.handle`, on a
//! fresh instance, under its limits. A
//! handler on another host is reached over wRPC, as wasmCloud's messaging providers reach
//! theirs, and every host serves its own handlers the same way.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::Instrument as _;
use trellis_rpc::Calls;
use trellis_runtime::{InvocationState, PreparedComponent};

use crate::broker::{Message, Subscriber};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:messaging/handler",
        exports: { default: async },
    });
}

#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated")]
mod wrpc_bindings {
    wit_bindgen_wrpc::generate!({ path: "wit", world: "trellis:messaging/wrpc-handler", generate_all });
}

use generated::HandlerPre;
use generated::wasmcloud::messaging0_2_0::types::BrokerMessage;

use crate::v0_3::{self, IncomingHandlerIndices};

/// A component that exports `wasmcloud:messaging/handler@0.2.0` or `incoming-handler@0.3.0`.
#[derive(Clone)]
pub struct Handler(Target);

/// Which of the two handlers a component exports.
#[derive(Clone)]
enum Export {
    V0_2(HandlerPre<InvocationState>),
    V0_3(Arc<IncomingHandlerIndices>),
}

impl Export {
    fn function(&self) -> &'static str {
        match self {
            Export::V0_2(_) => "wasmcloud:messaging/handler.handle-message",
            Export::V0_3(_) => "wasmcloud:messaging/incoming-handler.handle",
        }
    }
}

#[derive(Clone)]
enum Target {
    /// Runs on this host: a fresh instance per message.
    Here { component: PreparedComponent, export: Export },
    /// Runs somewhere on the lattice: in this process if a host of it runs the component when
    /// the message comes, else on any host that does, over wRPC.
    Lattice { id: Arc<str>, calls: Calls },
}

impl Handler {
    /// Checks the component exports a handler.
    pub fn new(component: PreparedComponent) -> anyhow::Result<Handler> {
        let export = match HandlerPre::new(component.instance_pre().clone()) {
            Ok(pre) => Export::V0_2(pre),
            Err(v0_2) => match IncomingHandlerIndices::new(component.instance_pre()) {
                Ok(indices) => Export::V0_3(Arc::new(indices)),
                Err(v0_3) => anyhow::bail!(
                    "component `{}` exports neither wasmcloud:messaging/handler@0.2.0 ({v0_2}) nor wasmcloud:messaging/incoming-handler@0.3.0 ({v0_3})",
                    component.id()
                ),
            },
        };
        Ok(Handler(Target::Here { component, export }))
    }

    /// Component `id` wherever it runs, found again for every message.
    pub fn on_lattice(id: &str, calls: Calls) -> Handler {
        Handler(Target::Lattice { id: id.into(), calls })
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        match &self.0 {
            Target::Here { component, .. } => component.id(),
            Target::Lattice { id, .. } => id,
        }
    }

    /// Hands `message` to the component; why it was not handled, if it was not.
    async fn handle(&self, message: Message) -> Result<(), String> {
        let (component, export) = match &self.0 {
            Target::Here { component, export } => (component, export),
            Target::Lattice { id, calls } => {
                if let Some(component) = calls.running_here(id) {
                    return Box::pin(Handler::new(component).map_err(|e| e.to_string())?.handle(message)).await;
                }
                let client = match calls.wrpc_client(id).await {
                    Some(client) => client.map_err(|e| format!("{e:#}"))?,
                    None => return Err(format!("component `{id}` is not running in this process, and it is not joined to a NATS lattice")),
                };
                let msg = wrpc_bindings::wasmcloud::messaging0_2_0::types::BrokerMessage {
                    subject: message.subject,
                    body: message.body.into(),
                    reply_to: message.reply_to,
                };
                return wrpc_bindings::wasmcloud::messaging0_2_0::handler::handle_message(&client, None, &msg)
                    .await
                    .map_err(|e| format!("component `{id}` on another host: {e:#}"))?;
            }
        };
        let function = export.function();
        let invocation = component.begin(function).await.map_err(|e| e.to_string())?;
        let (mut store, guard) = (invocation.store, invocation.guard);
        let result = guard
            .run(async {
                match export {
                    Export::V0_2(pre) => {
                        let msg = BrokerMessage { subject: message.subject, body: message.body, reply_to: message.reply_to };
                        let instance = pre.instantiate_async(&mut store).await?;
                        instance.wasmcloud_messaging0_2_0_handler().call_handle_message(&mut store, &msg).await
                    }
                    Export::V0_3(indices) => {
                        let instance = component.instance_pre().instantiate_async(&mut store).await?;
                        let handler = indices.load(&mut store, &instance)?;
                        let msg = store.data_mut().links_and_table().1.push(v0_3::Message::received(message))?;
                        Ok(handler.call_handle(&mut store, msg).await?.map_err(|e| v0_3::describe(&e)))
                    }
                }
            })
            .await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(format!("{function} returned an error: {reason}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Delivers every message of `subscriber` to `handler`, each in its own task (the component's
/// concurrency cap bounds how many run at once), until the subscription ends or the returned
/// task is aborted.
pub fn deliver(handler: Handler, mut subscriber: Subscriber) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = subscriber.recv().await {
            let handler = handler.clone();
            let span = tracing::info_span!(
                target: trellis_telemetry::SPANS,
                "receive",
                otel.name = %format_args!("receive {}", message.subject),
                otel.kind = "consumer",
                messaging.destination.name = %message.subject,
                trellis.component.id = handler.id(),
            );
            message.trace.parent_of(&span);
            tokio::spawn(
                async move {
                    let subject = message.subject.clone();
                    if let Err(error) = handler.handle(message).await {
                        tracing::warn!(component = handler.id(), %subject, "{error}");
                    }
                }
                .instrument(span),
            );
        }
    })
}

/// Serves `handler` (a component running here) as `wasmcloud:messaging/handler@0.2.0` on
/// `client` (the component's own subjects, so every host running it shares the messages), for
/// messaging capabilities on other hosts, until the task is aborted.
pub async fn serve_wrpc(client: &wrpc_transport_nats::Client, handler: Handler) -> anyhow::Result<JoinHandle<()>> {
    let id = handler.id().to_owned();
    let served = wrpc_bindings::exports::wasmcloud::messaging0_2_0::handler::serve_interface(client, Served(handler)).await?;
    Ok(trellis_rpc::answer_all(&id, served))
}

#[derive(Clone)]
struct Served(Handler);

impl<Ctx: Send> wrpc_bindings::exports::wasmcloud::messaging0_2_0::handler::Handler<Ctx> for Served {
    async fn handle_message(&self, _cx: Ctx, msg: wrpc_bindings::wasmcloud::messaging0_2_0::types::BrokerMessage) -> anyhow::Result<Result<(), String>> {
        let message = Message { subject: msg.subject, body: msg.body.to_vec(), reply_to: msg.reply_to, trace: Default::default() };
        Ok(self.0.handle(message).await)
    }
}
