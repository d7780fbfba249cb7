//! A call to a component of this process: a fresh instance from its `InstancePre`, the values
//! handed over as they are, under the target's own limits and concurrency cap.

use trellis_runtime::wasmtime::component::Val;
use trellis_runtime::{Invocation, PreparedComponent};

use crate::CallError;

/// Calls `func` of exported instance `instance` (empty for a root function) of `target`.
pub(crate) async fn call(target: &PreparedComponent, instance: &str, func: &str, params: &[Val], results: &mut [Val]) -> Result<(), CallError> {
    let function = qualified(instance, func);
    let failed = |e: trellis_runtime::InvocationError| CallError::Failed(e.to_string());
    let Invocation { mut store, guard } = target.begin(function.clone()).await.map_err(failed)?;
    let handle = guard.run(target.instance_pre().instantiate_async(&mut store)).await.map_err(failed)?;
    let no_such = || CallError::NoSuchFunction { target: target.id().to_owned(), function: function.clone() };
    let parent = match instance {
        "" => None,
        name => Some(handle.get_export_index(&mut store, None, name).ok_or_else(no_such)?),
    };
    let index = handle.get_export_index(&mut store, parent.as_ref(), func).ok_or_else(no_such)?;
    let f = handle.get_func(&mut store, index).ok_or_else(no_such)?;
    guard.run(f.call_async(&mut store, params, results)).await.map_err(failed)
}

/// `instance.func`, or `func` for a root function: how errors and logs name a function.
pub(crate) fn qualified(instance: &str, func: &str) -> String {
    if instance.is_empty() { func.to_owned() } else { format!("{instance}.{func}") }
}
