//! Who may use the API, and from where.
//!
//! On loopback anyone on the machine may (as with `trellis` itself), but only under a loopback
//! name: a page on another site whose DNS name points at 127.0.0.1 (DNS rebinding) sends its own
//! name as `Host` and is refused. On any other address a token is required: as
//! `Authorization: Bearer <token>` from the CLI, or as the cookie the dashboard's URL
//! (`/?token=...`) sets once. Whatever the access, a state-changing request from another site
//! (a form or `fetch` on a page elsewhere) is refused by its `Origin` and `Sec-Fetch-Site`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The cookie the dashboard keeps its token in.
const COOKIE: &str = "trellis-token";

/// Who may use the API.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches it on loopback.
    Loopback,
    /// Holders of this token.
    Token(String),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Loopback => f.write_str("Loopback"),
            Access::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl Access {
    /// `token` if one is set (and not empty), else loopback only.
    pub fn from_token(token: Option<String>) -> Access {
        match token {
            Some(t) if !t.is_empty() => Access::Token(t),
            _ => Access::Loopback,
        }
    }

    /// The dashboard's address for a person to open: with the token, which it trades for a cookie.
    pub(crate) fn dashboard_url(&self, local: SocketAddr) -> String {
        match self {
            Access::Loopback => format!("http://{local}/"),
            Access::Token(token) => format!("http://{local}/?token={token}"),
        }
    }
}

/// The access check, with what it needs to know of the listener.
pub(crate) struct Guard {
    access: Access,
    local: SocketAddr,
}

impl Guard {
    pub(crate) fn new(access: Access, local: SocketAddr) -> Guard {
        Guard { access, local }
    }

    /// Why `request` may not go on, if it may not.
    fn refuse(&self, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Option<Refusal> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if self.access == Access::Loopback && !is_loopback_name(host, self.local) {
            return Some(Refusal::Forbidden(format!("Host `{host}` is not a loopback name; open the dashboard at http://{}/", self.local)));
        }
        if !matches!(*method, Method::GET | Method::HEAD) {
            if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
                && !matches!(site, "same-origin" | "none")
            {
                return Some(Refusal::Forbidden(format!("a {site} request may not change the lattice")));
            }
            if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
                && origin.split_once("://").map(|(_, authority)| authority) != Some(host)
            {
                return Some(Refusal::Forbidden(format!("a request from {origin} may not change the lattice")));
            }
        }
        let Access::Token(token) = &self.access else { return None };
        // Probes (a kubelet's) carry no token, and "ok" tells nobody anything.
        if uri.path() == "/v1/health" {
            return None;
        }
        if presented(headers).is_some_and(|t| same(t, token)) {
            return None;
        }
        match query_token(uri) {
            Some(t) if uri.path() == "/" && same(t, token) => Some(Refusal::SetCookie(token.clone())),
            Some(_) => Some(Refusal::Unauthorized("the token in the address is not this dashboard's")),
            None => Some(Refusal::Unauthorized("this API needs its token: open the dashboard at the URL Trellis printed at start, or send `Authorization: Bearer <token>` (TRELLIS_API_TOKEN for the CLI)")),
        }
    }
}

enum Refusal {
    Forbidden(String),
    Unauthorized(&'static str),
    /// The right token in the address: keep it in a cookie and drop it from the address.
    SetCookie(String),
}

/// The middleware: lets a request through, or answers it.
pub(crate) async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.refuse(request.method(), request.uri(), request.headers()) {
        None => next.run(request).await,
        Some(Refusal::Forbidden(why)) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
        Some(Refusal::Unauthorized(why)) => (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response(),
        Some(Refusal::SetCookie(token)) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, "/")
            .header(header::SET_COOKIE, format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"))
            .body(Body::empty())
            .expect("a redirect is a valid response"),
    }
}

/// Whether `host` (a `Host` header) names this listener by a loopback name.
fn is_loopback_name(host: &str, local: SocketAddr) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip == local.ip())
}

/// The token a request carries: bearer header, else cookie.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn query_token(uri: &axum::http::Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("token="))
}

/// Compares in time independent of where the two differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
