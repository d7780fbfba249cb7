//! `wasmcloud:bus/lattice` at `1.0.0` and `2.0.0` (and `2.0.x`, by semver): a component linked twice to the same
//! interface under different link names (say a `cache` and a `default` keyvalue store) picks
//! which one its next calls use with `set-link-name`.
//!
//! **Owns** those bindings. **Must not** know capabilities: the runtime keeps the selection
//! ([`trellis_runtime::Links`]) and each capability reads it when it picks a backend.
//!
//! `1.0.0` accepts any name (a call through a name with no link then fails, naming it);
//! `2.0.0` refuses a name the component has no link of, as wasmCloud 1.x does.

use trellis_runtime::{Grants, InvocationState};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod v1 {
    wasmtime::component::bindgen!({
        inline: "
            package wasmcloud:bus@1.0.0;
            interface lattice {
                resource call-target-interface {
                    constructor(namespace: string, %package: string, %interface: string);
                }
                set-link-name: func(name: string, interfaces: list<call-target-interface>);
            }
            world bus { import lattice; }
        ",
        imports: { default: trappable },
        with: { "wasmcloud:bus/lattice.call-target-interface": crate::Target },
    });
}

mod v2 {
    wasmtime::component::bindgen!({
        inline: "
            package wasmcloud:bus@2.0.0;
            interface lattice {
                resource call-target-interface {
                    constructor(namespace: string, %package: string, %interface: string);
                }
                set-link-name: func(name: string, interfaces: list<call-target-interface>) -> result<_, string>;
            }
            world bus { import lattice; }
        ",
        imports: { default: trappable },
        with: { "wasmcloud:bus/lattice.call-target-interface": crate::Target },
    });
}

/// An interface a guest names in `set-link-name`: `ns:pkg/iface`.
pub struct Target(String);

struct View<'a> {
    links: &'a mut trellis_runtime::Links,
    table: &'a mut ResourceTable,
}

struct HasView;

impl HasData for HasView {
    type Data<'a> = View<'a>;
}

fn view(state: &mut InvocationState) -> View<'_> {
    let (links, table) = state.links_and_table();
    View { links, table }
}

type R<T> = wasmtime::Result<T>;

impl View<'_> {
    fn target(&mut self, namespace: String, package: String, interface: String) -> R<Resource<Target>> {
        Ok(self.table.push(Target(format!("{namespace}:{package}/{interface}")))?)
    }

    fn targets(&mut self, interfaces: Vec<Resource<Target>>) -> R<Vec<String>> {
        interfaces.into_iter().map(|r| Ok(self.table.delete(r)?.0)).collect()
    }
}

impl v1::wasmcloud::bus::lattice::Host for View<'_> {
    fn set_link_name(&mut self, name: String, interfaces: Vec<Resource<Target>>) -> R<()> {
        for interface in self.targets(interfaces)? {
            self.links.select(&interface, &name);
        }
        Ok(())
    }
}

impl v1::wasmcloud::bus::lattice::HostCallTargetInterface for View<'_> {
    fn new(&mut self, namespace: String, package: String, interface: String) -> R<Resource<Target>> {
        self.target(namespace, package, interface)
    }
    fn drop(&mut self, rep: Resource<Target>) -> R<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl v2::wasmcloud::bus::lattice::Host for View<'_> {
    fn set_link_name(&mut self, name: String, interfaces: Vec<Resource<Target>>) -> R<Result<(), String>> {
        let interfaces = self.targets(interfaces)?;
        if let Some(missing) = interfaces.iter().find(|i| !self.links.exists(i, &name)) {
            return Ok(Err(format!("no link named `{name}` for {missing}")));
        }
        for interface in interfaces {
            self.links.select(&interface, &name);
        }
        Ok(Ok(()))
    }
}

impl v2::wasmcloud::bus::lattice::HostCallTargetInterface for View<'_> {
    fn new(&mut self, namespace: String, package: String, interface: String) -> R<Resource<Target>> {
        self.target(namespace, package, interface)
    }
    fn drop(&mut self, rep: Resource<Target>) -> R<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

/// Adds `wasmcloud:bus/lattice` 1.0.0 and 2.0.0 to `linker`.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants) -> anyhow::Result<()> {
    v1::wasmcloud::bus::lattice::add_to_linker::<_, HasView>(linker, view)?;
    v2::wasmcloud::bus::lattice::add_to_linker::<_, HasView>(linker, view)?;
    grants.interfaces("wasmcloud:bus/");
    Ok(())
}

#[cfg(test)]
mod tests {
    use trellis_runtime::{Grants, Limits, Runtime, RuntimeConfig};

    /// Components built against each `wasmcloud:bus` release wasmCloud 1.x accepted link to the
    /// host's: 2.0.1 (which only adds `@since` gates and an `error` interface) by semver to 2.0.0.
    #[test]
    fn every_bus_release_links() {
        let rt = Runtime::new(RuntimeConfig { max_instances: 4, ..RuntimeConfig::default() }).unwrap();
        let cases = [
            ("1.0.0", "", true),
            ("2.0.0", "(result (result (error string)))", true),
            ("2.0.1", "(result (result (error string)))", true),
            // The 1.0.0 shape under a 2.x version does not fit: the check is real.
            ("2.0.1", "", false),
        ];
        for (version, result, links) in cases {
            let text = format!(
                r#"(component
                     (import "wasmcloud:bus/lattice@{version}" (instance
                       (export "call-target-interface" (type $t (sub resource)))
                       (export "[constructor]call-target-interface" (func (param "namespace" string) (param "package" string) (param "interface" string) (result (own $t))))
                       (export "set-link-name" (func (param "name" string) (param "interfaces" (list (own $t))) {result})))))"#
            );
            let component = wasmtime::component::Component::new(rt.engine(), &text).unwrap();
            let mut linker = rt.linker().unwrap();
            let mut grants = Grants::default();
            super::grant(&mut linker, &mut grants).unwrap();
            let prepared = rt.prepare(version, &component, &mut linker, grants, Limits::default(), 1);
            assert_eq!(prepared.is_ok(), links, "wasmcloud:bus@{version} with `{result}`: {:?}", prepared.err());
        }
    }
}
