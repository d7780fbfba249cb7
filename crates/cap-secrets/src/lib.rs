//! `wasmcloud:secrets` (`store` and `reveal` at `0.1.0-draft`, what wasmCloud 1.x links) for
//! Trellis components, and the local encrypted store of embedded mode.
//!
//! **Owns** the host side of those interfaces over a component's resolved secrets
//! ([`ComponentSecrets`]), the [`Backend`] trait that resolves a manifest's secret references,
//! and [`LocalStore`], the encrypted file backend.
//! **Must not** log, serialize or otherwise expose a value: values live in `secrecy` wrappers
//! whose `Debug` is redacted, and are unwrapped only by `reveal`, into the guest whose
//! manifest names them.

mod host;
mod local;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice, SecretString};

pub use host::grant;
pub use local::{LocalStore, LocalStoreError, StoredSecret};

/// A secret's value: text or bytes, as `wasmcloud:secrets/store.secret-value` has it.
pub enum SecretValue {
    /// Text.
    String(SecretString),
    /// Bytes.
    Bytes(SecretSlice<u8>),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue::{}([REDACTED])", self.kind())
    }
}

impl Clone for SecretValue {
    fn clone(&self) -> SecretValue {
        match self {
            SecretValue::String(s) => SecretValue::String(s.clone()),
            SecretValue::Bytes(b) => SecretValue::Bytes(b.clone()),
        }
    }
}

/// Equal kind and value: how a host tells that a secret it passed on has changed.
impl PartialEq for SecretValue {
    fn eq(&self, other: &SecretValue) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for SecretValue {}

/// A secret's value in the open, borrowed, for the few places that hand it on: the component
/// that reveals it, the local store that encrypts it, a provider process it is sealed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposed<'a> {
    /// Text.
    String(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl SecretValue {
    /// The value itself; the caller takes over keeping it out of sight.
    pub fn expose(&self) -> Exposed<'_> {
        match self {
            SecretValue::String(s) => Exposed::String(s.expose_secret()),
            SecretValue::Bytes(b) => Exposed::Bytes(b.expose_secret()),
        }
    }

    /// A text secret.
    pub fn string(value: impl Into<String>) -> SecretValue {
        SecretValue::String(SecretString::from(value.into()))
    }

    /// A bytes secret.
    pub fn bytes(value: impl Into<Vec<u8>>) -> SecretValue {
        SecretValue::Bytes(SecretSlice::from(value.into()))
    }

    /// The text of a text secret (or of bytes that are UTF-8), for hosts that pass a secret on as
    /// config; the caller takes over keeping it out of sight.
    pub fn into_text(self) -> Option<String> {
        match self {
            SecretValue::String(s) => Some(s.expose_secret().to_owned()),
            SecretValue::Bytes(b) => String::from_utf8(b.expose_secret().to_vec()).ok(),
        }
    }

    /// `String` or `Bytes`, for listings (never the value).
    pub fn kind(&self) -> &'static str {
        match self {
            SecretValue::String(_) => "String",
            SecretValue::Bytes(_) => "Bytes",
        }
    }

    /// The value of `field` when this secret is a JSON object, as a reference's `field` asks.
    /// A string field gives its text; any other JSON value gives its JSON text.
    pub fn field(&self, key: &str, field: &str) -> Result<SecretValue, SecretsError> {
        let fail = |reason: &str| SecretsError::Field { key: key.to_owned(), field: field.to_owned(), reason: reason.to_owned() };
        let text: &str = match self {
            SecretValue::String(s) => s.expose_secret(),
            SecretValue::Bytes(b) => std::str::from_utf8(b.expose_secret()).map_err(|_| fail("the secret is bytes, not a JSON object"))?,
        };
        // serde_json's errors quote no input, so the reason is safe to show.
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| fail("the secret is not a JSON object"))?;
        match object.get(field) {
            Some(serde_json::Value::String(s)) => Ok(SecretValue::string(s.clone())),
            Some(other) => Ok(SecretValue::string(other.to_string())),
            None => Err(fail("the JSON object has no such field")),
        }
    }
}

/// What a manifest's secret reference asks its policy's backend for.
#[derive(Debug, Clone, Copy)]
pub struct SecretRequest<'a> {
    /// The key in the backend (`properties.key`).
    pub key: &'a str,
    /// A field of a JSON-object secret (`properties.field`).
    pub field: Option<&'a str>,
    /// A version the secret must have (`properties.version`).
    pub version: Option<&'a str>,
    /// The application asking.
    pub application: &'a str,
    /// The policy's properties (`backend` and whatever else the backend reads).
    pub policy: &'a BTreeMap<String, String>,
    /// Who asks: the host and the entity the secret is for.
    pub asker: Asker<'a>,
}

/// Who asks for a secret. wasmCloud's backends check both identities before they answer.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The host, by id (its server nkey's public key).
    pub host: &'a str,
    /// The signed identity (wascap JWT) of the component the secret is for, if it is signed.
    pub entity_jwt: Option<&'a str>,
}

/// Why a secret could not be resolved. Never carries a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The backend has no such key.
    #[error("secret `{key}` is not in {backend}; put it with `trellis secret put {key}`")]
    NotFound {
        /// The key asked for.
        key: String,
        /// Which backend answered.
        backend: String,
    },
    /// The backend has the key at another version.
    #[error("secret `{key}` is at version {current} in {backend}, not version {wanted}")]
    Version {
        /// The key asked for.
        key: String,
        /// The version the reference asks for.
        wanted: String,
        /// The version the backend has.
        current: String,
        /// Which backend answered.
        backend: String,
    },
    /// `field` could not be taken from the secret.
    #[error("secret `{key}`, field `{field}`: {reason}")]
    Field {
        /// The key asked for.
        key: String,
        /// The field asked for.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The backend failed.
    #[error("{backend}: {reason}")]
    Backend {
        /// Which backend.
        backend: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where secrets come from.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The secret `request` names, with its `field` taken if it has one.
    async fn get(&self, request: &SecretRequest<'_>) -> Result<SecretValue, SecretsError>;
}

/// A component's secrets by the names its manifest gives them: all it can `get`.
#[derive(Clone, Default)]
pub struct ComponentSecrets(Arc<BTreeMap<String, Arc<SecretValue>>>);

impl ComponentSecrets {
    /// The secrets `secrets` holds, by name.
    pub fn new(secrets: BTreeMap<String, SecretValue>) -> ComponentSecrets {
        ComponentSecrets(Arc::new(secrets.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()))
    }

    fn get(&self, name: &str) -> Option<Arc<SecretValue>> {
        self.0.get(name).cloned()
    }
}

impl fmt::Debug for ComponentSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let value = SecretValue::string("hunter2");
        assert_eq!(format!("{value:?}"), "SecretValue::String([REDACTED])");
        let secrets = ComponentSecrets::new(BTreeMap::from([("db".to_owned(), value)]));
        assert_eq!(format!("{secrets:?}"), r#"{"db"}"#);
    }

    #[test]
    fn a_field_of_a_json_object_secret() {
        let value = SecretValue::string(r#"{"user":"app","port":5432}"#);
        let SecretValue::String(user) = value.field("db", "user").unwrap() else { panic!("text") };
        assert_eq!(user.expose_secret(), "app");
        let SecretValue::String(port) = value.field("db", "port").unwrap() else { panic!("text") };
        assert_eq!(port.expose_secret(), "5432");
        let err = value.field("db", "password").unwrap_err().to_string();
        assert_eq!(err, "secret `db`, field `password`: the JSON object has no such field");
        let err = SecretValue::string("hunter2").field("db", "user").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
