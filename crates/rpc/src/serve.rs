//! Serving a component to callers elsewhere: its exports over wRPC, and `trellis call`.

use std::pin::Pin;
use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::task::JoinHandle;
use trellis_runtime::PreparedComponent;
use trellis_runtime::wasmtime::component::types::ComponentItem;
use trellis_runtime::wasmtime::component::{Type, Val};
use tracing::Instrument as _;
use wrpc_transport::Serve as _;

use crate::wrpc::{Call, read_values};
use crate::{CallError, Calls, codec, json, local};

/// One function a component exports to callers.
pub(crate) struct Export {
    /// The exported instance (`ns:pkg/iface@version`), empty for a root function.
    pub(crate) instance: String,
    pub(crate) func: String,
    pub(crate) params: Vec<Type>,
    pub(crate) results: Vec<Type>,
}

/// The functions of `component` that callers reach by name: every exported function, in any
/// namespace (`wasmcloud:examples/invoke` as much as `acme:app/api`), whose parameters and
/// results are plain values. Those that pass a resource, stream or future cannot cross to a
/// caller; they are the exports the host drives itself through a capability
/// (`wasi:http/incoming-handler`, `wasi:keyvalue/watcher`, `wasmcloud:messaging@0.3`'s
/// handler), so the rule needs no list of interfaces.
pub(crate) fn exports(component: &PreparedComponent) -> Vec<Export> {
    let pre = component.instance_pre();
    let engine = pre.engine();
    let export = |instance: &str, func: &str, f: &trellis_runtime::wasmtime::component::types::ComponentFunc| Export {
        instance: instance.to_owned(),
        func: func.to_owned(),
        params: f.params().map(|(_, t)| t).collect(),
        results: f.results().collect(),
    };
    let mut out = Vec::new();
    for (name, item) in pre.component().component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentInstance(instance) => {
                for (func, ty) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(f) = ty.ty {
                        out.push(export(name, func, &f));
                    }
                }
            }
            ComponentItem::ComponentFunc(f) => out.push(export("", name, &f)),
            _ => {}
        }
    }
    out.retain(|e| e.params.iter().chain(&e.results).all(|t| codec::unpassable(t).is_none()));
    out
}

type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Calls {
    /// Makes `component` reachable: in this process at once, and, when joined to a lattice,
    /// over wRPC and to `trellis call`, subscribed before this returns. It stays reachable
    /// until the returned task is aborted.
    pub async fn serve(&self, component: PreparedComponent) -> anyhow::Result<JoinHandle<()>> {
        let registration = self.register(&component);
        let exports: Vec<Arc<Export>> = exports(&component).into_iter().map(Arc::new).collect();
        let mut serving: Vec<Serving> = Vec::new();
        if let Some(wrpc) = &self.inner.wrpc
            && !exports.is_empty()
        {
            let client = wrpc.client(component.id()).await?;
            for export in &exports {
                let no_paths: Arc<[Box<[Option<usize>]>]> = Arc::from([]);
                let invocations = client.serve(&export.instance, &export.func, no_paths).await?;
                let (component, export) = (component.clone(), export.clone());
                serving.push(Box::pin(invocations.for_each_concurrent(None, move |invocation| {
                    let (component, export) = (component.clone(), export.clone());
                    async move {
                        match invocation {
                            Ok((context, outgoing, incoming)) => {
                                let span = tracing::info_span!(
                                    target: trellis_telemetry::SPANS,
                                    "serve",
                                    otel.name = %format_args!("{} {}", component.id(), local::qualified(&export.instance, &export.func)),
                                    otel.kind = "server",
                                    rpc.system = "wrpc",
                                    rpc.service = %export.instance,
                                    rpc.method = %export.func,
                                );
                                if let Some(headers) = &context.headers {
                                    trellis_telemetry::propagation::extract(&span, |name| headers.get(name).map(|v| v.as_str()));
                                }
                                answer(&component, &export, outgoing, incoming).instrument(span).await
                            }
                            Err(e) => tracing::warn!(component = component.id(), "accepting a wRPC call: {e:#}"),
                        }
                    }
                })));
            }
        }
        if let Some((lattice, name)) = &self.inner.lattice {
            let subject = format!("trellis.call.v1.{name}.{}", component.id());
            let requests = lattice.subscribe(&subject, Some(&format!("{name}.{}", component.id()))).await?;
            serving.push(Box::pin(json::serve(lattice.clone(), requests, component.clone(), exports.clone())));
        }
        Ok(tokio::spawn(async move {
            let _registration = registration;
            futures::future::join_all(serving).await;
            // Still reachable in-process until aborted.
            std::future::pending::<()>().await;
        }))
    }

    /// Makes one call, in-process if the target runs here, else over wRPC.
    pub(crate) async fn invoke(&self, call: &Call<'_>, params: &[Val], param_types: &[Type], results: &mut [Val], result_types: &[Type]) -> Result<(), CallError> {
        if let Some(target) = self.local(call.target) {
            return local::call(&target, call.instance, call.func, params, results).await;
        }
        match &self.inner.wrpc {
            Some(wrpc) => wrpc.invoke(call, params, param_types, results, result_types).await,
            None => Err(CallError::NotRunning { target: call.target.to_owned(), where_: " in this process" }),
        }
    }
}

/// Answers one wRPC call of `export`.
async fn answer(
    component: &PreparedComponent,
    export: &Export,
    mut outgoing: impl tokio::io::AsyncWrite + Unpin,
    mut incoming: impl tokio::io::AsyncRead + Unpin,
) {
    let function = local::qualified(&export.instance, &export.func);
    let result = async {
        let params = read_values(&mut incoming, &export.params).await.map_err(|e| format!("reading the arguments: {e}"))?;
        let mut results = vec![Val::Bool(false); export.results.len()];
        local::call(component, &export.instance, &export.func, &params, &mut results).await.map_err(|e| e.to_string())?;
        let mut buf = BytesMut::new();
        codec::encode_all(&results, &export.results, &mut buf).map_err(|e| format!("encoding the results: {e}"))?;
        outgoing.write_all(&buf).await.map_err(|e| format!("sending the results: {e}"))?;
        outgoing.flush().await.map_err(|e| format!("sending the results: {e}"))
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(component = component.id(), function, "wRPC call failed: {e}");
    }
    // Closing with no results tells the caller the call failed.
    if let Err(e) = outgoing.shutdown().await {
        tracing::trace!("closing the result stream: {e}");
    }
}

/// The invocations of one function served with `wit-bindgen-wrpc`'s `serve_interface`.
pub type Invocations = Pin<Box<dyn futures::Stream<Item = anyhow::Result<Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>>> + Send>>;

/// Answers every invocation of `served` (what `serve_interface` returned for component `id`),
/// concurrently, until the returned task is aborted; a failed one is logged with the
/// component and the function.
pub fn answer_all(id: &str, served: impl IntoIterator<Item = (&'static str, &'static str, Invocations)>) -> JoinHandle<()> {
    let id: Arc<str> = id.into();
    let streams = served.into_iter().map(|(instance, func, invocations)| invocations.map(move |invocation| (instance, func, invocation)));
    let all = futures::stream::select_all(streams);
    tokio::spawn(all.for_each_concurrent(None, move |(instance, func, invocation)| {
        let id = id.clone();
        async move {
            let result = match invocation {
                Ok(answer) => answer.await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(component = %id, "{instance}.{func} over wRPC: {e:#}");
            }
        }
    }))
}
