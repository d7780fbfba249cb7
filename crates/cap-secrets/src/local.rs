//! The local secret store: secrets encrypted at rest in one redb file under the state
//! directory, with a key file beside it that only the owner can read.
//!
//! Each record is `format (1) | kind (1) | version (8, LE) | nonce (24) | ciphertext`, sealed with
//! XChaCha20-Poly1305 under the store key; the secret's name and the record's header are the
//! associated data, so a record moved to another name, or given another version or kind, fails
//! to open instead of yielding a value.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use secrecy::ExposeSecret;

use crate::{Backend, SecretRequest, SecretValue, SecretsError};

const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");
const FORMAT: u8 = 1;
const HEADER: usize = 1 + 1 + 8;
const NONCE: usize = 24;
/// How a backend is named in errors.
const DESCRIPTION: &str = "the local secret store";

/// A secret's listing: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Its key.
    pub key: String,
    /// `1` for the first put, then one more for each put of the same key.
    pub version: u64,
    /// `String` or `Bytes`.
    pub kind: &'static str,
}

/// Why the local store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalStoreError {
    /// The key file could not be read or made.
    #[error("secret store key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The database failed.
    #[error("secret store {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A record could not be decrypted: the key file changed or the record was tampered with.
    #[error("secret `{key}` in {path} cannot be decrypted with {key_file}; was the key file replaced?")]
    Undecryptable {
        /// The secret's key.
        key: String,
        /// The database file.
        path: PathBuf,
        /// The key file.
        key_file: PathBuf,
    },
}

/// Secrets encrypted in `<dir>/secrets.redb` under the key in `<dir>/secrets.key`.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    cipher: XChaCha20Poly1305,
    path: PathBuf,
    key_file: PathBuf,
}

impl LocalStore {
    /// Opens the store in `dir`, creating the key (mode 0600) and the database the first time.
    pub fn open(dir: &Path) -> Result<LocalStore, LocalStoreError> {
        let key_file = dir.join("secrets.key");
        let path = dir.join("secrets.redb");
        let key = load_or_create_key(&key_file)?;
        let db_error = |e: &dyn std::fmt::Display| LocalStoreError::Database { path: path.clone(), reason: e.to_string() };
        let db = Database::create(&path).map_err(|e| db_error(&e))?;
        let tx = db.begin_write().map_err(|e| db_error(&e))?;
        tx.open_table(SECRETS).map_err(|e| db_error(&e))?;
        tx.commit().map_err(|e| db_error(&e))?;
        Ok(LocalStore { inner: Arc::new(Inner { db, cipher: XChaCha20Poly1305::new(&key), path, key_file }) })
    }

    fn db_error(&self, e: impl std::fmt::Display) -> LocalStoreError {
        LocalStoreError::Database { path: self.inner.path.clone(), reason: e.to_string() }
    }

    /// Stores `value` under `key`, replacing what was there; returns the new version.
    pub fn put(&self, key: &str, value: &SecretValue) -> Result<u64, LocalStoreError> {
        let tx = self.inner.db.begin_write().map_err(|e| self.db_error(e))?;
        let version = {
            let mut table = tx.open_table(SECRETS).map_err(|e| self.db_error(e))?;
            let previous = table.get(key).map_err(|e| self.db_error(e))?.map(|r| header(r.value()).map_or(0, |(_, v)| v));
            let version = previous.unwrap_or(0) + 1;
            let record = self.seal(key, value, version);
            table.insert(key, record.as_slice()).map_err(|e| self.db_error(e))?;
            version
        };
        tx.commit().map_err(|e| self.db_error(e))?;
        Ok(version)
    }

    /// Removes `key`; says whether it was there.
    pub fn delete(&self, key: &str) -> Result<bool, LocalStoreError> {
        let tx = self.inner.db.begin_write().map_err(|e| self.db_error(e))?;
        let existed = tx.open_table(SECRETS).map_err(|e| self.db_error(e))?.remove(key).map_err(|e| self.db_error(e))?.is_some();
        tx.commit().map_err(|e| self.db_error(e))?;
        Ok(existed)
    }

