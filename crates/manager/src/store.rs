//! Durable manager state: every stored manifest version, which one is deployed, and named
//! config. Embedded mode keeps it in one redb file; the in-memory catalogue writes through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Application name → [`AppRecord`] as JSON.
const APPS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("apps");
/// Config name → key/value map as JSON.
const CONFIGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("configs");

/// Everything stored about one application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AppRecord {
    /// Oldest first.
    pub(crate) versions: Vec<StoredVersion>,
    pub(crate) deployed_version: Option<String>,
}

/// One manifest version as it was put: the text, so later errors can still name its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    pub(crate) version: String,
    pub(crate) source: String,
    /// Where relative image paths resolve; the putting client's directory when it sent one.
    pub(crate) base_dir: Option<PathBuf>,
}

/// Why the store failed; the manager reports it and keeps running.
#[derive(Debug, thiserror::Error)]
#[error("manager state {path}: {message}")]
pub struct StoreError {
    path: String,
    message: String,
}

/// The manager's redb file.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: Arc<str>,
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let fail = |message: String| StoreError { path: path.display().to_string(), message };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let db = Database::create(path).map_err(|e| fail(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| fail(e.to_string()))?;
        tx.open_table(APPS).map_err(|e| fail(e.to_string()))?;
        tx.open_table(CONFIGS).map_err(|e| fail(e.to_string()))?;
        tx.commit().map_err(|e| fail(e.to_string()))?;
        Ok(Store { db: Arc::new(db), path: path.display().to_string().into() })
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError { path: self.path.to_string(), message: e.to_string() }
    }

    /// Every application and every named config.
    #[expect(clippy::type_complexity, reason = "two maps, read once at start")]
    pub(crate) fn load(&self) -> Result<(BTreeMap<String, AppRecord>, BTreeMap<String, BTreeMap<String, String>>), StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.fail(e))?;
        let mut apps = BTreeMap::new();
        for row in tx.open_table(APPS).map_err(|e| self.fail(e))?.iter().map_err(|e| self.fail(e))? {
            let (k, v) = row.map_err(|e| self.fail(e))?;
            let record = serde_json::from_slice(v.value()).map_err(|e| self.fail(format!("app `{}`: {e}", k.value())))?;
            apps.insert(k.value().to_owned(), record);
        }
        let mut configs = BTreeMap::new();
        for row in tx.open_table(CONFIGS).map_err(|e| self.fail(e))?.iter().map_err(|e| self.fail(e))? {
            let (k, v) = row.map_err(|e| self.fail(e))?;
            let config = serde_json::from_slice(v.value()).map_err(|e| self.fail(format!("config `{}`: {e}", k.value())))?;
            configs.insert(k.value().to_owned(), config);
        }
        Ok((apps, configs))
    }

    /// Stores (or, with `None`, removes) an application's record. Durable when it returns.
    pub(crate) async fn save_app(&self, name: &str, record: Option<&AppRecord>) -> Result<(), StoreError> {
        let value = record.map(|r| serde_json::to_vec(r).expect("records serialize"));
        self.write(APPS, name.to_owned(), value).await
    }

    /// Stores (or removes) a named config.
    pub(crate) async fn save_config(&self, name: &str, config: Option<&BTreeMap<String, String>>) -> Result<(), StoreError> {
        let value = config.map(|c| serde_json::to_vec(c).expect("config serializes"));
        self.write(CONFIGS, name.to_owned(), value).await
    }

    async fn write(&self, table: TableDefinition<'static, &'static str, &'static [u8]>, key: String, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let this = self.clone();
        // A commit waits for fsync; keep it off the async threads.
        tokio::task::spawn_blocking(move || {
            let tx = this.db.begin_write().map_err(|e| this.fail(e))?;
            {
                let mut t = tx.open_table(table).map_err(|e| this.fail(e))?;
                match &value {
                    Some(v) => t.insert(key.as_str(), v.as_slice()).map(drop),
                    None => t.remove(key.as_str()).map(drop),
                }
                .map_err(|e| this.fail(e))?;
            }
            tx.commit().map_err(|e| this.fail(e))
        })
        .await
        .map_err(|e| self.fail(e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manager.redb");
        let record = AppRecord {
            versions: vec![StoredVersion { version: "v1".into(), source: "text".into(), base_dir: None }],
            deployed_version: Some("v1".into()),
        };
        {
            let store = Store::open(&path).unwrap();
            store.save_app("app", Some(&record)).await.unwrap();
            store.save_config("cfg", Some(&BTreeMap::from([("k".into(), "v".into())]))).await.unwrap();
            store.save_app("gone", Some(&record)).await.unwrap();
            store.save_app("gone", None).await.unwrap();
        }
        let (apps, configs) = Store::open(&path).unwrap().load().unwrap();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps["app"], record);
        assert_eq!(configs["cfg"]["k"], "v");
    }
}
