//! `wasi:config` for Trellis components: `runtime` and `store` at `0.2.0-draft` (what wasmCloud
//! 1.x links) and `store` at `0.2.0-rc.1` (what newer toolchains emit).
//!
//! **Owns** the host side of those interfaces over a [`ConfigValues`] handle: the component's
//! `config` list, merged right-most-wins by the host.
//! **Must not** resolve named config or know where it is stored; the host does, and swaps new
//! values into the handle, which the next invocation sees without a redeploy.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use trellis_runtime::{Grants, InvocationState};
use wasmtime::component::{ComponentType, Linker, Lower};

/// The config a component sees, shared by all its invocations; replace it with [`ConfigValues::set`].
#[derive(Clone, Default)]
pub struct ConfigValues(Arc<ArcSwap<BTreeMap<String, String>>>);

impl ConfigValues {
    /// A handle holding `values`.
    pub fn new(values: BTreeMap<String, String>) -> ConfigValues {
        ConfigValues(Arc::new(ArcSwap::from_pointee(values)))
    }

    /// Replaces the values; invocations that start afterwards see the new ones.
    pub fn set(&self, values: BTreeMap<String, String>) {
        self.0.store(Arc::new(values));
    }

    /// The current values.
    pub fn get(&self) -> Arc<BTreeMap<String, String>> {
        self.0.load_full()
    }
}

/// Per invocation: a snapshot, so one invocation sees one consistent config.
struct ConfigState(Arc<BTreeMap<String, String>>);

/// `variant error { upstream(string), io(string) }` (`config-error` in `runtime`); never
/// returned, since the values are in memory, but part of every function's type.
#[derive(ComponentType, Lower)]
#[component(variant)]
enum ConfigError {
    #[component(name = "upstream")]
    #[expect(dead_code, reason = "the values are in memory: there is no upstream to fail")]
    Upstream(String),
    #[component(name = "io")]
    #[expect(dead_code, reason = "the values are in memory: there is no I/O to fail")]
    Io(String),
}

const INTERFACES: &[&str] = &["wasi:config/runtime@0.2.0-draft", "wasi:config/store@0.2.0-draft", "wasi:config/store@0.2.0-rc.1"];

/// Adds `wasi:config` to `linker`, answering from `values`, and records the grant.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, values: ConfigValues) -> anyhow::Result<()> {
    for name in INTERFACES {
        let mut instance = linker.instance(name)?;
        instance.func_wrap("get", |mut store, (key,): (String,)| {
            let (state, _) = store.data_mut().extension::<ConfigState>();
            Ok((Ok::<_, ConfigError>(state.0.get(&key).cloned()),))
        })?;
        instance.func_wrap("get-all", |mut store, (): ()| {
            let (state, _) = store.data_mut().extension::<ConfigState>();
            let all: Vec<(String, String)> = state.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Ok((Ok::<_, ConfigError>(all),))
        })?;
    }
    grants.interfaces("wasi:config/");
    grants.state(move || ConfigState(values.get()));
    Ok(())
}
