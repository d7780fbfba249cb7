//! `wasi:blobstore` backed by a capability provider process: wasmCloud's blobstore providers
//! (blobstore-fs, -s3, -azure) export the resource-free `wrpc:blobstore/blobstore@0.2.0`, and a
//! host bridges the resource-based interface its components import to it, as wasmCloud's hosts
//! do: containers and values stay resources of the host, each operation is one wRPC call naming
//! the container and object, and object bodies cross as wRPC byte streams.
//!
//! **Owns** the bridge ([`ProviderBlobs`], a [`BlobStore`]) and the vendored WIT of
//! `wrpc:blobstore@0.2.0` (`wit/deps`).
//!
//! **Must not** start providers or decide which link reaches one: the host does, and hands this
//! crate the provider's id.
#![warn(missing_docs)]

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use tokio::sync::OnceCell;
use trellis_cap_blobstore::{BlobError, BlobReader, BlobStore, ContainerInfo, ObjectInfo};
use trellis_rpc::Calls;

#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated")]
mod bindings {
    wit_bindgen_wrpc::generate!({ path: "wit", world: "trellis:blobstore-wrpc/provider-client", generate_all });
}

use bindings::wrpc::blobstore::blobstore as remote;
use bindings::wrpc::blobstore::types::ObjectId;

/// The blobstore a provider process serves, reached over wRPC under its id
/// (`<lattice>.<provider id>.wrpc.0.0.1.wrpc:blobstore/blobstore@0.2.0.get-container-data`, ...).
pub struct ProviderBlobs {
    provider: String,
    /// Who calls, as the provider is told (`source-id`, `link-name`).
    source: String,
    link_name: String,
    calls: Calls,
    client: OnceCell<wrpc_transport_nats::Client>,
}

fn id(container: &str, object: &str) -> ObjectId {
    ObjectId { container: container.to_owned(), object: object.to_owned() }
}

impl ProviderBlobs {
    /// The blobstore of provider `provider`, reached through `calls` for `source`'s link
    /// `link_name`.
    pub fn new(provider: &str, (source, link_name): (&str, &str), calls: Calls) -> ProviderBlobs {
        ProviderBlobs { provider: provider.to_owned(), source: source.to_owned(), link_name: link_name.to_owned(), calls, client: OnceCell::new() }
    }

    fn cx(&self) -> trellis_rpc::CallContext {
        trellis_rpc::caller(&self.source, &self.link_name)
    }

    fn failed(&self, function: &str, reason: impl std::fmt::Display) -> BlobError {
        BlobError::Backend { backend: format!("blobstore provider `{}`", self.provider), reason: format!("{function}: {reason}") }
    }

    async fn client(&self) -> Result<&wrpc_transport_nats::Client, BlobError> {
        self.client
            .get_or_try_init(|| async {
                match self.calls.wrpc_client(&self.provider).await {
                    Some(client) => client.map_err(|e| self.failed("connecting", format!("{e:#}"))),
                    None => Err(self.failed("connecting", "it runs as a process on a NATS lattice, and this host is not joined to one")),
                }
            })
            .await
    }

    /// Why `function` failed for `container`/`object` with `reason`: the provider's `reason`
    /// says what its backend said, so when the container or object is missing the error says
    /// so as every Trellis blobstore does (the guest sees `container ... does not exist`).
    async fn refused(&self, function: &str, (container, object): (&str, Option<&str>), reason: String) -> BlobError {
        let Ok(client) = self.client().await else { return self.failed(function, reason) };
        if let Ok(Ok(false)) = remote::container_exists(client, self.cx(), container).await {
            return BlobError::NoContainer(container.to_owned());
        }
        if let Some(object) = object
            && let Ok(Ok(false)) = remote::has_object(client, self.cx(), &id(container, object)).await
        {
            return BlobError::NoObject { container: container.to_owned(), object: object.to_owned() };
        }
        self.failed(function, reason)
    }

    /// The answer of one call: a transport failure and the provider's own error both become a
    /// [`BlobError`] naming the provider and the function.
    fn answer<T>(&self, function: &str, result: anyhow::Result<Result<T, String>>) -> Result<T, BlobError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(self.failed(function, reason)),
            Err(e) => Err(self.failed(function, format!("no answer: {e:#}"))),
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for ProviderBlobs {
    async fn check(&self) -> Result<(), BlobError> {
        // The provider's own health is the host's to check; here only whether it is reachable.
        self.client().await.map(drop)
    }

    async fn create_container(&self, container: &str) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("create-container", remote::create_container(client, self.cx(), container).await)
    }

    async fn container_info(&self, container: &str) -> Result<ContainerInfo, BlobError> {
        let client = self.client().await?;
        match remote::get_container_info(client, self.cx(), container).await {
            Ok(Ok(info)) => Ok(ContainerInfo { created_at: info.created_at }),
            Ok(Err(reason)) => Err(self.refused("get-container-info", (container, None), reason).await),
            Err(e) => Err(self.failed("get-container-info", format!("no answer: {e:#}"))),
        }
    }

