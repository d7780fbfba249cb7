//! Object bodies in flight: `outgoing-value` (guest → backend) and `incoming-value`
//! (backend → guest).
//!
//! A guest usually writes the body and then calls `write-data`, so what it writes before
//! `write-data` is kept until then; from `write-data` on, each write goes straight to the
//! backend through a bounded channel (the guest's `check-write` says 0 while it is full), and
//! `finish` waits for the backend to have it all.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::{BlobError, BlobReader, BlobStore};

/// Bytes one `check-write` permits.
const CHUNK: usize = 64 << 10;
/// Chunks in flight between the guest and the backend.
const IN_FLIGHT: usize = 16;

/// Where the guest's writes go.
enum Sink {
    /// Before `write-data`: kept.
    Buffering(Vec<Bytes>),
    /// After `write-data`: to the backend's write.
    Streaming(mpsc::Sender<Bytes>),
    /// After `finish` (or a drop): nothing more is accepted.
    Closed,
}

/// `wasi:blobstore/types.outgoing-value`.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct OutgoingValue {
    sink: Arc<Mutex<Sink>>,
    body_taken: bool,
    upload: Option<JoinHandle<Result<u64, BlobError>>>,
}

impl Drop for OutgoingValue {
    fn drop(&mut self) {
        // Dropped without `finish`: the value is incomplete, so the write must not land.
        if let Some(upload) = self.upload.take() {
            upload.abort();
        }
    }
}

impl OutgoingValue {
    pub(crate) fn new() -> OutgoingValue {
        OutgoingValue { sink: Arc::new(Mutex::new(Sink::Buffering(Vec::new()))), body_taken: false, upload: None }
    }

    /// The guest's `output-stream` for the body; only once.
    pub(crate) fn body(&mut self) -> Result<BodyStream, String> {
        if std::mem::replace(&mut self.body_taken, true) {
            return Err("the body of this outgoing-value was already taken".into());
        }
        Ok(BodyStream { sink: self.sink.clone() })
    }

    /// Starts writing the body to `object` of `container` in `store`.
    pub(crate) fn start_upload(&mut self, store: Arc<dyn BlobStore>, container: String, object: String) -> Result<(), String> {
        let (sender, receiver) = mpsc::channel(IN_FLIGHT);
        let buffered = {
            let mut sink = self.sink.lock().expect("sink poisoned");
            match std::mem::replace(&mut *sink, Sink::Streaming(sender)) {
                Sink::Buffering(chunks) => chunks,
                other => {
                    *sink = other;
                    return Err("this outgoing-value is already being written".into());
                }
            }
        };
        let chunks = futures::stream::iter(buffered).chain(tokio_stream::wrappers::ReceiverStream::new(receiver));
        let body: BlobReader = Box::pin(tokio_util::io::StreamReader::new(chunks.map(Ok::<_, std::io::Error>)));
        self.upload = Some(tokio::spawn(async move { store.write(&container, &object, body).await }));
        Ok(())
    }

    /// Ends the body and waits until the backend has written all of it.
    pub(crate) async fn finish(mut self) -> Result<(), String> {
        *self.sink.lock().expect("sink poisoned") = Sink::Closed;
        let Some(upload) = self.upload.take() else {
            return Err("finish was called before container.write-data: nothing was written".into());
        };
        match upload.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the write did not complete: {e}")),
        }
    }
}

/// The guest's `output-stream` into an [`OutgoingValue`].
pub(crate) struct BodyStream {
    sink: Arc<Mutex<Sink>>,
}

impl OutputStream for BodyStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        match &mut *self.sink.lock().expect("sink poisoned") {
            Sink::Buffering(chunks) => {
                chunks.push(bytes);
                Ok(())
            }
            Sink::Streaming(sender) => sender.try_send(bytes).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StreamError::Trap(wasmtime::format_err!("wrote more than check-write permitted")),
                mpsc::error::TrySendError::Closed(_) => StreamError::LastOperationFailed(wasmtime::format_err!("the blobstore write failed; finish says why")),
            }),
            Sink::Closed => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        match &*self.sink.lock().expect("sink poisoned") {
            Sink::Buffering(_) => Ok(CHUNK),
            Sink::Streaming(sender) if sender.is_closed() => Err(StreamError::LastOperationFailed(wasmtime::format_err!("the blobstore write failed; finish says why"))),
            Sink::Streaming(sender) => Ok(if sender.capacity() > 0 { CHUNK } else { 0 }),
            Sink::Closed => Err(StreamError::Closed),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for BodyStream {
    async fn ready(&mut self) {
        let sender = match &*self.sink.lock().expect("sink poisoned") {
            Sink::Streaming(sender) => sender.clone(),
            _ => return,
        };
        // Capacity (or a closed channel, which `check-write` then reports) makes it ready.
        drop(sender.reserve().await);
    }
}

/// `wasi:blobstore/types.incoming-value`: a range of an object, not yet read.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct IncomingValue {
    pub(crate) body: BlobReader,
    pub(crate) size: u64,
}
