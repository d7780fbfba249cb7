//! `wasmcloud:bus/lattice` at `1.0.0` and `2.0.0` (and `2.0.x`, by semver): a component linked twice to the same
//! interface under different link names (say a `cache` and a `default` keyvalue store) picks
//! which one its next calls use with `set-link-name`.
//!
//! **Owns** those bindings. **Must not** know capabilities: the runtime keeps the selection
//! ([`trellis_runtime::Links`]) and each capability reads it when it picks a backend.
//!
//! `1.0.0` accepts any name (a call through a name with no link then fails, naming it);
//! `2.0.0` refuses a name the component has no link of, as wasmCloud 1.x does.
//!
//! `2.0.1` adds an `error` interface, as wasmCloud's host WIT (`wit/wasmcloud/deps/wasmcloud`)
//! has it: a guest turns a `wasi:io/error.error`, or a `wrpc:rpc/error@0.1.0` error, into an
//! `error` and asks it for its debug string. `wrpc:rpc/error@0.1.0` links too. Both resources are
//! one host type, so a component whose bus package re-exports wRPC's resource links as well.

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

/// The `error` interface of `wasmcloud:bus@2.0.1`, and the same interface as wRPC's own WIT
/// names it; `wasi:io/error.error` is the host's own resource (wasmtime-wasi's), so a guest
/// hands over the io errors its streams gave it.
mod error {
    wasmtime::component::bindgen!({
        inline: "
            package wasmcloud:bus@2.0.1;
            interface error {
                use wasi:io/error@0.2.0.{error as io-error};
                use wrpc:rpc/error@0.1.0.{error as rpc-error};
                resource error {
                    from-rpc-error: static func(error: rpc-error) -> error;
                    from-io-error: static func(error: io-error) -> result<error, io-error>;
                    to-debug-string: func() -> string;
                }
            }
            world errors {
                import error;
                import wrpc:rpc/error@0.1.0;
            }

            package wrpc:rpc@0.1.0 {
                interface error {
                    use wasi:io/error@0.2.0.{error as io-error};
                    resource error {
                        from-io-error: static func(error: io-error) -> result<error, io-error>;
                        to-debug-string: func() -> string;
                    }
                }
            }

            package wasi:io@0.2.0 {
                interface error { resource error; }
            }
        ",
        imports: { default: trappable },
        with: {
            "wasi:io/error.error": wasmtime::Error,
            "wasmcloud:bus/error.error": crate::RpcError,
            "wrpc:rpc/error.error": crate::RpcError,
        },
    });
}

/// An error a guest took over from an io error: its debug text.
pub struct RpcError(String);

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

impl View<'_> {
    /// Every io error converts: the host cannot tell one a wRPC transport caused from another,
    /// and the guest asked for its text either way.
    fn convert_io_error(&mut self, io: Resource<wasmtime::Error>) -> R<Result<Resource<RpcError>, Resource<wasmtime::Error>>> {
        let text = format!("{:?}", self.table.delete(io)?);
        Ok(Ok(self.table.push(RpcError(text))?))
    }

    fn debug_string(&mut self, error: &Resource<RpcError>) -> R<String> {
        Ok(self.table.get(error)?.0.clone())
    }

    fn drop_error(&mut self, error: Resource<RpcError>) -> R<()> {
        self.table.delete(error)?;
        Ok(())
    }
}

/// Both `error` interfaces, served alike; `$extra` are the functions only one of them has.
macro_rules! serve_error {
    ($($interface:ident)::+ { $($extra:item)* }) => {
        impl $($interface)::+::Host for View<'_> {}

        impl $($interface)::+::HostError for View<'_> {
            $($extra)*
            fn from_io_error(&mut self, io: Resource<wasmtime::Error>) -> R<Result<Resource<RpcError>, Resource<wasmtime::Error>>> {
                self.convert_io_error(io)
            }
            fn to_debug_string(&mut self, error: Resource<RpcError>) -> R<String> {
                self.debug_string(&error)
            }
            fn drop(&mut self, error: Resource<RpcError>) -> R<()> {
                self.drop_error(error)
            }
        }
    };
}

serve_error!(error::wasmcloud::bus::error {
    /// The same host value under the bus's name: ownership moves, nothing is copied.
    fn from_rpc_error(&mut self, error: Resource<RpcError>) -> R<Resource<RpcError>> {
        Ok(error)
    }
});
serve_error!(error::wrpc::rpc::error {});

