//! The one view every capability's host functions see of an invocation.

use std::any::Any;
use std::marker::PhantomData;

use wasmtime::component::{HasData, ResourceTable};

use crate::{InvocationState, Links};

/// What a capability's host functions see of one invocation: the capability's own state `S`
/// (made by its [`crate::StateFactory`]), the component's links and which of them each
/// interface uses now, and the resource table its resources live in. Capability crates
/// implement their bindings' `Host` traits for `View<'_, TheirState>` and add them to a linker
/// with [`HasView`] and [`View::of`], so none declares a view of its own.
pub struct View<'a, S> {
    /// The capability's state for this invocation.
    pub state: &'a S,
    /// The component's links.
    pub links: &'a Links,
    /// Where resources live.
    pub table: &'a mut ResourceTable,
}

impl<S: Any + Send> View<'_, S> {
    /// The view of capability state `S` in `state`: what `add_to_linker` is given.
    pub fn of(state: &mut InvocationState) -> View<'_, S> {
        let (own, table, links) = state.extension_and_links::<S>();
        View { state: own, links, table }
    }
}

/// The [`HasData`] of [`View`]s of `S`, for bindgen's `add_to_linker::<_, HasView<S>>`.
pub struct HasView<S>(PhantomData<fn() -> S>);

impl<S: 'static> HasData for HasView<S> {
    type Data<'a> = View<'a, S>;
}
