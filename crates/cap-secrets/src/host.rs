//! The `wasmcloud:secrets` host functions: a `secret` is a handle in the invocation's table;
//! only `reveal` turns it into a value in the guest.

use std::sync::Arc;

use secrecy::ExposeSecret;
use trellis_runtime::{Grants, HasView, InvocationState};
use wasmtime::component::{Linker, Resource};

use crate::{ComponentSecrets, SecretValue};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "trellis:secrets/host",
        imports: { default: trappable },
        with: {
            "wasmcloud:secrets/store.secret": crate::host::Secret,
        },
    });
}

use generated::wasmcloud::secrets::{reveal, store};

/// A secret handed to a guest, not yet revealed.
#[expect(unreachable_pub, reason = "named by the public traits bindgen generates")]
pub struct Secret(Arc<SecretValue>);

/// Per invocation: the component's secrets and its resource table.
type View<'a> = trellis_runtime::View<'a, ComponentSecrets>;

/// Adds `wasmcloud:secrets` to `linker`, answering from `secrets`, and records the grant. Every
/// component gets the interface, as in wasmCloud; it reaches only the secrets its own manifest
/// entry names.
pub fn grant(linker: &mut Linker<InvocationState>, grants: &mut Grants, secrets: ComponentSecrets) -> anyhow::Result<()> {
    store::add_to_linker::<_, HasView<ComponentSecrets>>(linker, View::of)?;
    reveal::add_to_linker::<_, HasView<ComponentSecrets>>(linker, View::of)?;
    grants.interfaces("wasmcloud:secrets/");
    grants.state(move || secrets.clone());
    Ok(())
}

impl store::Host for View<'_> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Resource<Secret>, store::SecretsError>> {
        match self.state.get(&key) {
            Some(value) => Ok(Ok(self.table.push(Secret(value))?)),
            None => Ok(Err(store::SecretsError::NotFound)),
        }
    }
}

impl store::HostSecret for View<'_> {
    fn drop(&mut self, secret: Resource<Secret>) -> wasmtime::Result<()> {
        self.table.delete(secret)?;
        Ok(())
    }
}

impl reveal::Host for View<'_> {
    fn reveal(&mut self, secret: Resource<Secret>) -> wasmtime::Result<store::SecretValue> {
        let secret = self.table.get(&secret)?;
        Ok(match &*secret.0 {
            SecretValue::String(s) => store::SecretValue::String(s.expose_secret().to_owned()),
            SecretValue::Bytes(b) => store::SecretValue::Bytes(b.expose_secret().to_vec()),
        })
    }
}
