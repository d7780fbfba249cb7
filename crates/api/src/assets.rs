//! The dashboard's files, compiled into the binary: it works offline and loads nothing from
//! anywhere else (the Content-Security-Policy says so to the browser too).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::Digest as _;

use crate::Shared;

/// A compiled-in file.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    /// A strong validator, so a reload costs a `304`.
    etag: LazyLock<String>,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            content_type: $content_type,
            body: include_str!(concat!("../assets/", $file)),
            etag: LazyLock::new(|| format!("\"{}\"", &hex::encode(sha2::Sha256::digest(include_str!(concat!("../assets/", $file)).as_bytes()))[..16])),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("style.css", "text/css; charset=utf-8");
static ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// Only this server's own files and API: no inline script, no CDN, no framing.
const POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }))
        .route("/ui/app.js", get(|headers: HeaderMap| async move { serve(&SCRIPT, &headers) }))
        .route("/ui/style.css", get(|headers: HeaderMap| async move { serve(&STYLE, &headers) }))
        .route("/ui/icon.svg", get(|headers: HeaderMap| async move { serve(&ICON, &headers) }))
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = asset.etag.as_str();
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("a hex etag is a valid header"));
    // Revalidated on every load, so a new binary's dashboard is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
