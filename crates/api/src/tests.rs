use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use trellis_lattice::{InProcess, Lattice, Message};

use super::*;

const LOCAL: &str = "127.0.0.1:7151";

async fn app(access: Access) -> (Router, Arc<dyn Lattice>) {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let local: SocketAddr = LOCAL.parse().unwrap();
    let options = ApiOptions { address: local, lattice: "default".into(), access, mode: "embedded".into() };
    let events = EventHub::start(lattice.as_ref(), "default").await.unwrap();
    (router(Arc::new(Shared { lattice: lattice.clone(), options, events }), local), lattice)
}

fn get(path: &str, host: &str) -> axum::http::request::Builder {
    Request::get(path).header(header::HOST, host)
}

async fn status(router: &Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn loopback_names_pass_and_other_names_are_refused() {
    let (router, _) = app(Access::Loopback).await;
    for host in [LOCAL, "localhost:7151", "[::1]:7151", "127.0.0.1"] {
        assert_eq!(status(&router, get("/v1/health", host).body(Body::empty()).unwrap()).await, StatusCode::OK, "{host}");
    }
    // A page whose DNS name was pointed at 127.0.0.1 (DNS rebinding) sends its own name.
    let rebound = router.clone().oneshot(get("/v1/info", "attacker.example:7151").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let text = String::from_utf8(rebound.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("attacker.example:7151") && text.contains("not a loopback name"), "{text}");
}

#[tokio::test]
async fn changes_from_another_site_are_refused_and_same_origin_ones_pass() {
    let (router, _) = app(Access::Loopback).await;
    let post = |headers: &[(&str, &str)]| {
        let mut request = Request::post("/v1/lattice/wadm.api.default.model.get").header(header::HOST, LOCAL);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(status(&router, post(&[("origin", "http://evil.example")])).await, StatusCode::FORBIDDEN);
    assert_eq!(status(&router, post(&[("sec-fetch-site", "cross-site")])).await, StatusCode::FORBIDDEN);
    assert_eq!(status(&router, post(&[("sec-fetch-site", "same-site")])).await, StatusCode::FORBIDDEN);
    // Past the guard, to the lattice, where nobody answers here: the gateway's own answer.
    let same_origin = [("origin", "http://127.0.0.1:7151"), ("sec-fetch-site", "same-origin")];
    assert_eq!(status(&router, post(&same_origin)).await, StatusCode::SERVICE_UNAVAILABLE);
    // The CLI sends neither header.
    assert_eq!(status(&router, post(&[])).await, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_token_is_needed_by_header_or_cookie_and_the_url_trades_it_for_a_cookie() {
    let (router, _) = app(Access::Token("s3cret".into())).await;
    let host = "10.1.2.3:7151";
    assert_eq!(status(&router, get("/v1/info", host).body(Body::empty()).unwrap()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&router, get("/v1/health", host).body(Body::empty()).unwrap()).await, StatusCode::OK, "probes need no token");
    assert_eq!(status(&router, get("/v1/info", host).header(header::AUTHORIZATION, "Bearer nope").body(Body::empty()).unwrap()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(&router, get("/v1/info", host).header(header::AUTHORIZATION, "Bearer s3cret").body(Body::empty()).unwrap()).await, StatusCode::OK);
    assert_eq!(status(&router, get("/v1/info", host).header(header::COOKIE, "a=b; trellis-token=s3cret").body(Body::empty()).unwrap()).await, StatusCode::OK);
    assert_eq!(status(&router, get("/?token=nope", host).body(Body::empty()).unwrap()).await, StatusCode::UNAUTHORIZED);

    let traded = router.clone().oneshot(get("/?token=s3cret", host).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(traded.status(), StatusCode::SEE_OTHER);
    assert_eq!(traded.headers()[header::LOCATION], "/");
    let cookie = traded.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("trellis-token=s3cret;") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
}

#[tokio::test]
async fn a_non_loopback_address_needs_a_token() {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let options = ApiOptions { address: "0.0.0.0:0".parse().unwrap(), lattice: "default".into(), access: Access::Loopback, mode: "embedded".into() };
    let error = serve(options, lattice).await.unwrap_err();
    assert!(matches!(error, ApiError::NeedsToken { .. }), "{error}");
    assert!(error.to_string().contains("--api-token"), "{error}");
    assert_eq!(Access::from_token(Some(String::new())), Access::Loopback);
}

#[tokio::test]
async fn only_the_apis_subjects_are_forwarded() {
    let (router, _) = app(Access::Loopback).await;
    let request = Request::post("/v1/lattice/_INBOX.steal").header(header::HOST, LOCAL).body(Body::empty()).unwrap();
    assert_eq!(status(&router, request).await, StatusCode::FORBIDDEN);
    let request = Request::post("/v1/gather/wadm.api.default.model.get").header(header::HOST, LOCAL).body(Body::empty()).unwrap();
    assert_eq!(status(&router, request).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_dashboard_is_small_self_contained_and_revalidated() {
    let (router, _) = app(Access::Loopback).await;
    let mut total = 0;
    for path in ["/", "/ui/app.js", "/ui/style.css", "/ui/icon.svg"] {
        let response = router.clone().oneshot(get(path, LOCAL).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"), "{policy}");
        let etag = response.headers()[header::ETAG].clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        // The SVG namespace is a name, not an address anything is loaded from.
        let text = String::from_utf8_lossy(&body).replace("http://www.w3.org/2000/svg", "");
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "{path} names another origin");
        total += body.len();
        let again = router.clone().oneshot(get(path, LOCAL).header(header::IF_NONE_MATCH, etag).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    assert!(total < 300 * 1024, "the dashboard is {total} bytes");
}

#[tokio::test]
async fn events_fan_out_in_order_and_a_late_page_sees_the_recent_ones() {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let hub = EventHub::start(lattice.as_ref(), "default").await.unwrap();
    let (before, mut early) = hub.follow();
    assert!(before.is_empty());

    let started = trellis_types::inventory::CloudEvent::now("NHOST", "host_started", serde_json::json!({"labels": {}}));
    lattice.publish(Message::new("wasmbus.evt.default.host_started", serde_json::to_vec(&started).unwrap())).await.unwrap();
    let status = serde_json::json!({"status": {"type": "deployed", "message": ""}, "scalers": []});
    lattice.publish(Message::new("wadm.status.default.hello-world", serde_json::to_vec(&status).unwrap())).await.unwrap();
    // Another lattice's events are not this dashboard's.
    lattice.publish(Message::new("wasmbus.evt.other.host_started", serde_json::to_vec(&started).unwrap())).await.unwrap();

    let first = early.recv().await.unwrap();
    assert_eq!((first.seq, first.kind.as_str(), first.source.as_str()), (1, "host_started", "NHOST"));
    let second = early.recv().await.unwrap();
    assert_eq!((second.seq, second.kind.as_str(), second.source.as_str()), (2, "app_status", "hello-world"));
    assert_eq!(second.data, status);

    let (recent, _late) = hub.follow();
    assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn only_the_most_recent_events_are_kept() {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let hub = EventHub::start(lattice.as_ref(), "default").await.unwrap();
    for _ in 0..600 {
        hub.publish(LatticeEvent { seq: 0, kind: "host_heartbeat".into(), source: "N".into(), received_ms: 0, data: serde_json::Value::Null });
    }
    let (recent, _) = hub.follow();
    assert_eq!(recent.len(), 500);
    assert_eq!((recent[0].seq, recent[499].seq), (101, 600));
}
