//! What a guest's store holds for one invocation: its WASI context, deny-by-default.

use std::any::Any;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::limits::MemoryLimiter;

/// The data of one invocation's [`Store`](wasmtime::Store).
pub struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    hooks: OutboundPolicy,
    /// State of the capabilities this invocation has used so far: made on first use from
    /// `factories`, so a request that never calls a capability pays nothing for it.
    extensions: Vec<Box<dyn Any + Send>>,
    factories: Arc<[(std::any::TypeId, StateFactory)]>,
    links: Links,
}

/// Which link names a component has per interface, and which one each interface uses now
/// (`wasmcloud:bus/lattice.set-link-name`); `default` until the guest selects another.
#[derive(Default)]
pub struct Links {
    available: Arc<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>,
    selected: Vec<(String, String)>,
}

impl Links {
    /// The link name `interface` (`ns:pkg/iface`, no version) uses now.
    pub fn name(&self, interface: &str) -> &str {
        self.selected.iter().rev().find(|(i, _)| i == interface).map_or("default", |(_, n)| n.as_str())
    }

    /// Whether the component has a link named `name` for `interface`.
    pub fn exists(&self, interface: &str, name: &str) -> bool {
        self.available.get(interface).is_some_and(|names| names.contains(name))
    }

    /// Makes `interface` use the link named `name` from now on in this invocation.
    pub fn select(&mut self, interface: &str, name: &str) {
        self.selected.retain(|(i, _)| i != interface);
        self.selected.push((interface.to_owned(), name.to_owned()));
    }
}

/// Makes a capability's per-invocation state; one per capability linked to a component.
pub type StateFactory = std::sync::Arc<dyn Fn() -> Box<dyn Any + Send> + Send + Sync>;

/// Defines in a component's linker what depends on the shape of that component's own imports:
/// for an interface published in more than one shape (wasmCloud's WIT and an upstream draft),
/// the capability defines one with its bindings and, when the component imports the other, an
/// adapter here. Runs once per component, before it is pre-instantiated.
pub type Adapter = Arc<dyn Fn(&mut Linker<InvocationState>, &Engine, &Component) -> anyhow::Result<()> + Send + Sync>;

/// What a component's capabilities added to its linker: the interface families they define
/// and the per-invocation state their host functions use.
#[derive(Clone)]
pub struct Grants {
    pub(crate) interfaces: Vec<String>,
    pub(crate) extensions: Arc<[(std::any::TypeId, StateFactory)]>,
    pub(crate) outbound_http: Option<Arc<dyn OutboundHttp>>,
    pub(crate) links: Arc<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>,
    adapters: Vec<Adapter>,
}

/// Outbound HTTP, as an http-client link grants it: which requests may leave.
pub trait OutboundHttp: Send + Sync {
    /// `Ok` to send `uri`; `Err` says why not (logged, with the component).
    fn check(&self, uri: &http::Uri) -> Result<(), String>;
}

impl Default for Grants {
    fn default() -> Self {
        Grants { interfaces: Vec::new(), extensions: Arc::new([]), outbound_http: None, links: Arc::default(), adapters: Vec::new() }
    }
}

impl Grants {
    /// Records that the linker now defines the interfaces starting with `prefix`
    /// (e.g. `wasi:keyvalue/`), any version.
    pub fn interfaces(&mut self, prefix: &str) -> &mut Self {
        self.interfaces.push(prefix.to_owned());
        self
    }

    /// Records that the component has a link named `name` for `interface` (`ns:pkg/iface`).
    pub fn link(&mut self, interface: &str, name: &str) -> &mut Self {
        Arc::make_mut(&mut self.links).entry(interface.to_owned()).or_default().insert(name.to_owned());
        self
    }

    /// Lets the component send HTTP requests that `policy` allows. Without this grant every
    /// outbound request is refused.
    pub fn outbound_http(&mut self, policy: Arc<dyn OutboundHttp>) -> &mut Self {
        self.outbound_http = Some(policy);
        self
    }

    /// Adds per-invocation state of type `T`, made fresh for every invocation by `make`.
    pub fn state<T: Any + Send>(&mut self, make: impl Fn() -> T + Send + Sync + 'static) -> &mut Self {
        let factory: StateFactory = Arc::new(move || Box::new(make()) as Box<dyn Any + Send>);
        let mut all = self.extensions.to_vec();
        all.push((std::any::TypeId::of::<T>(), factory));
        self.extensions = all.into();
        self
    }

    /// Adds an [`Adapter`], run when the component is prepared.
    pub fn adapt(&mut self, adapter: impl Fn(&mut Linker<InvocationState>, &Engine, &Component) -> anyhow::Result<()> + Send + Sync + 'static) -> &mut Self {
        self.adapters.push(Arc::new(adapter));
        self
    }

    /// Runs every adapter for `component`; `Runtime::prepare` does this itself.
    pub fn apply_adapters(&self, linker: &mut Linker<InvocationState>, engine: &Engine, component: &Component) -> anyhow::Result<()> {
        self.adapters.iter().try_for_each(|adapt| adapt(linker, engine, component))
    }
}

