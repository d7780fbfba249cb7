//! The `wasi:blobstore` host functions: resources in the invocation's table, work in the
//! backend of the link the component called through.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::io::AsyncReadExt as _;
use trellis_runtime::{Grants, HasView, InvocationState};
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use crate::value::{IncomingValue, OutgoingValue};
use crate::{BlobError, BlobStore};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:blobstore/host",
        imports: { default: async | trappable },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:blobstore/types.outgoing-value": crate::value::OutgoingValue,
            "wasi:blobstore/types.incoming-value": crate::value::IncomingValue,
            "wasi:blobstore/container.container": crate::host::Container,
            "wasi:blobstore/container.stream-object-names": crate::host::ObjectNames,
        },
    });
}

use generated::wasi::blobstore::{blobstore, container, types};

/// An open container: only its name, as on wasmCloud. Each operation goes to the backend of
/// the link the component has selected at the time of the call, so a component may switch
/// links (`wasmcloud:bus/lattice.set-link-name`) between calls on one handle.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct Container {
    name: String,
}

/// The names `list-objects` found, read out in pages.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct ObjectNames {
    names: std::vec::IntoIter<String>,
}

/// Per invocation: the backend of each of this component's blobstore links, by link name.
struct BlobstoreState {
    stores: Arc<BTreeMap<String, Arc<dyn BlobStore>>>,
}

type View<'a> = trellis_runtime::View<'a, BlobstoreState>;

/// Adds `wasi:blobstore` to `linker` over `stores` (link name → backend) and records the
/// grant. Every call, on a container or not, reaches the backend of the component's current
/// link (`default` unless `wasmcloud:bus/lattice.set-link-name` chose another).
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, stores: BTreeMap<String, Arc<dyn BlobStore>>) -> anyhow::Result<()> {
    blobstore::add_to_linker::<_, HasView<BlobstoreState>>(linker, View::of)?;
    container::add_to_linker::<_, HasView<BlobstoreState>>(linker, View::of)?;
    types::add_to_linker::<_, HasView<BlobstoreState>>(linker, View::of)?;
    for name in stores.keys() {
        grants.link("wasi:blobstore/blobstore", name);
    }
    grants.interfaces("wasi:blobstore/");
    grants.adapt(crate::draft::adapt);
    let stores = Arc::new(stores);
    grants.state(move || BlobstoreState { stores: stores.clone() });
    Ok(())
}

type R<T> = wasmtime::Result<Result<T, String>>;

/// Which backend and container an operation reaches.
trait Containers {
    /// The backend of the link the component uses now.
    fn store(&self) -> Result<Arc<dyn BlobStore>, String>;
    /// A handle to container `name`.
    fn open(&mut self, name: String) -> wasmtime::Result<Resource<Container>>;
    /// The container's name and the backend of the current link: a bad handle traps (the
    /// outer error), a missing link is the guest's error (the inner one).
    fn container(&self, c: &Resource<Container>) -> R<(String, Arc<dyn BlobStore>)>;
}

impl Containers for View<'_> {
    fn store(&self) -> Result<Arc<dyn BlobStore>, String> {
        let link = self.links.name("wasi:blobstore/blobstore");
        self.state.stores.get(link).cloned().ok_or_else(|| format!("no blobstore link named `{link}`"))
    }

    fn open(&mut self, name: String) -> wasmtime::Result<Resource<Container>> {
        Ok(self.table.push(Container { name })?)
    }

    fn container(&self, c: &Resource<Container>) -> R<(String, Arc<dyn BlobStore>)> {
        let name = self.table.get(c)?.name.clone();
        Ok(self.store().map(|store| (name, store)))
    }
}