    async fn delete_container(&self, container: &str) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("delete-container", remote::delete_container(client, self.cx(), container).await)
    }

    async fn container_exists(&self, container: &str) -> Result<bool, BlobError> {
        let client = self.client().await?;
        self.answer("container-exists", remote::container_exists(client, self.cx(), container).await)
    }

    async fn list_objects(&self, container: &str) -> Result<Vec<String>, BlobError> {
        let client = self.client().await?;
        let (result, io) = remote::list_container_objects(client, self.cx(), container, None, None).await.map_err(|e| self.failed("list-container-objects", format!("no answer: {e:#}")))?;
        let io = io.map(tokio::spawn);
        let (names, done) = match result {
            Ok(listing) => listing,
            Err(reason) => return Err(self.refused("list-container-objects", (container, None), reason).await),
        };
        let names: Vec<String> = names.flat_map(futures::stream::iter).collect().await;
        done.await.map_err(|reason| self.failed("list-container-objects", reason))?;
        if let Some(io) = io {
            io.await.map_err(|e| self.failed("list-container-objects", e))?.map_err(|e| self.failed("list-container-objects", format!("{e:#}")))?;
        }
        Ok(names)
    }

    async fn object_info(&self, container: &str, object: &str) -> Result<ObjectInfo, BlobError> {
        let client = self.client().await?;
        match remote::get_object_info(client, self.cx(), &id(container, object)).await {
            Ok(Ok(info)) => Ok(ObjectInfo { size: info.size, created_at: info.created_at }),
            Ok(Err(reason)) => Err(self.refused("get-object-info", (container, Some(object)), reason).await),
            Err(e) => Err(self.failed("get-object-info", format!("no answer: {e:#}"))),
        }
    }

    async fn delete_object(&self, container: &str, object: &str) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("delete-object", remote::delete_object(client, self.cx(), &id(container, object)).await)
    }

    async fn clear(&self, container: &str) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("clear-container", remote::clear_container(client, self.cx(), container).await)
    }

    async fn read(&self, container: &str, object: &str, start: u64, len: u64) -> Result<BlobReader, BlobError> {
        let client = self.client().await?;
        // wasmCloud's providers read `end - start` bytes from `start`.
        let end = start.saturating_add(len);
        let (result, io) =
            remote::get_container_data(client, self.cx(), &id(container, object), start, end).await.map_err(|e| self.failed("get-container-data", format!("no answer: {e:#}")))?;
        let io = io.map(tokio::spawn);
        let (data, done) = match result {
            Ok(transfer) => transfer,
            Err(reason) => return Err(self.refused("get-container-data", (container, Some(object)), reason).await),
        };
        let provider = self.provider.clone();
        let failed = {
            let provider = provider.clone();
            move |reason: String| std::io::Error::other(format!("blobstore provider `{provider}`: get-container-data: {reason}"))
        };
        // The body, then the provider's last word on it: a failure midway reaches the reader
        // as an error, not as a short object.
        let outcome = futures::stream::once(async move {
            done.await.map_err(failed)?;
            if let Some(io) = io {
                let transfer = io.await.map_err(std::io::Error::other)?;
                transfer.map_err(|e| std::io::Error::other(format!("blobstore provider `{provider}`: {e:#}")))?;
            }
            Ok::<_, std::io::Error>(None)
        });
        let body: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> =
            Box::pin(data.map(|chunk| Ok(Some(chunk))).chain(outcome).filter_map(|item: std::io::Result<Option<Bytes>>| async move { item.transpose() }));
        Ok(Box::pin(tokio_util::io::StreamReader::new(body)))
    }

    async fn write(&self, container: &str, object: &str, body: BlobReader) -> Result<u64, BlobError> {
        let client = self.client().await?;
        let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        // A read error ends the stream (the provider sees a short body), so it is kept and
        // reported once the call is over.
        let (failure, failed) = tokio::sync::oneshot::channel();
        let mut failure = Some(failure);
        let counter = written.clone();
        let stream = tokio_util::io::ReaderStream::new(body).scan((), move |(), chunk| {
            futures::future::ready(match chunk {
                Ok(chunk) => {
                    counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    Some(chunk)
                }
                Err(e) => {
                    if let Some(f) = failure.take() {
                        let _ = f.send(e);
                    }
                    None
                }
            })
        });
        let (result, io) = remote::write_container_data(client, self.cx(), &id(container, object), Box::pin(stream))
            .await
            .map_err(|e| self.failed("write-container-data", format!("no answer: {e:#}")))?;
        let io = io.map(tokio::spawn);
        let done = result.map_err(|reason| self.failed("write-container-data", reason))?;
        if let Some(io) = io {
            io.await.map_err(|e| self.failed("write-container-data", e))?.map_err(|e| self.failed("write-container-data", format!("{e:#}")))?;
        }
        done.await.map_err(|reason| self.failed("write-container-data", reason))?;
        if let Ok(e) = failed.await {
            return Err(self.failed("write-container-data", format!("reading the body: {e}")));
        }
        Ok(written.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn copy(&self, from: (&str, &str), to: (&str, &str)) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("copy-object", remote::copy_object(client, self.cx(), &id(from.0, from.1), &id(to.0, to.1)).await)
    }

    async fn rename(&self, from: (&str, &str), to: (&str, &str)) -> Result<(), BlobError> {
        let client = self.client().await?;
        self.answer("move-object", remote::move_object(client, self.cx(), &id(from.0, from.1), &id(to.0, to.1)).await)
    }
}
