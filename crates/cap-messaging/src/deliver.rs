//! Delivering subscribed messages: each message is one invocation of the component's
//! `wasmcloud:messaging/handler.handle-message`, on a fresh instance, under its limits.

use trellis_runtime::{InvocationState, PreparedComponent};

use crate::broker::{Message, Subscriber};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:messaging/handler",
        exports: { default: async },
    });
}

use generated::HandlerPre;
use generated::wasmcloud::messaging::types::BrokerMessage;

const HANDLE: &str = "wasmcloud:messaging/handler.handle-message";

/// A component that exports `wasmcloud:messaging/handler@0.2.0`.
#[derive(Clone)]
pub struct Handler {
    component: PreparedComponent,
    pre: HandlerPre<InvocationState>,
}

impl Handler {
    /// Checks the component exports the handler.
    pub fn new(component: PreparedComponent) -> anyhow::Result<Handler> {
        let pre = HandlerPre::new(component.instance_pre().clone()).map_err(|e| {
            anyhow::anyhow!("component `{}` does not export wasmcloud:messaging/handler@0.2.0: {e}", component.id())
        })?;
        Ok(Handler { component, pre })
    }

    async fn handle(&self, message: Message) {
        let invocation = match self.component.begin(HANDLE).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(subject = %message.subject, "{e}");
                return;
            }
        };
        let (mut store, guard) = (invocation.store, invocation.guard);
        let subject = message.subject.clone();
        let msg = BrokerMessage { subject: message.subject, body: message.body, reply_to: message.reply_to };
        let result = guard
            .run(async {
                let instance = self.pre.instantiate_async(&mut store).await?;
                instance.wasmcloud_messaging_handler().call_handle_message(&mut store, &msg).await
            })
            .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => tracing::warn!(component = self.component.id(), %subject, "{HANDLE} returned an error: {reason}"),
            Err(e) => tracing::warn!(%subject, kind = ?e.kind(), "{e}"),
        }
    }
}

/// Delivers every message of `subscriber` to `handler`, each in its own task (the component's
/// concurrency cap bounds how many run at once), until the subscription ends or the returned
/// task is aborted.
pub fn deliver(handler: Handler, mut subscriber: Subscriber) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = subscriber.recv().await {
            let handler = handler.clone();
            tokio::spawn(async move { handler.handle(message).await });
        }
    })
}
