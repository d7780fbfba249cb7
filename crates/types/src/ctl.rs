//! The control interface's reply envelope (`wasmbus.ctl.v1.<lattice>.*`), as wasmCloud sends it.

use serde::{Deserialize, Serialize};

/// Every control-interface reply: whether it worked, a message, and maybe a body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CtlReply<T = serde_json::Value> {
    /// Whether the request did what it asked.
    pub success: bool,
    /// For people; the reason when `success` is false.
    #[serde(default)]
    pub message: String,
    /// The answer, for reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<T>,
}

impl<T> CtlReply<T> {
    /// Success with a body.
    pub fn ok(response: T) -> CtlReply<T> {
        CtlReply { success: true, message: String::new(), response: Some(response) }
    }

    /// Success with only a message.
    pub fn done(message: impl Into<String>) -> CtlReply<T> {
        CtlReply { success: true, message: message.into(), response: None }
    }

    /// Failure, with the reason.
    pub fn fail(message: impl Into<String>) -> CtlReply<T> {
        CtlReply { success: false, message: message.into(), response: None }
    }
}
