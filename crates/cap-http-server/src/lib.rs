//! The built-in HTTP server capability: serves components that export
//! `wasi:http/incoming-handler@0.2.x`, in-process, with the semantics of wasmCloud's
//! `ghcr.io/wasmcloud/http-server` provider, so existing manifests work unchanged.
//!
//! **Owns** listeners, routing (by `address`, by `path`, by `host` header), the check that no
//! address or route is claimed twice, turning a request into an invocation and a failed
//! invocation into an HTTP error, and graceful shutdown.
//!
//! **Must not** read manifests or know applications beyond the [`Owner`] names it reports in
//! conflicts: the host translates links into [`Route`]s with [`ServerConfig`] and
//! [`Route::from_link_config`].
//!
//! A route's component may run on another host: the request then travels as wasmCloud's
//! http-server provider sends it, `wrpc:http/incoming-handler@0.1.0.handle` over wRPC
//! ([`HttpTarget::on_lattice`]), and [`serve_wrpc`] answers such requests for a component that
//! runs here, from any caller (a Trellis host or a wasmCloud provider).
//!
//! Start at [`HttpServer`].
//!
//! ## Routing, as wasmCloud's provider does it
//! - `routing_mode: address` (default): every link names its own `address` (`IP:PORT`, or
//!   `port`), one component per listener.
//! - `routing_mode: path`: one listener on `default_address`; each link names a `path`, matched
//!   exactly against the request path.
//! - `routing_mode: host`: one listener on `default_address`; each link names a `host`, matched
//!   against the `Host` header (or the header named by `header`).
//!
//! Unlike wasmCloud, an address or route claimed twice is refused, naming both owners, rather
//! than silently served by whichever registered first.
#![warn(missing_docs)]

mod config;
mod invoke;
mod routes;
mod server;
mod telemetry;
mod wrpc;

pub use config::{ConfigError, LinkSettings, Route, RoutingMode, ServerConfig};
pub use invoke::HttpTarget;
pub use routes::{Owner, RouteError};
pub use server::{BoundRoute, HttpServer};
pub use wrpc::serve_wrpc;

use trellis_types::image::ImageRef;

/// The `wasmcloud+builtin://` name this capability answers to.
pub const BUILTIN_NAME: &str = "http-server";
/// The wasmCloud provider it replaces, matched on any registry and at any version.
pub const PROVIDER_REPOSITORY: &str = "wasmcloud/http-server";

/// Whether `image` names this capability: the built-in, or wasmCloud's provider image.
pub fn is_server_image(image: &ImageRef) -> bool {
    match image {
        ImageRef::Builtin(name) => name == BUILTIN_NAME,
        ImageRef::Oci(_) => image.oci_repository().as_deref() == Some(PROVIDER_REPOSITORY),
        ImageRef::File(_) => false,
    }
}
