//! The lattice gateway: `POST /v1/lattice/<subject>` sends the body as a request on the lattice
//! and answers with the reply; `POST /v1/gather/<subject>` collects every answer. Only the
//! subjects of the API are reachable: wadm's, the control interface, and Trellis's own.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trellis_lattice::{GATHER_LIMIT, GATHER_QUIET, LatticeError, Message};

use crate::Shared;

/// Subjects clients may reach: the wadm API, the control interface, the local secret store's
/// listing, the manager's config listing and component calls.
const ALLOWED_PREFIXES: &[&str] = &["wadm.api.", "wasmbus.ctl.", "trellis.secrets.", "trellis.config.", "trellis.call."];
/// How long a request may wait for the manager or a host.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `GET /v1/info`: what the dashboard needs to build its subjects.
pub(crate) async fn info(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(serde_json::json!({
        "lattice": shared.options.lattice,
        "mode": shared.options.mode,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// Scatter/gather (`host.ping`, auctions): every answer, as a JSON array.
pub(crate) async fn gather(State(shared): State<Arc<Shared>>, Path(subject): Path<String>, body: Bytes) -> Response {
    if !subject.starts_with("wasmbus.ctl.") {
        return (StatusCode::FORBIDDEN, format!("subject `{subject}` cannot be gathered (allowed: wasmbus.ctl.*)\n")).into_response();
    }
    match trellis_lattice::gather(shared.lattice.as_ref(), Message::new(subject, body), GATHER_QUIET, GATHER_LIMIT).await {
        Ok(replies) => {
            let bodies: Vec<serde_json::Value> = replies.iter().filter_map(|r| serde_json::from_slice(&r.payload).ok()).collect();
            axum::Json(bodies).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// One request, one reply; `trellis-*` headers travel with it (the manifest's source name).
pub(crate) async fn forward(State(shared): State<Arc<Shared>>, Path(subject): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !ALLOWED_PREFIXES.iter().any(|p| subject.starts_with(p)) {
        return (
            StatusCode::FORBIDDEN,
            format!("subject `{subject}` is not part of the API (allowed: {})\n", ALLOWED_PREFIXES.iter().map(|p| format!("{p}*")).collect::<Vec<_>>().join(", ")),
        )
            .into_response();
    }
    let mut message = Message::new(subject, body);
    message.headers = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("trellis-"))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    match shared.lattice.request(message, REQUEST_TIMEOUT).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/json")], reply.payload).into_response(),
        Err(e @ LatticeError::NoResponders { .. }) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        Err(e @ LatticeError::TimedOut { .. }) => (StatusCode::GATEWAY_TIMEOUT, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}
