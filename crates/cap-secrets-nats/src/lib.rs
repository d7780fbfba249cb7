//! wasmCloud's secrets backend protocol, spoken over the lattice, so Trellis hosts take secrets
//! from the backends wasmCloud users already run: `secrets-nats-kv` (secrets in a NATS KV
//! bucket) and the Vault and Kubernetes backends of wasmCloud-contrib.
//!
//! **Owns** the client side of that protocol: asking a backend for its transit xkey
//! (`<prefix>.v1alpha1.<backend>.server_xkey`), sealing a secret request to it and opening the
//! sealed answer (`….get`), and the self-signed host JWT the backend checks beside the
//! component's own.
//! **Must not** keep, log or put into an error a secret's value: values go straight into
//! `secrecy` wrappers, and the plaintext answer lives only until it is parsed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nkeys::{KeyPair, XKey};
use serde::{Deserialize, Serialize};
use trellis_cap_secrets::{Backend, SecretRequest, SecretValue, SecretsError};
use trellis_lattice::{Lattice, LatticeError, Message};

/// The version of the protocol, the subjects' second-to-last token but one.
const API_VERSION: &str = "v1alpha1";
/// The header carrying the public xkey a request is sealed with (and its answer sealed to).
const HOST_XKEY_HEADER: &str = "WasmCloud-Host-Xkey";
/// The header carrying the public xkey a backend sealed its answer with.
const RESPONSE_XKEY_HEADER: &str = "Server-Response-Xkey";
/// The type wasmCloud gives the policy it passes on to the backend.
const POLICY_TYPE: &str = "properties.secret.wasmcloud.dev/v1alpha1";
/// The subject prefix wasmCloud's backends listen under by default.
pub const DEFAULT_PREFIX: &str = "wasmcloud.secrets";

/// Secrets from wasmCloud secrets backends reached over a lattice. A manifest policy's
/// `backend` property names the backend: `nats-kv` is asked on `<prefix>.v1alpha1.nats-kv.*`.
pub struct NatsSecrets {
    lattice: Arc<dyn Lattice>,
    prefix: String,
    /// Signs host JWTs. wasmCloud hosts sign theirs with a fresh account key, as this does: the
    /// backends check the signature, not who the issuer is.
    account: KeyPair,
    timeout: Duration,
}

impl NatsSecrets {
    /// Asks the backends under `prefix` (e.g. [`DEFAULT_PREFIX`]) over `lattice`.
    pub fn new(lattice: Arc<dyn Lattice>, prefix: impl Into<String>) -> NatsSecrets {
        NatsSecrets { lattice, prefix: prefix.into(), account: KeyPair::new_account(), timeout: Duration::from_secs(5) }
    }

    fn subject(&self, backend: &str, operation: &str) -> String {
        format!("{}.{API_VERSION}.{backend}.{operation}", self.prefix)
    }

    /// The JWT saying `host` asks, signed by this process's account key.
    fn host_jwt(&self, host: &str) -> Result<String, String> {
        let labels = std::collections::HashMap::from([("self_signed".to_owned(), "true".to_owned())]);
        wascap::jwt::Claims::<wascap::jwt::Host>::new("trellis host".into(), self.account.public_key(), host.to_owned(), Some(labels))
            .encode(&self.account)
            .map_err(|e| format!("signing the host JWT: {e}"))
    }

    async fn ask(&self, backend: &str, request: &SecretRequest<'_>) -> Result<Secret, String> {
        let Some(entity_jwt) = request.asker.entity_jwt else {
            return Err("the component is not signed, and wasmCloud's secrets backends give secrets only to signed components; \
                        sign it (`wash claims sign`, or `wash build`, which signs) and map the secret to its public key in the backend"
                .into());
        };
        let xkey_subject = self.subject(backend, "server_xkey");
        let reply = self.lattice.request(Message::new(xkey_subject.clone(), Vec::new()), self.timeout).await.map_err(|e| unanswered(&e))?;
        let server_xkey = std::str::from_utf8(&reply.payload)
            .ok()
            .and_then(|k| XKey::from_public_key(k.trim()).ok())
            .ok_or_else(|| format!("`{xkey_subject}` answered with no public xkey"))?;

        let wire = WireRequest {
            key: request.key,
            field: request.field,
            version: request.version,
            context: WireContext {
                entity_jwt,
                host_jwt: &self.host_jwt(request.asker.host)?,
                application: WireApplication { name: Some(request.application), policy: policy_json(request.policy) },
            },
        };
        // A key per request: the answer is sealed to it, so only this request can open it.
        let ours = XKey::new();
        let body = serde_json::to_vec(&wire).expect("requests serialize");
        let sealed = ours.seal(&body, &server_xkey).map_err(|e| format!("sealing the request: {e}"))?;
        let mut message = Message::new(self.subject(backend, "get"), sealed);
        message.headers.push((HOST_XKEY_HEADER.to_owned(), ours.public_key()));
        let reply = self.lattice.request(message, self.timeout).await.map_err(|e| unanswered(&e))?;

        let answer: WireResponse = match reply.header(RESPONSE_XKEY_HEADER) {
            Some(theirs) => {
                let theirs = XKey::from_public_key(theirs).map_err(|e| format!("the answer's {RESPONSE_XKEY_HEADER} header: {e}"))?;
                let opened = ours.open(&reply.payload, &theirs).map_err(|e| format!("opening the sealed answer: {e}"))?;
                serde_json::from_slice(&opened).map_err(|_| "the sealed answer is not a secret response".to_owned())?
            }
            // Errors come unsealed.
            None => serde_json::from_slice(&reply.payload).map_err(|_| {
                let text = String::from_utf8_lossy(&reply.payload);
                format!("the backend answered `{}`", text.chars().take(200).collect::<String>())
            })?,
        };
        match (answer.secret, answer.error) {
            (_, Some(error)) => Err(describe(&error, entity_jwt)),
            (Some(secret), None) => Ok(secret),
            (None, None) => Err("the backend answered with neither a secret nor an error".into()),
        }
    }
}

