//! The HTTP face of a lattice: the API the `trellis` CLI and the web dashboard share.
//!
//! Everything here goes through lattice subjects (`wadm.api.*`, `wasmbus.ctl.*`, the manager's
//! and the secret store's), so the CLI, the dashboard and a client on NATS see one truth and
//! change it the same way: the dashboard never goes around the manager. This crate owns the
//! routes, who may use them ([`access`]), the live event stream fed from the lattice's events and
//! the manager's status ([`events`]) and the dashboard's assets, compiled in ([`assets`]). It
//! knows nothing of capabilities, hosts or manifests beyond the subjects it forwards.

mod access;
mod assets;
mod events;
mod gateway;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use trellis_lattice::{Lattice, LatticeError};

pub use access::Access;
pub use events::{EventHub, LatticeEvent};

/// How a lattice's API is served.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Where to listen.
    pub address: SocketAddr,
    /// The lattice's name: the `<lattice>` of the subjects the dashboard sends.
    pub lattice: String,
    /// Who may use it: anyone on loopback, or holders of a token.
    pub access: Access,
    /// What the dashboard says it is attached to (`embedded`, `NATS nats://...`).
    pub mode: String,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A non-loopback address without a token.
    #[error("{address}: the API and dashboard can change the lattice, so on an address other than loopback they need a token (--api-token or TRELLIS_API_TOKEN), or listen on loopback (e.g. 127.0.0.1:7151)")]
    NeedsToken {
        /// The address asked for.
        address: SocketAddr,
    },
    /// The address could not be bound.
    #[error("{address}: cannot listen (is another Trellis using it? pick another address): {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The lattice's events could not be subscribed to.
    #[error("cannot follow the lattice's events: {0}")]
    Events(#[from] LatticeError),
}

/// A running API: where it listens and the dashboard's address.
#[derive(Debug, Clone)]
pub struct Serving {
    /// The bound address.
    pub address: SocketAddr,
    /// The dashboard's URL, with the token when one is needed to open it.
    pub dashboard_url: String,
}

/// What every handler shares.
struct Shared {
    lattice: Arc<dyn Lattice>,
    options: ApiOptions,
    events: EventHub,
}

/// Serves the API and the dashboard on `options.address` until the process ends.
pub async fn serve(options: ApiOptions, lattice: Arc<dyn Lattice>) -> Result<Serving, ApiError> {
    let address = options.address;
    if !address.ip().is_loopback() && matches!(options.access, Access::Loopback) {
        return Err(ApiError::NeedsToken { address });
    }
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|source| ApiError::Bind { address, source })?;
    let local = listener.local_addr().map_err(|source| ApiError::Bind { address, source })?;
    let events = EventHub::start(lattice.as_ref(), &options.lattice).await?;
    let dashboard_url = options.access.dashboard_url(local);
    let app = router(Arc::new(Shared { lattice, options, events }), local);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    Ok(Serving { address: local, dashboard_url })
}

/// Every route, behind the access check.
fn router(shared: Arc<Shared>, local: SocketAddr) -> Router {
    let access = Arc::new(access::Guard::new(shared.options.access.clone(), local));
    Router::new()
        .route("/v1/health", get(|| async { "ok\n" }))
        .route("/v1/info", get(gateway::info))
        .route("/v1/lattice/{subject}", post(gateway::forward))
        .route("/v1/gather/{subject}", post(gateway::gather))
        .route("/v1/events", get(events::stream))
        .merge(assets::routes())
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(access, access::check))
}

#[cfg(test)]
mod tests;
