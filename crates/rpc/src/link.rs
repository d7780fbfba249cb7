//! A component's imports that its links bind to other components: each function becomes a
//! call to the target its current link names (`default` unless the guest chose another with
//! `wasmcloud:bus/lattice.set-link-name`).

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_runtime::wasmtime::Engine;
use trellis_runtime::wasmtime::component::types::ComponentItem;
use trellis_runtime::wasmtime::component::{Component, Linker, Type};
use trellis_runtime::{Grants, InvocationState};

use crate::wrpc::Call;
use crate::{CallError, Calls, ImportLinks};

/// Whether an export named `instance` is served to callers by name: everything but the WASI
/// and wasmCloud interfaces the host drives itself (HTTP, messaging handlers, watchers).
pub fn is_served(instance: &str) -> bool {
    !(instance.starts_with("wasi:") || instance.starts_with("wasmcloud:") || instance.starts_with("wrpc:"))
}

/// The interface an import or export belongs to, without its version: how links name it.
pub(crate) fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

impl Calls {
    /// Defines in `linker` every import of `component` (id `source`) whose interface
    /// `links` binds to other components, and records them in `grants` (so the link names are
    /// known to `wasmcloud:bus/lattice` and the imports are not denied).
    pub fn link_imports(
        &self,
        linker: &mut Linker<InvocationState>,
        engine: &Engine,
        component: &Component,
        source: &str,
        links: &ImportLinks,
        grants: &mut Grants,
    ) -> anyhow::Result<()> {
        for (name, item) in component.component_type().imports(engine) {
            let interface = unversioned(name);
            let Some(targets) = links.get(interface) else { continue };
            let ComponentItem::ComponentInstance(instance) = item.ty else { continue };
            let targets = Arc::new(targets.clone());
            let mut li = linker.instance(name)?;
            for (func, ty) in instance.exports(engine) {
                match ty.ty {
                    ComponentItem::ComponentFunc(f) => {
                        let route = Arc::new(Route {
                            calls: self.clone(),
                            source: source.into(),
                            interface: interface.into(),
                            instance: name.into(),
                            func: func.into(),
                            targets: targets.clone(),
                            params: f.params().map(|(_, t)| t).collect(),
                            results: f.results().collect(),
                        });
                        li.func_new_async(func, move |store, _, params, results| {
                            let route = route.clone();
                            Box::new(async move {
                                let link_name = store.data().links().name(&route.interface);
                                route.call(link_name, params, results).await.map_err(|e| trellis_runtime::wasmtime::format_err!("{e}"))
                            })
                        })?;
                    }
                    ComponentItem::Resource(_) => {
                        anyhow::bail!(
                            "`{name}` defines resource `{func}`; calls between components cannot pass resources yet, so its link cannot be served"
                        );
                    }
                    _ => {}
                }
            }
            grants.interfaces(name);
            for link_name in targets.keys() {
                grants.link(interface, link_name);
            }
        }
        Ok(())
    }
}

/// Where one imported function goes.
struct Route {
    calls: Calls,
    /// The calling component's id.
    source: Box<str>,
    interface: Box<str>,
    instance: Box<str>,
    func: Box<str>,
    /// Link name → target component id.
    targets: Arc<BTreeMap<String, String>>,
    params: Vec<Type>,
    results: Vec<Type>,
}

impl Route {
    async fn call(&self, link_name: &str, params: &[trellis_runtime::wasmtime::component::Val], results: &mut [trellis_runtime::wasmtime::component::Val]) -> Result<(), CallError> {
        let Some(target) = self.targets.get(link_name) else {
            return Err(CallError::Failed(format!(
                "component `{}` called `{}#{}`, but it has no link named `{link_name}` for `{}`",
                self.source, self.instance, self.func, self.interface
            )));
        };
        let call = Call { source: &self.source, link_name, target, instance: &self.instance, func: &self.func };
        self.calls.invoke(&call, params, &self.params, results, &self.results).await
    }
}
