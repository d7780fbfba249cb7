//! The upstream draft's shape of `outgoing-value.outgoing-value-write-body`: it returns
//! `result<output-stream, error>` where wasmCloud's WIT (the one bound here) returns
//! `result<output-stream>`. A component built against the draft links through this adapter,
//! defined only for a component that imports that shape.

use trellis_runtime::InvocationState;
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker, Resource, Type, Val};

use crate::value::OutgoingValue;

const WRITE_BODY: &str = "[method]outgoing-value.outgoing-value-write-body";

/// Redefines `outgoing-value-write-body` in `linker` when `component` imports the draft's
/// shape of it; leaves everything as bound otherwise.
pub(crate) fn adapt(linker: &mut Linker<InvocationState>, engine: &Engine, component: &Component) -> anyhow::Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        if !name.starts_with("wasi:blobstore/types@") {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
        let Some(ComponentItem::ComponentFunc(f)) = instance.get_export(engine, WRITE_BODY).map(|e| e.ty) else { continue };
        if !returns_a_reason(&f) {
            continue;
        }
        linker.allow_shadowing(true);
        let defined = linker.instance(name)?.func_new_async(WRITE_BODY, |mut store, _, params, results| {
            Box::new(async move {
                let [Val::Resource(value)] = params else { wasmtime::bail!("{WRITE_BODY} takes the outgoing-value") };
                let value: Resource<OutgoingValue> = Resource::try_from_resource_any(*value, &mut store)?;
                let (_, table) = store.data_mut().links_and_table();
                let written = crate::host::write_body(table, &value)?;
                results[0] = Val::Result(match written {
                    Ok(stream) => Ok(Some(Box::new(Val::Resource(stream.try_into_resource_any(&mut store)?)))),
                    Err(reason) => Err(Some(Box::new(Val::String(reason)))),
                });
                Ok(())
            })
        });
        linker.allow_shadowing(false);
        defined?;
    }
    Ok(())
}

/// Whether the function's one result is a `result` with an error type: the draft's shape.
fn returns_a_reason(f: &ComponentFunc) -> bool {
    matches!(f.results().next(), Some(Type::Result(r)) if r.err().is_some())
}