#[async_trait::async_trait]
impl Backend for NatsSecrets {
    async fn get(&self, request: &SecretRequest<'_>) -> Result<SecretValue, SecretsError> {
        let backend = request.policy.get("backend").map(String::as_str).unwrap_or_default();
        let label = format!("secrets backend `{backend}` ({})", self.subject(backend, "*"));
        if backend.is_empty() || backend.contains(['.', '*', '>', ' ']) {
            return Err(SecretsError::Backend {
                backend: "the secret's policy".into(),
                reason: format!("its `backend` property must name a secrets backend (e.g. `nats-kv`), not `{backend}`"),
            });
        }
        let secret = self.ask(backend, request).await.map_err(|reason| SecretsError::Backend { backend: label.clone(), reason })?;
        if let Some(wanted) = request.version
            && secret.version != wanted
        {
            return Err(SecretsError::Version { key: request.key.to_owned(), wanted: wanted.to_owned(), current: secret.version, backend: label });
        }
        let value = match (secret.string_secret, secret.binary_secret) {
            (Some(text), _) => {
                // wasmCloud leaves `field` to the backend; one that ignores it (secrets-nats-kv)
                // answers with the whole JSON object, of which the field is taken here.
                let whole_object = request.field.is_some() && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).is_ok();
                let value = SecretValue::string(text);
                match request.field {
                    Some(field) if whole_object => value.field(request.key, field)?,
                    _ => value,
                }
            }
            (None, Some(bytes)) => SecretValue::bytes(bytes),
            (None, None) => return Err(SecretsError::Backend { backend: label, reason: "the answer holds no value".into() }),
        };
        Ok(value)
    }
}

/// Why a backend could not be asked at all.
fn unanswered(error: &LatticeError) -> String {
    match error {
        LatticeError::NoResponders { subject } => {
            format!("no secrets backend answers on `{subject}`; is it running (e.g. `secrets-nats-kv run`), under this --secrets-topic?")
        }
        other => other.to_string(),
    }
}

/// A backend's error, as wasmCloud's `GetSecretError` serializes it (`"Unauthorized"`,
/// `{"UpstreamError": "..."}`), in words.
fn describe(error: &serde_json::Value, entity_jwt: &str) -> String {
    let (kind, detail) = match error {
        serde_json::Value::String(kind) => (kind.as_str(), None),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (kind, detail) = map.iter().next().expect("one entry");
            (kind.as_str(), Some(detail.as_str().map_or_else(|| detail.to_string(), str::to_owned)))
        }
        other => return format!("the backend failed: {other}"),
    };
    let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
    match kind {
        "SecretNotFound" => "the backend has no such secret".into(),
        "Unauthorized" => {
            let subject = wascap::jwt::Claims::<wascap::jwt::Component>::decode(entity_jwt).map(|c| c.subject).unwrap_or_default();
            format!("the backend does not give this secret to the component `{subject}`; map it to that key in the backend (secrets-nats-kv: `add_mapping`)")
        }
        "InvalidEntityJWT" => format!("the backend refused the component's signature{detail}"),
        "InvalidHostJWT" => format!("the backend refused the host's JWT{detail}"),
        "UpstreamError" => format!("the backend's store failed{detail}"),
        "PolicyError" => format!("the backend refused the policy{detail}"),
        other => format!("the backend failed: {other}{detail}"),
    }
}

/// The policy as wasmCloud passes it on: a JSON string of its type and its properties other
/// than `backend`, which chose the backend already.
fn policy_json(properties: &BTreeMap<String, String>) -> String {
    let properties: BTreeMap<&str, &str> = properties.iter().filter(|(k, _)| *k != "backend").map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::json!({"type": POLICY_TYPE, "properties": properties}).to_string()
}

#[derive(Serialize)]
struct WireRequest<'a> {
    key: &'a str,
    field: Option<&'a str>,
    version: Option<&'a str>,
    context: WireContext<'a>,
}

#[derive(Serialize)]
struct WireContext<'a> {
    entity_jwt: &'a str,
    host_jwt: &'a str,
    application: WireApplication<'a>,
}

#[derive(Serialize)]
struct WireApplication<'a> {
    name: Option<&'a str>,
    policy: String,
}

/// Deliberately not `Debug`: it holds a value.
#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    secret: Option<Secret>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Deliberately not `Debug`: it holds a value.
#[derive(Deserialize)]
struct Secret {
    #[serde(default)]
    version: String,
    #[serde(default)]
    string_secret: Option<String>,
    #[serde(default)]
    binary_secret: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests;
