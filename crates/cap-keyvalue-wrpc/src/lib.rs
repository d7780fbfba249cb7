//! `wasi:keyvalue` backed by a capability provider process: wasmCloud's keyvalue providers
//! (keyvalue-redis, -nats, -vault, ...) export the resource-free
//! `wrpc:keyvalue/{store,atomics,batch}@0.2.0-draft`, and a host bridges the resource-based
//! interfaces its components import to them, as wasmCloud's hosts do: `store.open` only names
//! a bucket, and each operation on it is one wRPC call to the provider, with the bucket name as
//! its first argument.
//!
//! **Owns** the bridge ([`ProviderStore`], a [`Store`]) and the wRPC bindings of wasmCloud's
//! host-to-provider world (`wit/wasmcloud/wrpc`, vendored from `wasmcloud-runtime` 0.12.0).
//!
//! **Must not** start providers or decide which link reaches one: the host does, and hands this
//! crate the provider's id.
#![warn(missing_docs)]

use bytes::Bytes;
use tokio::sync::OnceCell;
use trellis_cap_keyvalue::{Store, StoreError};
use trellis_rpc::Calls;

#[allow(missing_docs, clippy::all, clippy::pedantic, reason = "generated")]
mod bindings {
    wit_bindgen_wrpc::generate!({ path: "../../wit/wasmcloud/wrpc", world: "wasmcloud:host-wrpc/wrpc-interfaces", generate_all });
}

use bindings::wrpc::keyvalue::{atomics, batch, store};

/// The keyvalue store a provider process serves, reached over wRPC under its id
/// (`<lattice>.<provider id>.wrpc.0.0.1.wrpc:keyvalue/store@0.2.0-draft.get`, ...).
pub struct ProviderStore {
    provider: String,
    /// Who calls, as the provider is told (`source-id`, `link-name`).
    source: String,
    link_name: String,
    calls: Calls,
    client: OnceCell<wrpc_transport_nats::Client>,
}

impl ProviderStore {
    /// The store of provider `provider`, reached through `calls` for `source`'s link
    /// `link_name`.
    pub fn new(provider: &str, (source, link_name): (&str, &str), calls: Calls) -> ProviderStore {
        ProviderStore { provider: provider.to_owned(), source: source.to_owned(), link_name: link_name.to_owned(), calls, client: OnceCell::new() }
    }

    fn cx(&self) -> trellis_rpc::CallContext {
        trellis_rpc::caller(&self.source, &self.link_name)
    }

    async fn client(&self) -> Result<&wrpc_transport_nats::Client, StoreError> {
        self.client
            .get_or_try_init(|| async {
                match self.calls.wrpc_client(&self.provider).await {
                    Some(client) => client.map_err(|e| StoreError::Other(format!("keyvalue provider `{}`: {e:#}", self.provider))),
                    None => Err(StoreError::Other(format!(
                        "keyvalue provider `{}` runs as a process on a NATS lattice, and this host is not joined to one",
                        self.provider
                    ))),
                }
            })
            .await
    }

    /// The answer of one call: a transport failure and the provider's own error both become a
    /// [`StoreError`] naming the provider and the function.
    fn answer<T>(&self, function: &str, result: anyhow::Result<Result<T, store::Error>>) -> Result<T, StoreError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(store::Error::NoSuchStore)) => Err(StoreError::NoSuchStore),
            Ok(Err(store::Error::AccessDenied)) => Err(StoreError::AccessDenied),
            Ok(Err(store::Error::Other(reason))) => Err(StoreError::Other(format!("keyvalue provider `{}`: {reason}", self.provider))),
            Err(e) => Err(StoreError::Other(format!("keyvalue provider `{}` did not answer {function}: {e:#}", self.provider))),
        }
    }
}

#[async_trait::async_trait]
impl Store for ProviderStore {
    async fn check(&self) -> Result<(), StoreError> {
        // The provider's own health is the host's to check (`health` requests); here only
        // whether it can be reached at all.
        self.client().await.map(drop)
    }

    async fn open(&self, _bucket: &str) -> Result<(), StoreError> {
        // As on wasmCloud: the bucket is named on every call, and the provider decides.
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        self.answer("get", store::get(client, self.cx(), bucket, key).await).map(|v| v.map(Vec::from))
    }

    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let client = self.client().await?;
        self.answer("set", store::set(client, self.cx(), bucket, key, &Bytes::from(value)).await)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        self.answer("delete", store::delete(client, self.cx(), bucket, key).await)
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        self.answer("exists", store::exists(client, self.cx(), bucket, key).await)
    }

    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let client = self.client().await?;
        self.answer("list-keys", store::list_keys(client, self.cx(), bucket, cursor).await).map(|page| (page.keys, page.cursor))
    }

    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        self.answer("increment", atomics::increment(client, self.cx(), bucket, key, delta).await)
    }

    async fn get_many(&self, bucket: &str, keys: Vec<String>) -> Result<Vec<Option<(String, Vec<u8>)>>, StoreError> {
        let client = self.client().await?;
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = self.answer("get-many", batch::get_many(client, self.cx(), bucket, &names).await)?;
        Ok(values.into_iter().map(|v| v.map(|(k, v)| (k, Vec::from(v)))).collect())
    }

    async fn set_many(&self, bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let client = self.client().await?;
        let values: Vec<(String, Bytes)> = pairs.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect();
        let pairs: Vec<(&str, &Bytes)> = values.iter().map(|(k, v)| (k.as_str(), v)).collect();
        self.answer("set-many", batch::set_many(client, self.cx(), bucket, &pairs).await)
    }

    async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), StoreError> {
        let client = self.client().await?;
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.answer("delete-many", batch::delete_many(client, self.cx(), bucket, &names).await)
    }
}
