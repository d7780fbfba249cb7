//! Listeners: binding, serving connections, and graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{LinkSettings, Route};
use crate::invoke::{self, HttpTarget};
use crate::routes::{Entry, Owner, RouteError, Table};
use crate::telemetry::Arrival;

/// The process's HTTP server: every listener of every app on this host.
#[derive(Clone, Default)]
pub struct HttpServer {
    inner: Arc<Mutex<Listeners>>,
}

#[derive(Default)]
struct Listeners {
    by_address: HashMap<SocketAddr, Listener>,
    /// Set once shutdown begins: no new listeners after that.
    closed: bool,
}

struct Listener {
    table: Arc<ArcSwap<Table>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The address actually bound (differs from the key when the port was 0).
    local: SocketAddr,
}

/// A route now being served; pass it back to [`HttpServer::unbind`] to stop.
#[derive(Debug, Clone)]
pub struct BoundRoute {
    /// The route as requested.
    pub route: Route,
    /// The address actually listening (the OS's choice when the port was 0).
    pub local_address: SocketAddr,
    /// Who owns it.
    pub owner: Owner,
    /// Which of the owner's bindings of this route it is.
    token: u64,
}

/// Tokens of bindings, unique in the process.
static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl HttpServer {
    /// An HTTP server with no listeners.
    pub fn new() -> HttpServer {
        HttpServer::default()
    }

    /// Serves `target` at `route`, opening the listener if this is its first route.
    ///
    /// Fails, naming both owners, if another owner has the address or route, or it routes
    /// another way. The same owner may bind a route again (a new version starting beside the
    /// old one); requests then rotate over its bindings until the old one is unbound.
    pub async fn bind(&self, route: Route, owner: Owner, target: HttpTarget, settings: LinkSettings) -> Result<BoundRoute, RouteError> {
        let address = route.address();
        let token = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = Entry { attributes: crate::telemetry::RouteAttributes::new(&owner), owner: owner.clone(), target, settings, token };
        // Fast path and conflict check under the lock; binding a socket happens outside it.
        {
            let listeners = self.inner.lock().expect("listener map poisoned");
            if let Some(l) = listeners.by_address.get(&address) {
                let next = l.table.load().with(&route, entry)?;
                l.table.store(Arc::new(next));
                return Ok(BoundRoute { route, local_address: l.local, owner, token });
            }
        }
        let socket = TcpListener::bind(address)
            .await
            .map_err(|source| RouteError::Bind { address, requested: owner.clone(), source })?;
        let local = socket.local_addr().map_err(|source| RouteError::Bind { address, requested: owner.clone(), source })?;
        let table = Arc::new(ArcSwap::from_pointee(Table::Empty.with(&route, entry.clone())?));
        let mut listeners = self.inner.lock().expect("listener map poisoned");
        if listeners.closed {
            return Err(RouteError::Bind {
                address,
                requested: owner,
                source: std::io::Error::other("the server is shutting down"),
            });
        }
        if let Some(l) = listeners.by_address.get(&address) {
            // Someone bound the same address while we were binding; join theirs.
            let next = l.table.load().with(&route, entry)?;
            l.table.store(Arc::new(next));
            return Ok(BoundRoute { route, local_address: l.local, owner, token });
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(socket, table.clone(), stopped));
        listeners.by_address.insert(address, Listener { table, stop, task, local });
        tracing::info!(%local, %owner, "listening");
        Ok(BoundRoute { route, local_address: local, owner, token })
    }

    /// Stops serving `bound`; closes the listener (after its requests finish) when it was the last route.
    pub async fn unbind(&self, bound: &BoundRoute) {
        let closing = {
            let mut listeners = self.inner.lock().expect("listener map poisoned");
            let address = bound.route.address();
            let Some(l) = listeners.by_address.get(&address) else { return };
            let next = l.table.load().without(&bound.route, bound.token);
            let empty = next.is_empty();
            l.table.store(Arc::new(next));
            if empty { listeners.by_address.remove(&address) } else { None }
        };
        if let Some(l) = closing {
            let _ = l.stop.send(true);
            let _ = l.task.await;
        }
    }

    /// Stops accepting connections everywhere and waits for in-flight requests to finish.
    pub async fn shutdown(&self) {
        let all: Vec<Listener> = {
            let mut listeners = self.inner.lock().expect("listener map poisoned");
            listeners.closed = true;
            listeners.by_address.drain().map(|(_, l)| l).collect()
        };
        for l in &all {
            let _ = l.stop.send(true);
        }
        for l in all {
            let _ = l.task.await;
        }
    }
}

/// Applies the link's settings around the invocation.
async fn serve_routed(entry: &Entry, request: hyper::Request<hyper::body::Incoming>) -> hyper::Response<invoke::Body> {
    let settings = &entry.settings;
    if settings.readonly && !matches!(*request.method(), http::Method::GET | http::Method::HEAD) {
        let mut response = invoke::text_response(405, format!("{} is read-only: only GET and HEAD\n", entry.owner));
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = match settings.timeout {
        // The guest's own deadline still bounds its instance; this bounds the client's wait.
        Some(limit) => tokio::time::timeout(limit, invoke::handle(&entry.target, request)).await.unwrap_or_else(|_| {
            invoke::text_response(408, format!("{} did not answer within the link's timeout_ms of {}\n", entry.owner, limit.as_millis()))
        }),
        None => invoke::handle(&entry.target, request).await,
    };
    if let Some(value) = &settings.cache_control {
        response.headers_mut().insert(http::header::CACHE_CONTROL, value.clone());
    }
    response
}

async fn serve(socket: TcpListener, table: Arc<ArcSwap<Table>>, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let table = table.clone();
        let service = service_fn(move |request| {
            let table = table.clone();
            async move {
                let entry = table.load().route(&request).cloned();
                let response = match entry {
                    Some(entry) => crate::telemetry::traced(Arrival::Listener(Some(&entry.attributes)), request, |r| serve_routed(&entry, r)).await,
                    None => crate::telemetry::traced(Arrival::Listener(None), request, |_| async { invoke::text_response(404, "no component is routed here\n".into()) }).await,
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(socket);
    graceful.shutdown().await;
}