impl InvocationState {
    pub(crate) fn new(component: &Arc<str>, memory_cap: u64, grants: &Grants, span: &tracing::Span) -> InvocationState {
        // No environment, no arguments beyond the program name, no preopened directories and
        // no network: the builder's defaults deny sockets, so all a guest reaches is what its
        // links grant. Its output goes to the host log, tagged with its id, in the invocation's
        // span (wasmtime-wasi writes it from a task of its own, where no span is current).
        let wasi = WasiCtx::builder()
            .arg("main.wasm")
            .stdout(GuestLog { component: component.clone(), stream: "stdout", span: span.clone() })
            .stderr(GuestLog { component: component.clone(), stream: "stderr", span: span.clone() })
            .build();
        InvocationState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_cap),
            hooks: OutboundPolicy { component: component.clone(), grant: grants.outbound_http.clone(), span: span.clone() },
            extensions: Vec::new(),
            factories: grants.extensions.clone(),
            links: Links { available: grants.links.clone(), selected: Vec::new() },
        }
    }

    /// A capability's state, the resource table, and the component's link selection.
    ///
    /// # Panics
    /// As [`InvocationState::extension`].
    pub fn extension_and_links<T: Any + Send>(&mut self) -> (&mut T, &mut ResourceTable, &Links) {
        let index = self.extension_index::<T>();
        (self.extensions[index].downcast_mut::<T>().expect("indexed by type"), &mut self.table, &self.links)
    }

    /// The component's links and which of them each interface uses now.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The id of the component this invocation runs.
    pub fn component(&self) -> &str {
        &self.hooks.component
    }

    /// The link selection and the resource table (`wasmcloud:bus/lattice`, resources handed to exports).
    pub fn links_and_table(&mut self) -> (&mut Links, &mut ResourceTable) {
        (&mut self.links, &mut self.table)
    }

    /// A capability's state for this invocation, and the resource table its resources live in.
    ///
    /// Made on first use in this invocation.
    ///
    /// # Panics
    /// If no state of type `T` was granted: a capability added its interfaces to the linker
    /// without its state factory, which is a bug in that capability's wiring, not in the guest.
    pub fn extension<T: Any + Send>(&mut self) -> (&mut T, &mut ResourceTable) {
        let index = self.extension_index::<T>();
        (self.extensions[index].downcast_mut::<T>().expect("indexed by type"), &mut self.table)
    }

    fn extension_index<T: Any + Send>(&mut self) -> usize {
        if let Some(i) = self.extensions.iter().position(|e| e.is::<T>()) {
            return i;
        }
        let factory = self
            .factories
            .iter()
            .find(|(id, _)| *id == std::any::TypeId::of::<T>())
            .unwrap_or_else(|| panic!("no {} granted to this component", std::any::type_name::<T>()));
        self.extensions.push((factory.1)());
        self.extensions.len() - 1
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// Outbound HTTP policy: denied, unless an http-client link granted it, and then only where
/// the grant allows.
struct OutboundPolicy {
    component: Arc<str>,
    grant: Option<Arc<dyn OutboundHttp>>,
    /// The invocation's span: the parent of each request's client span.
    span: tracing::Span,
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let verdict = match &self.grant {
            None => Err("the component has no http-client link".to_owned()),
            Some(policy) => policy.check(request.uri()),
        };
        let outbound = crate::telemetry::Outbound::start(&self.span, &self.component, request.method());
        if let Err(why) = verdict {
            tracing::warn!(parent: &self.span, component = %self.component, uri = %request.uri(), "outbound HTTP denied: {why}");
            outbound.denied();
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let mut request = request;
        outbound.propagate(request.headers_mut());
        Box::new(async move {
            use http_body_util::BodyExt;
            let sent = wasmtime_wasi_http::default_send_request(request, _options).await;
            outbound.finished(sent.as_ref().map(|(response, _)| response.status().as_u16()));
            let (response, io) = sent?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// A guest's stdout or stderr, written to the host log a line at a time.
struct GuestLog {
    component: Arc<str>,
    stream: &'static str,
    span: tracing::Span,
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { component: self.component.clone(), stream: self.stream, buf: Vec::new(), span: self.span.clone() })
    }
}

/// Lines longer than this are logged in pieces, so a guest cannot make the host buffer without end.
const MAX_LINE: usize = 16 << 10;

struct LineWriter {
    component: Arc<str>,
    stream: &'static str,
    buf: Vec<u8>,
    span: tracing::Span,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        tracing::info!(target: "guest", parent: &self.span, component = %self.component, stream = self.stream, "{}", text.trim_end());
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.emit(&line);
        }
        if self.buf.len() > MAX_LINE {
            let line = std::mem::take(&mut self.buf);
            self.emit(&line);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.emit(&self.buf);
        }
    }
}
