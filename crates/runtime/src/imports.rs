//! Deny by default for imports no link grants: each is linked to a function that refuses the
//! call with an error naming the component's import, so a component starts and only the call
//! that needs a missing capability fails. (Wasmtime's own trap-on-unknown-imports cannot be
//! used: it would shadow the semver-compatible versions the linker matches.)

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError};

use crate::InvocationState;

/// Interface families the base linker provides (WASI 0.2 and `wasi:http`). Imports of these are
/// left to the linker, which matches any semver-compatible patch version (a component built
/// against `wasi:io@0.2.12` links to the host's `0.2.x`). Denying them here would create a
/// second, exactly-versioned instance whose resource types differ from the real ones.
const PROVIDED: &[&str] =
    &["wasi:cli/", "wasi:clocks/", "wasi:filesystem/", "wasi:io/", "wasi:random/", "wasi:sockets/", "wasi:http/"];

/// Links every import of `component` that neither the base linker nor a grant provides to a
/// refusal. `granted`: interface families (`wasi:keyvalue/`) that the component's capabilities defined
/// in `linker`; like the WASI ones, they are left to the linker's semver matching.
pub(crate) fn deny_unlinked(
    linker: &mut Linker<InvocationState>,
    engine: &Engine,
    component: &Component,
    granted: &[String],
) -> wasmtime::Result<()> {
    let ty = component.component_type();
    let wasi_resources = wasi_io_resources(engine, component);
    for (name, item) in ty.imports(engine) {
        if PROVIDED.iter().any(|p| name.starts_with(p)) || granted.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        match item.ty {
            ComponentItem::ComponentInstance(instance) => {
                let mut li = linker.instance(name)?;
                for (export, ty) in instance.exports(engine) {
                    match ty.ty {
                        ComponentItem::ComponentFunc(_) => {
                            let qualified = format!("{name}#{export}");
                            let interface = name.split_once('@').map_or(name, |(i, _)| i).to_owned();
                            li.func_new(export, move |store, _, _, _| {
                                let state = store.data();
                                wasmtime::bail!(
                                    "component `{}` called `{qualified}`, but it has no link named `{}` for `{interface}` (no link or capability provides it)",
                                    state.component(),
                                    state.links().name(&interface)
                                )
                            })?;
                        }
                        // A resource the interface `use`s from wasi:io (a blobstore's streams)
                        // must be the host's own type, or the real interface's values would not
                        // fit; resources of its own are placeholders nothing can create.
                        ComponentItem::Resource(r) => match wasi_resources.iter().find(|(t, _)| *t == r) {
                            Some((_, host)) => li.resource(export, *host, |_, _| Ok(()))?,
                            None => li.resource(export, ResourceType::host::<()>(), |_, _| Ok(()))?,
                        },
                        _ => {}
                    }
                }
            }
            ComponentItem::ComponentFunc(_) => {
                let qualified = name.to_owned();
                linker.root().func_new(name, move |store, _, _, _| {
                    wasmtime::bail!("component `{}` called `{qualified}`, but it is not linked: nothing on this host provides it", store.data().component())
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The component's view of each wasi:io resource it imports, with the host type the base linker
/// implements it with.
fn wasi_io_resources(engine: &Engine, component: &Component) -> Vec<(ResourceType, ResourceType)> {
    let mut out = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
        let interface = name.split('@').next().unwrap_or(name);
        for (export, ty) in instance.exports(engine) {
            let ComponentItem::Resource(r) = ty.ty else { continue };
            let host = match (interface, export) {
                ("wasi:io/poll", "pollable") => ResourceType::host::<DynPollable>(),
                ("wasi:io/streams", "input-stream") => ResourceType::host::<DynInputStream>(),
                ("wasi:io/streams", "output-stream") => ResourceType::host::<DynOutputStream>(),
                ("wasi:io/error", "error") => ResourceType::host::<IoError>(),
                _ => continue,
            };
            out.push((r, host));
        }
    }
    out
}
