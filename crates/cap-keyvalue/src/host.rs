//! The `wasi:keyvalue` host functions: resources in the store's table, work in the backend.

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_runtime::{HasView, InvocationState};
use wasmtime::component::{Linker, Resource, ResourceTableError};

use crate::backend::{Store, StoreError};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:keyvalue/host",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::Bucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => crate::host::Error,
        },
    });
}

#[expect(unreachable_pub, reason = "bindgen re-exports the interface for the watcher's bindings")]
pub use generated::wasi::keyvalue::store;
use generated::wasi::keyvalue::{atomics, batch};

/// The per-invocation state: the backend of each of this component's keyvalue links.
pub(crate) struct KeyValueState {
    pub(crate) stores: Arc<BTreeMap<String, Arc<dyn Store>>>,
}

/// An open bucket: only its name, as on wasmCloud. Each operation goes to the backend of the
/// link the component has selected for that interface at the time of the call
/// (`wasmcloud:bus/lattice.set-link-name`), so a component may open a bucket first and choose
/// its link afterwards, or switch links between calls on one handle.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct Bucket {
    name: String,
    /// The backend a watcher's bucket belongs to: the one the change happened in, whatever
    /// links the watcher has.
    pinned: Option<Arc<dyn Store>>,
}

impl Bucket {
    /// The bucket handed to a watcher with a change in `store`.
    pub(crate) fn watched(name: String, store: Arc<dyn Store>) -> Bucket {
        Bucket { name, pinned: Some(store) }
    }
}

/// A failed operation, before it becomes the guest's `error`.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub enum Error {
    Store(StoreError),
    Table(ResourceTableError),
}

impl From<ResourceTableError> for Error {
    fn from(e: ResourceTableError) -> Self {
        Error::Table(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

pub(crate) type View<'a> = trellis_runtime::View<'a, KeyValueState>;

pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> anyhow::Result<()> {
    store::add_to_linker::<_, HasView<KeyValueState>>(linker, View::of)?;
    atomics::add_to_linker::<_, HasView<KeyValueState>>(linker, View::of)?;
    batch::add_to_linker::<_, HasView<KeyValueState>>(linker, View::of)?;
    Ok(())
}

/// The interfaces whose link each operation follows, as `set-link-name` selects them.
const STORE: &str = "wasi:keyvalue/store";
const ATOMICS: &str = "wasi:keyvalue/atomics";
const BATCH: &str = "wasi:keyvalue/batch";

/// Which store an operation reaches.
trait Stores {
    /// The bucket's name and the backend of the link `interface` uses now.
    fn bucket(&self, bucket: &Resource<Bucket>, interface: &str) -> Result<(String, Arc<dyn Store>), Error>;
    /// The backend of the link `interface` uses now.
    fn store(&self, interface: &str) -> Result<Arc<dyn Store>, StoreError>;
}

impl Stores for View<'_> {
    fn bucket(&self, bucket: &Resource<Bucket>, interface: &str) -> Result<(String, Arc<dyn Store>), Error> {
        let b = self.table.get(bucket)?;
        let store = match &b.pinned {
            Some(store) => store.clone(),
            None => self.store(interface)?,
        };
        Ok((b.name.clone(), store))
    }

    fn store(&self, interface: &str) -> Result<Arc<dyn Store>, StoreError> {
        let link = self.links.name(interface);
        self.state.stores.get(link).cloned().ok_or_else(|| StoreError::Other(format!("no wasi:keyvalue link named `{link}` (for {interface})")))
    }
}

type R<T> = Result<T, Error>;

impl store::Host for View<'_> {
    async fn open(&mut self, identifier: String) -> R<Resource<Bucket>> {
        // The backend of the link selected now checks the name, when there is one; a component
        // with only named links opens first and selects its link before the first operation.
        if let Ok(store) = self.store(STORE) {
            store.open(&identifier).await?;
        }
        Ok(self.table.push(Bucket { name: identifier, pinned: None })?)
    }

    fn convert_error(&mut self, err: Error) -> wasmtime::Result<store::Error> {
        Ok(match err {
            Error::Store(StoreError::NoSuchStore) => store::Error::NoSuchStore,
            Error::Store(StoreError::AccessDenied) => store::Error::AccessDenied,
            Error::Store(StoreError::Other(e)) => store::Error::Other(e),
            // A bad handle is a guest bug the component model already prevents; trap on it.
            Error::Table(e) => return Err(e.into()),
        })
    }
}

impl store::HostBucket for View<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> R<Option<Vec<u8>>> {
        let (name, store) = self.bucket(&bucket, STORE)?;
        Ok(store.get(&name, &key).await?)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> R<()> {
        let (name, store) = self.bucket(&bucket, STORE)?;
        Ok(store.set(&name, &key, value).await?)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> R<()> {
        let (name, store) = self.bucket(&bucket, STORE)?;
        Ok(store.delete(&name, &key).await?)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> R<bool> {
        let (name, store) = self.bucket(&bucket, STORE)?;
        Ok(store.exists(&name, &key).await?)
    }

    async fn list_keys(&mut self, bucket: Resource<Bucket>, cursor: Option<u64>) -> R<store::KeyResponse> {
        let (name, store) = self.bucket(&bucket, STORE)?;
        let (keys, cursor) = store.list_keys(&name, cursor).await?;
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for View<'_> {
    async fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: u64) -> R<u64> {
        let (name, store) = self.bucket(&bucket, ATOMICS)?;
        Ok(store.increment(&name, &key, delta).await?)
    }
}

impl batch::Host for View<'_> {
    async fn get_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> R<Vec<Option<(String, Vec<u8>)>>> {
        let (name, store) = self.bucket(&bucket, BATCH)?;
        Ok(store.get_many(&name, keys).await?)
    }

    async fn set_many(&mut self, bucket: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> R<()> {
        let (name, store) = self.bucket(&bucket, BATCH)?;
        Ok(store.set_many(&name, key_values).await?)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> R<()> {
        let (name, store) = self.bucket(&bucket, BATCH)?;
        Ok(store.delete_many(&name, keys).await?)
    }
}