    /// Every secret's key, version and kind, by key.
    pub fn list(&self) -> Result<Vec<StoredSecret>, LocalStoreError> {
        let tx = self.inner.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = tx.open_table(SECRETS).map_err(|e| self.db_error(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.db_error(e))? {
            let (key, record) = entry.map_err(|e| self.db_error(e))?;
            let Some((kind, version)) = header(record.value()) else { continue };
            out.push(StoredSecret { key: key.value().to_owned(), version, kind: if kind == 0 { "String" } else { "Bytes" } });
        }
        Ok(out)
    }

    /// The value and version of `key`.
    pub fn read(&self, key: &str) -> Result<Option<(SecretValue, u64)>, LocalStoreError> {
        let tx = self.inner.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = tx.open_table(SECRETS).map_err(|e| self.db_error(e))?;
        let Some(record) = table.get(key).map_err(|e| self.db_error(e))? else { return Ok(None) };
        self.open_record(key, record.value()).map(Some)
    }

    fn seal(&self, key: &str, value: &SecretValue, version: u64) -> Vec<u8> {
        let (kind, plaintext): (u8, &[u8]) = match value {
            SecretValue::String(s) => (0, s.expose_secret().as_bytes()),
            SecretValue::Bytes(b) => (1, b.expose_secret()),
        };
        let mut record = Vec::with_capacity(HEADER + NONCE + plaintext.len() + 16);
        record.push(FORMAT);
        record.push(kind);
        record.extend_from_slice(&version.to_le_bytes());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(key, &record);
        let sealed = self.inner.cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &aad }).expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        record.extend_from_slice(&nonce);
        record.extend_from_slice(&sealed);
        record
    }

    fn open_record(&self, key: &str, record: &[u8]) -> Result<(SecretValue, u64), LocalStoreError> {
        let undecryptable = || LocalStoreError::Undecryptable { key: key.to_owned(), path: self.inner.path.clone(), key_file: self.inner.key_file.clone() };
        let (kind, version) = header(record).ok_or_else(undecryptable)?;
        let nonce = XNonce::from_slice(&record[HEADER..HEADER + NONCE]);
        let aad = associated_data(key, &record[..HEADER]);
        let plaintext = self.inner.cipher.decrypt(nonce, Payload { msg: &record[HEADER + NONCE..], aad: &aad }).map_err(|_| undecryptable())?;
        let value = match kind {
            0 => SecretValue::string(String::from_utf8(plaintext).map_err(|_| undecryptable())?),
            _ => SecretValue::bytes(plaintext),
        };
        Ok((value, version))
    }
}

/// `(kind, version)` of a well-formed record.
fn header(record: &[u8]) -> Option<(u8, u64)> {
    if record.len() < HEADER + NONCE || record[0] != FORMAT || record[1] > 1 {
        return None;
    }
    Some((record[1], u64::from_le_bytes(record[2..HEADER].try_into().ok()?)))
}

fn associated_data(key: &str, header: &[u8]) -> Vec<u8> {
    [key.as_bytes(), &[0], header].concat()
}

