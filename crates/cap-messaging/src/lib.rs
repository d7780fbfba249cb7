//! `wasmcloud:messaging` for Trellis components, in both versions wasmCloud 1.x links: 0.2.0
//! (the `consumer` import, the exported `handler`) and 0.3.0 (`producer`, `request-reply`, the
//! exported `incoming-handler`), with delivery of subscribed messages to either handler.
//!
//! **Owns** the bindings, the [`Broker`] trait every backend implements, the in-process broker
//! ([`InProcessBroker`]: NATS subject semantics, in one process) and the delivery loop that
//! turns a message into an invocation of `handle-message` under the component's limits.
//! **Must not** know links or manifests: the host reads `SUBSCRIPTIONS` and hands over
//! [`Subscription`]s. Backends with their own clients (NATS) live in their own crates.
//!
//! Replies follow wasmCloud: a handler answers a request by publishing to the message's
//! `reply-to` subject.

mod broker;
mod consumer;
mod deliver;
mod in_process;
mod v0_3;

pub use broker::{Broker, BrokerError, Message, Subscriber, Subscription};
pub use consumer::grant;
pub use deliver::{Handler, deliver, serve_wrpc};
pub use in_process::{InProcessBackend, InProcessBroker};
