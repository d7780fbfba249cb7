//! A component's imports that its links bind to other components: each function becomes a
//! call to the target its current link names (`default` unless the guest chose another with
//! `wasmcloud:bus/lattice.set-link-name`).

use std::collections::BTreeMap;
use std::sync::Arc;

use trellis_runtime::wasmtime::Engine;
use trellis_runtime::wasmtime::component::types::ComponentItem;
use trellis_runtime::wasmtime::component::{Component, Linker, ResourceType, Type};
use trellis_runtime::{Grants, InvocationState};

use crate::wrpc::Call;
use crate::{CallError, Calls, ImportLinks};

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
                        // A function that passes a resource (or a stream, ...) links, and fails
                        // when called, as on wasmCloud: the rest of the interface works.
                        let unpassable = f.params().map(|(_, t)| t).chain(f.results()).find_map(|t| crate::codec::unpassable(&t));
                        if let Some(kind) = unpassable {
                            let reason = format!(
                                "component `{source}` called `{name}#{func}`, which passes a {kind}; calls between components pass values only \
                                 (wRPC carries no {kind} between components, on wasmCloud either)"
                            );
                            li.func_new_async(func, move |_, _, _, _| {
                                let reason = reason.clone();
                                Box::new(async move { Err(trellis_runtime::wasmtime::format_err!("{reason}")) })
                            })?;
                            continue;
                        }
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
                    // The interface's own resource types stand for nothing here (no call can pass
                    // one); an interface that only re-exports another's (`wasi:http/types`'s
                    // `fields`, say) does not link, as it does not on wasmCloud.
                    ComponentItem::Resource(_) => li.resource(func, ResourceType::host::<Unpassable>(), |_, _| Ok(()))?,
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

/// The host's stand-in for a resource type of a linked interface: no handle of it is ever made.
struct Unpassable;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trellis_runtime::wasmtime::component::{Component, Val};
    use trellis_runtime::{Grants, Limits, Runtime, RuntimeConfig};

    use crate::Calls;

    /// A component importing an interface with a resource of its own: its `make` builds one, its
    /// `ping` calls a plain function of the same interface.
    const RESOURCE_CALLER: &str = r#"
        (component
          (import "example:res/api@0.1.0" (instance $api
            (export "thing" (type $thing (sub resource)))
            (export "[constructor]thing" (func (result (own $thing))))
            (export "ping" (func (param "x" u32) (result u32)))))
          (alias export $api "[constructor]thing" (func $ctor))
          (alias export $api "ping" (func $ping))
          (core func $ctor-lowered (canon lower (func $ctor)))
          (core func $ping-lowered (canon lower (func $ping)))
          (core module $m
            (import "api" "ctor" (func $ctor (result i32)))
            (import "api" "ping" (func $ping (param i32) (result i32)))
            (func (export "make") (result i32) call $ctor)
            (func (export "ping") (result i32) (call $ping (i32.const 7))))
          (core instance $i (instantiate $m (with "api" (instance (export "ctor" (func $ctor-lowered)) (export "ping" (func $ping-lowered))))))
          (func (export "make") (result u32) (canon lift (core func $i "make")))
          (func (export "ping") (result u32) (canon lift (core func $i "ping"))))"#;

    /// An interface with a resource links, as on wasmCloud; a call that would pass the resource
    /// fails then, naming the component and function, and the plain function still calls out.
    #[tokio::test]
    async fn an_interface_with_a_resource_links_and_only_its_resource_calls_fail() {
        let rt = Runtime::new(RuntimeConfig { max_instances: 4, ..RuntimeConfig::default() }).unwrap();
        let component = Component::new(rt.engine(), RESOURCE_CALLER).unwrap();
        let mut linker = rt.linker().unwrap();
        let mut grants = Grants::default();
        let links = BTreeMap::from([("example:res/api".to_owned(), BTreeMap::from([("default".to_owned(), "callee".to_owned())]))]);
        let calls = Calls::in_process();
        calls.link_imports(&mut linker, rt.engine(), &component, "caller", &links, &mut grants).unwrap();
        let prepared = rt.prepare("caller", &component, &mut linker, grants, Limits::default(), 1).unwrap();

        let mut results = [Val::U32(0)];
        let err = crate::local::call(&prepared, "", "make", &[], &mut results).await.unwrap_err().to_string();
        assert!(err.contains("component `caller` called `example:res/api@0.1.0#[constructor]thing`, which passes a resource"), "{err}");
        // The plain function is routed to its target, which is not running here.
        let err = crate::local::call(&prepared, "", "ping", &[], &mut results).await.unwrap_err().to_string();
        assert!(err.contains("`callee` is not running"), "{err}");

        // One that re-exports another interface's resource type does not link; the error names it.
        let reexport = r#"
            (component
              (import "wasi:io/error@0.2.0" (instance $io (export "error" (type (sub resource)))))
              (alias export $io "error" (type $io-error))
              (import "example:res/api@0.1.0" (instance
                (alias outer 1 $io-error (type $e))
                (export "error" (type (eq $e))))))"#;
        let component = Component::new(rt.engine(), reexport).unwrap();
        let mut linker = rt.linker().unwrap();
        let mut grants = Grants::default();
        calls.link_imports(&mut linker, rt.engine(), &component, "caller", &links, &mut grants).unwrap();
        let err = rt.prepare("caller", &component, &mut linker, grants, Limits::default(), 1).err().expect("it links");
        assert!(format!("{err:#}").contains("example:res/api@0.1.0"), "{err:#}");
    }
}