fn load_or_create_key(path: &Path) -> Result<Key, LocalStoreError> {
    let fail = |reason: String| LocalStoreError::Key { path: path.to_owned(), reason };
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => return Ok(*Key::from_slice(&bytes)),
        Ok(bytes) => return Err(fail(format!("holds {} bytes; a store key is 32", bytes.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
    file.write_all(&key).and_then(|()| file.sync_all()).map_err(|e| fail(e.to_string()))?;
    Ok(key)
}

#[async_trait::async_trait]
impl Backend for LocalStore {
    async fn get(&self, request: &SecretRequest<'_>) -> Result<SecretValue, SecretsError> {
        let (store, key) = (self.clone(), request.key.to_owned());
        let found = tokio::task::spawn_blocking(move || store.read(&key))
            .await
            .map_err(|e| SecretsError::Backend { backend: DESCRIPTION.into(), reason: e.to_string() })?
            .map_err(|e| SecretsError::Backend { backend: DESCRIPTION.into(), reason: e.to_string() })?;
        let Some((value, version)) = found else {
            return Err(SecretsError::NotFound { key: request.key.to_owned(), backend: DESCRIPTION.into() });
        };
        if let Some(wanted) = request.version.filter(|w| *w != version.to_string()) {
            return Err(SecretsError::Version {
                key: request.key.to_owned(),
                wanted: wanted.to_owned(),
                current: version.to_string(),
                backend: DESCRIPTION.into(),
            });
        }
        match request.field {
            Some(field) => value.field(request.key, field),
            None => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Asker;

    fn text(value: SecretValue) -> String {
        match value {
            SecretValue::String(s) => s.expose_secret().to_owned(),
            SecretValue::Bytes(_) => panic!("expected text"),
        }
    }

    #[test]
    fn values_are_encrypted_at_rest_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        assert_eq!(store.put("db-password", &SecretValue::string("correct horse battery staple")).unwrap(), 1);
        assert_eq!(store.put("db-password", &SecretValue::string("correct horse battery staple 2")).unwrap(), 2);
        store.put("tls-key", &SecretValue::bytes(vec![0, 1, 2])).unwrap();
        drop(store);
        let raw = std::fs::read(dir.path().join("secrets.redb")).unwrap();
        assert!(!raw.windows(13).any(|w| w == b"correct horse"), "plaintext on disk");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("secrets.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let store = LocalStore::open(dir.path()).unwrap();
        let (value, version) = store.read("db-password").unwrap().unwrap();
        assert_eq!((text(value).as_str(), version), ("correct horse battery staple 2", 2));
        let listed = store.list().unwrap();
        assert_eq!(listed[0], StoredSecret { key: "db-password".into(), version: 2, kind: "String" });
        assert_eq!(listed[1], StoredSecret { key: "tls-key".into(), version: 1, kind: "Bytes" });
        assert!(store.delete("tls-key").unwrap());
        assert!(!store.delete("tls-key").unwrap());
    }

    #[test]
    fn a_record_moved_to_another_key_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        store.put("a", &SecretValue::string("value of a")).unwrap();
        let record = {
            let tx = store.inner.db.begin_read().unwrap();
            tx.open_table(SECRETS).unwrap().get("a").unwrap().unwrap().value().to_vec()
        };
        let err = store.open_record("b", &record).unwrap_err();
        assert!(matches!(err, LocalStoreError::Undecryptable { .. }), "{err}");
    }

    #[test]
    fn a_replaced_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        LocalStore::open(dir.path()).unwrap().put("a", &SecretValue::string("v")).unwrap();
        std::fs::write(dir.path().join("secrets.key"), [7u8; 32]).unwrap();
        let err = LocalStore::open(dir.path()).unwrap().read("a").unwrap_err().to_string();
        assert!(err.contains("was the key file replaced"), "{err}");
        std::fs::write(dir.path().join("secrets.key"), b"short").unwrap();
        let err = LocalStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("holds 5 bytes"), "{err}");
    }

    #[tokio::test]
    async fn resolves_references_with_version_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        store.put("db", &SecretValue::string(r#"{"user":"app","password":"pw"}"#)).unwrap();
        let policy = BTreeMap::new();
        let request = |key, field, version| SecretRequest { key, field, version, application: "shop", policy: &policy, asker: Asker { host: "NHOST", entity_jwt: None } };
        assert_eq!(text(store.get(&request("db", Some("password"), None)).await.unwrap()), "pw");
        assert_eq!(text(store.get(&request("db", Some("user"), Some("1"))).await.unwrap()), "app");
        let err = store.get(&request("db", None, Some("3"))).await.unwrap_err().to_string();
        assert_eq!(err, "secret `db` is at version 1 in the local secret store, not version 3");
        let err = store.get(&request("nope", None, None)).await.unwrap_err().to_string();
        assert_eq!(err, "secret `nope` is not in the local secret store; put it with `trellis secret put nope`");
    }
}
