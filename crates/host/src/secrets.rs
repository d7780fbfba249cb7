//! Resolving a manifest's secret references through the host's secrets backend, and serving
//! the local store's management subjects.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use trellis_cap_secrets::{Asker, Backend, LocalStore, SecretRequest, SecretValue};
use trellis_lattice::{Lattice, LatticeError, respond};
use trellis_types::ctl::CtlReply;
use trellis_types::manifest::{Manifest, SecretProperty};

pub(crate) use trellis_types::manifest::SECRET_POLICY_TYPE as SECRET_POLICY;

/// The secrets `list` (at manifest field `field`) names, by their names in the manifest; or the
/// field of the first that fails, and why.
pub(crate) async fn resolve(
    manifest: &Manifest,
    list: &[SecretProperty],
    field: &str,
    backend: &dyn Backend,
    asker: Asker<'_>,
) -> Result<BTreeMap<String, SecretValue>, (String, String)> {
    let mut resolved = BTreeMap::new();
    for (j, secret) in list.iter().enumerate() {
        let at = format!("{field}[{j}]");
        let source = &secret.properties;
        // Validation guarantees the policy exists and is a secrets policy.
        let policy = manifest.spec.policies.iter().find(|p| p.name == source.policy).ok_or_else(|| {
            (format!("{at}.properties.policy"), format!("no policy named `{}` in spec.policies", source.policy))
        })?;
        let request = SecretRequest {
            key: &source.key,
            field: source.field.as_deref(),
            version: source.version.as_deref(),
            application: manifest.name(),
            policy: &policy.properties,
            asker,
        };
        let value = backend.get(&request).await.map_err(|e| (at.clone(), format!("secret `{}`: {e}", secret.name)))?;
        resolved.insert(secret.name.clone(), value);
    }
    Ok(resolved)
}

/// The subjects the local store answers: `trellis.secrets.v1.<lattice>.{put,del,list}`.
pub const SECRET_STORE_PREFIX: &str = "trellis.secrets.v1";

/// A `put` or `del` body. A put carries the value as `string_secret` or `binary_secret`, the
/// field names of wasmCloud's secret type.
#[derive(serde::Deserialize)]
struct SecretBody {
    key: String,
    #[serde(default)]
    string_secret: Option<String>,
    #[serde(default)]
    binary_secret: Option<Vec<u8>>,
}

/// Lets `trellis secret put|del|list` manage `store` over `lattice`: values go in, never out.
pub async fn serve_secret_store(store: LocalStore, lattice: Arc<dyn Lattice>, lattice_name: &str) -> Result<(), LatticeError> {
    let prefix = format!("{SECRET_STORE_PREFIX}.{lattice_name}.");
    let mut requests = lattice.subscribe(&format!("{prefix}>"), None).await?;
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let op = message.subject.strip_prefix(&prefix).unwrap_or_default().to_owned();
            let store = store.clone();
            let payload = message.payload.clone();
            let reply = tokio::task::spawn_blocking(move || answer(&store, &op, &payload))
                .await
                .unwrap_or_else(|e| CtlReply::fail(format!("the secret store failed: {e}")));
            let _ = respond(lattice.as_ref(), &message, serde_json::to_vec(&reply).expect("replies serialize")).await;
        }
    });
    Ok(())
}

fn answer(store: &LocalStore, op: &str, payload: &[u8]) -> CtlReply {
    let body = || serde_json::from_slice::<SecretBody>(payload).map_err(|_| CtlReply::fail(r#"the body must be {"key": ..., "string_secret" | "binary_secret": ...}"#));
    let result = match op {
        "put" => body().and_then(|b| {
            let value = match (b.string_secret, b.binary_secret) {
                (Some(text), None) => SecretValue::string(text),
                (None, Some(bytes)) => SecretValue::bytes(bytes),
                _ => return Err(CtlReply::fail("give exactly one of string_secret and binary_secret")),
            };
            let version = store.put(&b.key, &value).map_err(|e| CtlReply::fail(e.to_string()))?;
            tracing::info!(key = %b.key, version, kind = value.kind(), "secret put");
            Ok(CtlReply::done(format!("secret {} stored (version {version})", b.key)))
        }),
        "del" => body().and_then(|b| match store.delete(&b.key).map_err(|e| CtlReply::fail(e.to_string()))? {
            true => Ok(CtlReply::done(format!("secret {} deleted", b.key))),
            false => Err(CtlReply::fail(format!("no secret `{}` in the local secret store", b.key))),
        }),
        "list" => store
            .list()
            .map(|all| {
                let listed: Vec<serde_json::Value> =
                    all.into_iter().map(|s| serde_json::json!({"key": s.key, "version": s.version, "kind": s.kind})).collect();
                CtlReply::ok(serde_json::Value::Array(listed))
            })
            .map_err(|e| CtlReply::fail(e.to_string())),
        other => Err(CtlReply::fail(format!("unsupported subject {other}"))),
    };
    result.unwrap_or_else(|failure| failure)
}