/// Adds `wasmcloud:bus/lattice` 1.0.0 and 2.0.0, and `wasmcloud:bus/error` 2.0.1 (with
/// `wrpc:rpc/error` 0.1.0), to `linker`.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants) -> anyhow::Result<()> {
    v1::wasmcloud::bus::lattice::add_to_linker::<_, HasView>(linker, view)?;
    v2::wasmcloud::bus::lattice::add_to_linker::<_, HasView>(linker, view)?;
    error::wasmcloud::bus::error::add_to_linker::<_, HasView>(linker, view)?;
    error::wrpc::rpc::error::add_to_linker::<_, HasView>(linker, view)?;
    grants.interfaces("wasmcloud:bus/");
    grants.interfaces("wrpc:rpc/error");
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
            assert_eq!(links_with_bus(&rt, version, &text), links, "wasmcloud:bus@{version} with `{result}`");
        }
    }

    fn links_with_bus(rt: &Runtime, name: &str, text: &str) -> bool {
        let component = wasmtime::component::Component::new(rt.engine(), text).unwrap();
        let mut linker = rt.linker().unwrap();
        let mut grants = Grants::default();
        super::grant(&mut linker, &mut grants).unwrap();
        let prepared = rt.prepare(name, &component, &mut linker, grants, Limits::default(), 1);
        if let Err(e) = &prepared {
            eprintln!("{name}: {e:#}");
        }
        prepared.is_ok()
    }

    /// The `error` interface links as `wasmcloud:bus/error@2.0.1` declares it, with the io
    /// error of whichever `wasi:io` 0.2 release the component imports; and as a component sees
    /// it when the bus package re-exports wRPC's own.
    #[test]
    fn the_error_interface_links_in_both_shapes() {
        let rt = Runtime::new(RuntimeConfig { max_instances: 4, ..RuntimeConfig::default() }).unwrap();
        let functions = r#"
            (export "[static]error.from-io-error" (func (param "error" (own $ie)) (result (result (own $e) (error (own $ie))))))
            (export "[method]error.to-debug-string" (func (param "self" (borrow $e)) (result string)))"#;
        let bus = format!(
            r#"(component
                 (import "wasi:io/error@0.2.3" (instance $io (export "error" (type (sub resource)))))
                 (alias export $io "error" (type $io-error))
                 (import "wasmcloud:bus/error@2.0.1" (instance
                   (alias outer 1 $io-error (type $ie0))
                   (export "io-error" (type $ie (eq $ie0)))
                   (export "error" (type $e (sub resource)))
                   {functions})))"#
        );
        assert!(links_with_bus(&rt, "bus-error", &bus));
        // The check is real: another shape does not link.
        assert!(!links_with_bus(&rt, "bus-error-mistyped", &bus.replace("(result string)", "(result u32)")));
        let reexported = format!(
            r#"(component
                 (import "wasi:io/error@0.2.0" (instance $io (export "error" (type (sub resource)))))
                 (alias export $io "error" (type $io-error))
                 (import "wrpc:rpc/error@0.1.0" (instance $rpc
                   (alias outer 1 $io-error (type $ie0))
                   (export "io-error" (type $ie (eq $ie0)))
                   (export "error" (type $e (sub resource)))
                   {functions}))
                 (alias export $rpc "error" (type $rpc-error))
                 (import "wasmcloud:bus/error@2.0.1" (instance
                   (alias outer 1 $rpc-error (type $e0))
                   (export "error" (type (eq $e0))))))"#
        );
        assert!(links_with_bus(&rt, "rpc-error", &reexported));
    }

    /// A guest's io error becomes an `error` that says what the io error said.
    #[test]
    fn an_io_error_converts_with_its_text() {
        let mut table = wasmtime::component::ResourceTable::new();
        let mut links = trellis_runtime::Links::default();
        let mut view = super::View { links: &mut links, table: &mut table };
        let io = view.table.push(wasmtime::Error::msg("connection reset by the remote host")).unwrap();
        let Ok(error) = view.convert_io_error(io).unwrap() else { panic!("did not convert") };
        assert!(view.debug_string(&error).unwrap().contains("connection reset by the remote host"));
        view.drop_error(error).unwrap();
        assert!(view.table.is_empty());
    }
}