/// The container behind a handle and its current backend, or the guest's error returned.
macro_rules! container {
    ($view:expr, $c:expr) => {
        match $view.container($c)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// The value's body stream, once: a child of the value in the table.
pub(crate) fn write_body(table: &mut ResourceTable, value: &Resource<OutgoingValue>) -> wasmtime::Result<Result<Resource<DynOutputStream>, String>> {
    Ok(match table.get_mut(value)?.body() {
        Ok(body) => Ok(table.push_child(Box::new(body) as DynOutputStream, value)?),
        Err(e) => Err(e),
    })
}

fn text(e: BlobError) -> String {
    e.to_string()
}

impl blobstore::Host for View<'_> {
    async fn create_container(&mut self, name: String) -> R<Resource<Container>> {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = store.create_container(&name).await {
            return Ok(Err(text(e)));
        }
        Ok(Ok(self.open(name)?))
    }
    async fn get_container(&mut self, name: String) -> R<Resource<Container>> {
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        match store.container_exists(&name).await {
            Ok(true) => Ok(Ok(self.open(name)?)),
            Ok(false) => Ok(Err(text(BlobError::NoContainer(name)))),
            Err(e) => Ok(Err(text(e))),
        }
    }
    async fn delete_container(&mut self, name: String) -> R<()> {
        Ok(match self.store() {
            Ok(store) => store.delete_container(&name).await.map_err(text),
            Err(e) => Err(e),
        })
    }
    async fn container_exists(&mut self, name: String) -> R<bool> {
        Ok(match self.store() {
            Ok(store) => store.container_exists(&name).await.map_err(text),
            Err(e) => Err(e),
        })
    }
    async fn copy_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> R<()> {
        Ok(match self.store() {
            Ok(store) => store.copy((&src.container, &src.object), (&dest.container, &dest.object)).await.map_err(text),
            Err(e) => Err(e),
        })
    }
    async fn move_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> R<()> {
        Ok(match self.store() {
            Ok(store) => store.rename((&src.container, &src.object), (&dest.container, &dest.object)).await.map_err(text),
            Err(e) => Err(e),
        })
    }
}

impl container::Host for View<'_> {}

impl container::HostContainer for View<'_> {
    async fn name(&mut self, c: Resource<Container>) -> R<String> {
        Ok(Ok(self.table.get(&c)?.name.clone()))
    }
    async fn info(&mut self, c: Resource<Container>) -> R<types::ContainerMetadata> {
        let (name, store) = container!(self, &c);
        Ok(store.container_info(&name).await.map(|i| types::ContainerMetadata { name, created_at: i.created_at }).map_err(text))
    }
    async fn get_data(&mut self, c: Resource<Container>, name: String, start: u64, end: u64) -> R<Resource<IncomingValue>> {
        let (container, store) = container!(self, &c);
        if end < start {
            return Ok(Err(format!("get-data of `{name}`: end offset {end} is before start offset {start}")));
        }
        let size = match store.object_info(&container, &name).await {
            Ok(info) => info.size,
            Err(e) => return Ok(Err(text(e))),
        };
        // Offsets are inclusive; a range past the end is cut at the end.
        let len = if start >= size { 0 } else { end.min(size - 1) - start + 1 };
        match store.read(&container, &name, start, len).await {
            Ok(body) => Ok(Ok(self.table.push(IncomingValue { body, size: len })?)),
            Err(e) => Ok(Err(text(e))),
        }
    }
    async fn write_data(&mut self, c: Resource<Container>, name: String, data: Resource<OutgoingValue>) -> R<()> {
        let (container, store) = container!(self, &c);
        // Fail here, not at `finish`, when the container is missing.
        match store.container_exists(&container).await {
            Ok(true) => {}
            Ok(false) => return Ok(Err(text(BlobError::NoContainer(container)))),
            Err(e) => return Ok(Err(text(e))),
        }
        if let Err(e) = store.check_name(&container, &name) {
            return Ok(Err(text(e)));
        }
        Ok(self.table.get_mut(&data)?.start_upload(store, container, name))
    }
    async fn list_objects(&mut self, c: Resource<Container>) -> R<Resource<ObjectNames>> {
        let (container, store) = container!(self, &c);
        match store.list_objects(&container).await {
            Ok(names) => Ok(Ok(self.table.push(ObjectNames { names: names.into_iter() })?)),
            Err(e) => Ok(Err(text(e))),
        }
    }
    async fn delete_object(&mut self, c: Resource<Container>, name: String) -> R<()> {
        let (container, store) = container!(self, &c);
        Ok(store.delete_object(&container, &name).await.map_err(text))
    }
    async fn delete_objects(&mut self, c: Resource<Container>, names: Vec<String>) -> R<()> {
        let (container, store) = container!(self, &c);
        for name in names {
            if let Err(e) = store.delete_object(&container, &name).await {
                return Ok(Err(text(e)));
            }
        }
        Ok(Ok(()))
    }
    async fn has_object(&mut self, c: Resource<Container>, name: String) -> R<bool> {
        let (container, store) = container!(self, &c);
        Ok(match store.object_info(&container, &name).await {
            Ok(_) => Ok(true),
            Err(BlobError::NoObject { .. }) => Ok(false),
            Err(e) => Err(text(e)),
        })
    }
    async fn object_info(&mut self, c: Resource<Container>, name: String) -> R<types::ObjectMetadata> {
        let (container, store) = container!(self, &c);
        Ok(store
            .object_info(&container, &name)
            .await
            .map(|i| types::ObjectMetadata { name, container, created_at: i.created_at, size: i.size })
            .map_err(text))
    }
    async fn clear(&mut self, c: Resource<Container>) -> R<()> {
        let (container, store) = container!(self, &c);
        Ok(store.clear(&container).await.map_err(text))
    }
    async fn drop(&mut self, c: Resource<Container>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl container::HostStreamObjectNames for View<'_> {
    async fn read_stream_object_names(&mut self, names: Resource<ObjectNames>, len: u64) -> R<(Vec<String>, bool)> {
        let names = &mut self.table.get_mut(&names)?.names;
        let page: Vec<String> = names.by_ref().take(usize::try_from(len).unwrap_or(usize::MAX)).collect();
        Ok(Ok((page, names.len() == 0)))
    }
    async fn skip_stream_object_names(&mut self, names: Resource<ObjectNames>, num: u64) -> R<(u64, bool)> {
        let names = &mut self.table.get_mut(&names)?.names;
        let skipped = names.by_ref().take(usize::try_from(num).unwrap_or(usize::MAX)).count() as u64;
        Ok(Ok((skipped, names.len() == 0)))
    }
    async fn drop(&mut self, names: Resource<ObjectNames>) -> wasmtime::Result<()> {
        self.table.delete(names)?;
        Ok(())
    }
}

impl types::Host for View<'_> {}

impl types::HostOutgoingValue for View<'_> {
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        Ok(self.table.push(OutgoingValue::new())?)
    }
    /// wasmCloud's shape: `result<output-stream>`, no reason (the draft's shape, with one, is
    /// [`crate::draft`]'s).
    async fn outgoing_value_write_body(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        Ok(write_body(self.table, &value)?.map_err(|reason| tracing::debug!("outgoing-value-write-body: {reason}")))
    }
    async fn finish(&mut self, value: Resource<OutgoingValue>) -> R<()> {
        let value = self.table.delete(value)?;
        Ok(value.finish().await)
    }
    async fn drop(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

impl types::HostIncomingValue for View<'_> {
    async fn incoming_value_consume_sync(&mut self, value: Resource<IncomingValue>) -> R<Vec<u8>> {
        let mut value = self.table.delete(value)?;
        let mut bytes = Vec::with_capacity(usize::try_from(value.size).unwrap_or(0).min(16 << 20));
        Ok(value.body.read_to_end(&mut bytes).await.map(|_| bytes).map_err(|e| format!("reading the object: {e}")))
    }
    async fn incoming_value_consume_async(&mut self, value: Resource<IncomingValue>) -> R<Resource<DynInputStream>> {
        let value = self.table.delete(value)?;
        let stream = wasmtime_wasi::p2::pipe::AsyncReadStream::new(value.body);
        Ok(Ok(self.table.push(Box::new(stream) as DynInputStream)?))
    }
    async fn size(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.size)
    }
    async fn drop(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}
