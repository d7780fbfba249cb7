//! The NATS side of calls: wRPC (`wrpc-transport-nats`) to and from other hosts.
//!
//! A component's exports are served on `<lattice>.<id>.wrpc.0.0.1.<instance>.<func>` in the
//! queue group `<lattice>.<id>`, as wasmCloud 1.x serves them, so every host (Trellis or
//! wasmCloud) running a component id shares its calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats_wrpc::HeaderMap;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use trellis_lattice::{NatsKey, NatsOptions};
use trellis_runtime::wasmtime::component::{Type, Val};
use tracing::Instrument as _;
use wrpc_transport::Invoke as _;

use crate::CallError;
use crate::codec::{self, CodecError};

/// How long the target has to take a call (the wRPC handshake), as wasmCloud's hosts allow;
/// the whole call is bounded by the caller's own execution time limit.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection for wRPC, and a client per target prefix over it.
#[derive(Clone)]
pub struct Wrpc {
    nats: Arc<async_nats_wrpc::Client>,
    lattice: Arc<str>,
    clients: Arc<Mutex<HashMap<String, wrpc_transport_nats::Client>>>,
}

impl Wrpc {
    /// Connects to the NATS server of `options` for the calls of lattice `lattice`.
    pub async fn connect(options: &NatsOptions, lattice: &str) -> anyhow::Result<Wrpc> {
        let mut connect = async_nats_wrpc::ConnectOptions::new()
            .name(format!("{}-wrpc", options.name))
            .require_tls(options.require_tls)
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5));
        if let Some(path) = &options.creds {
            connect = connect.credentials_file(path).await.map_err(|e| anyhow::anyhow!("reading NATS credentials {}: {e}", path.display()))?;
        }
        match options.key()? {
            Some(NatsKey::Jwt(jwt, key)) => {
                connect = connect.jwt(jwt, move |nonce| {
                    let key = key.clone();
                    async move { key.sign(&nonce).map_err(async_nats_wrpc::AuthError::new) }
                });
            }
            Some(NatsKey::Nkey(seed)) => connect = connect.nkey(seed),
            None => {}
        }
        let nats = connect.connect(options.url.as_str()).await.map_err(|e| anyhow::anyhow!("cannot reach NATS at {} for wRPC: {e}", options.url))?;
        Ok(Wrpc { nats: Arc::new(nats), lattice: lattice.into(), clients: Arc::default() })
    }

    /// The client whose subjects start with `<lattice>.<id>`; serving with it joins the
    /// queue group of the same name.
    pub(crate) async fn client(&self, id: &str) -> anyhow::Result<wrpc_transport_nats::Client> {
        if let Some(c) = self.clients.lock().expect("never poisoned").get(id) {
            return Ok(c.clone());
        }
        let prefix = format!("{}.{id}", self.lattice);
        let client = wrpc_transport_nats::Client::new(self.nats.clone(), prefix.clone(), Some(prefix.into())).await?;
        Ok(self.clients.lock().expect("never poisoned").entry(id.to_owned()).or_insert(client).clone())
    }

    /// Calls `instance.func` of `target` on whichever host of the lattice takes it.
    pub(crate) async fn invoke(&self, call: &Call<'_>, params: &[Val], param_types: &[Type], results: &mut [Val], result_types: &[Type]) -> Result<(), CallError> {
        let span = tracing::info_span!(
            target: trellis_telemetry::SPANS,
            "call",
            otel.name = %format_args!("{} {}", call.target, call.function()),
            otel.kind = "client",
            rpc.system = "wrpc",
            rpc.service = call.instance,
            rpc.method = call.func,
            trellis.source = call.source,
            trellis.target = call.target,
            otel.status_code = tracing::field::Empty,
        );
        let result = self.invoke_in_span(call, params, param_types, results, result_types).instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        result
    }

    async fn invoke_in_span(&self, call: &Call<'_>, params: &[Val], param_types: &[Type], results: &mut [Val], result_types: &[Type]) -> Result<(), CallError> {
        let failed = |what: String| CallError::Failed(format!("call from `{}` to `{}` ({}): {what}", call.source, call.target, call.function()));
        let mut buf = BytesMut::new();
        codec::encode_all(params, param_types, &mut buf).map_err(|e| failed(format!("encoding the arguments: {e}")))?;
        let client = self.client(call.target).await.map_err(|e| failed(format!("{e:#}")))?;
        let no_paths: [&[Option<usize>]; 0] = [];
        let mut context = caller(call.source, call.link_name);
        if let Some(headers) = &mut context {
            // The serving host's span for this call is a child of the span making it.
            trellis_telemetry::propagation::inject(&tracing::Span::current(), |name, value| headers.insert(name, value.as_str()));
        }
        let (mut outgoing, mut incoming) = client.invoke(context, call.instance, call.func, buf.freeze(), no_paths).await.map_err(|e| failed(format!("{e:#}")))?;
        // The handshake happens as the parameter stream is first driven: closing it (nothing
        // follows the arguments) waits for a host to take the call.
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, outgoing.shutdown()).await {
            Err(_) => return Err(failed(format!("no host took the call within {} s", HANDSHAKE_TIMEOUT.as_secs()))),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotConnected => {
                return Err(CallError::NotRunning { target: call.target.to_owned(), where_: " on any host of the lattice (no responders)" });
            }
            Ok(Err(e)) => return Err(failed(format!("handing over the call: {e}"))),
            Ok(Ok(())) => {}
        }
        let values = read_values(&mut incoming, result_types).await.map_err(|e| failed(format!("{e} (the target's host logs why)")))?;
        for (slot, v) in results.iter_mut().zip(values) {
            *slot = v;
        }
        Ok(())
    }
}

/// What a wRPC call over NATS carries beside its arguments: its headers.
pub type CallContext = Option<HeaderMap>;

/// The context of a wRPC call from `source`'s link `link_name`: the `source-id` and
/// `link-name` headers wasmCloud's hosts set, by which providers (`wasmcloud-provider-sdk`'s
/// `Context`) tell their callers and their links apart.
pub fn caller(source: &str, link_name: &str) -> CallContext {
    let mut headers = HeaderMap::new();
    headers.insert("source-id", source);
    headers.insert("link-name", link_name);
    Some(headers)
}

/// One call from a component's import to a linked component.
pub(crate) struct Call<'a> {
    pub(crate) source: &'a str,
    pub(crate) link_name: &'a str,
    pub(crate) target: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) func: &'a str,
}

impl Call<'_> {
    pub(crate) fn function(&self) -> String {
        crate::local::qualified(self.instance, self.func)
    }
}

/// Reads one value of each of `types` from `reader`, as the bytes arrive.
pub(crate) async fn read_values(reader: &mut (impl AsyncRead + Unpin), types: &[Type]) -> Result<Vec<Val>, String> {
    let mut buf = Vec::with_capacity(64);
    loop {
        match codec::decode_all(&buf, types) {
            Ok((values, _)) => return Ok(values),
            Err(CodecError::Short) => {}
            Err(e) => return Err(e.to_string()),
        }
        buf.reserve(4096);
        match reader.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return Err("the call ended with no values".into()),
            Ok(0) => return Err("the call ended inside a value".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading values: {e}")),
        }
    }
}
