//! The embedded instance's HTTP API on loopback: `POST /v1/lattice/<subject>` sends the body as
//! a request on the in-process lattice and answers with the reply, so the CLI (and later the
//! dashboard) speak the same subjects and JSON as over NATS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use trellis_lattice::{Lattice, LatticeError, Message};

use crate::client::{GATHER_LIMIT, GATHER_QUIET};

/// Subjects clients may reach: the wadm API and the control interface.
const ALLOWED_PREFIXES: &[&str] = &["wadm.api.", "wasmbus.ctl.", "trellis.secrets.", "trellis.call."];
/// How long a request may wait for the manager or a host.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves the API on `address` (refusing non-loopback addresses); returns the bound address.
pub(crate) async fn serve(address: SocketAddr, lattice: Arc<dyn Lattice>) -> anyhow::Result<SocketAddr> {
    if !address.ip().is_loopback() {
        anyhow::bail!("--api {address}: the API has no authentication, so it listens on loopback only (e.g. 127.0.0.1:7151)");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--api {address}: cannot listen (is another `trellis up` running? pick another with --api)"))?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/v1/health", get(|| async { "ok\n" }))
        .route("/v1/lattice/{subject}", post(forward))
        .route("/v1/gather/{subject}", post(gather))
        .with_state(lattice);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    Ok(local)
}

/// Scatter/gather (`host.ping`, auctions): every answer, as a JSON array.
async fn gather(State(lattice): State<Arc<dyn Lattice>>, Path(subject): Path<String>, body: Bytes) -> Response {
    if !subject.starts_with("wasmbus.ctl.") {
        return (StatusCode::FORBIDDEN, format!("subject `{subject}` cannot be gathered (allowed: wasmbus.ctl.*)\n")).into_response();
    }
    match trellis_lattice::gather(lattice.as_ref(), Message::new(subject, body), GATHER_QUIET, GATHER_LIMIT).await {
        Ok(replies) => {
            let bodies: Vec<serde_json::Value> = replies.iter().filter_map(|r| serde_json::from_slice(&r.payload).ok()).collect();
            axum::Json(bodies).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

async fn forward(State(lattice): State<Arc<dyn Lattice>>, Path(subject): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !ALLOWED_PREFIXES.iter().any(|p| subject.starts_with(p)) {
        return (StatusCode::FORBIDDEN, format!("subject `{subject}` is not part of the API (allowed: wadm.api.*, wasmbus.ctl.*, trellis.secrets.*, trellis.call.*)\n"))
            .into_response();
    }
    let mut message = Message::new(subject, body);
    message.headers = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("trellis-"))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    match lattice.request(message, REQUEST_TIMEOUT).await {
        Ok(reply) => ([(header::CONTENT_TYPE, "application/json")], reply.payload).into_response(),
        Err(e @ LatticeError::NoResponders { .. }) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        Err(e @ LatticeError::TimedOut { .. }) => (StatusCode::GATEWAY_TIMEOUT, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}
