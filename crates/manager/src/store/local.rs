//! The embedded manager's state: one redb file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Contents, StoreError, decode};

pub(super) type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// Application name → [`AppRecord`] as JSON.
pub(super) const APPS: Table = TableDefinition::new("apps");
/// Config name → key/value map as JSON.
pub(super) const CONFIGS: Table = TableDefinition::new("configs");
/// Source id → [`trellis_types::ctl::SourceLinks`] as JSON.
pub(super) const LINKS: Table = TableDefinition::new("links");

#[derive(Clone)]
pub(super) struct RedbStore {
    db: Arc<Database>,
    path: Arc<str>,
}

impl RedbStore {
    pub(super) fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let place = path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| StoreError::new(place.clone(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let db = Database::create(path).map_err(|e| fail(&e))?;
        let tx = db.begin_write().map_err(|e| fail(&e))?;
        tx.open_table(APPS).map_err(|e| fail(&e))?;
        tx.open_table(CONFIGS).map_err(|e| fail(&e))?;
        tx.open_table(LINKS).map_err(|e| fail(&e))?;
        tx.commit().map_err(|e| fail(&e))?;
        Ok(RedbStore { db: Arc::new(db), path: place.into() })
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::new(self.path.to_string(), e)
    }

    pub(super) fn load(&self) -> Result<Contents, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.fail(e))?;
        Ok(Contents { apps: self.rows(&tx, APPS, "app")?, configs: self.rows(&tx, CONFIGS, "config")?, links: self.rows(&tx, LINKS, "links of")? })
    }

    fn rows<T: serde::de::DeserializeOwned>(&self, tx: &redb::ReadTransaction, table: Table, what: &str) -> Result<BTreeMap<String, T>, StoreError> {
        let mut rows = BTreeMap::new();
        for row in tx.open_table(table).map_err(|e| self.fail(e))?.iter().map_err(|e| self.fail(e))? {
            let (k, v) = row.map_err(|e| self.fail(e))?;
            rows.insert(k.value().to_owned(), decode(&self.path, what, k.value(), v.value())?);
        }
        Ok(rows)
    }

    /// Puts (or, with `None`, removes) `key`; durable when it returns.
    pub(super) async fn write(&self, table: Table, key: &str, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let (this, key) = (self.clone(), key.to_owned());
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
    use crate::store::{AppRecord, Store, StoredVersion};
    use std::collections::BTreeMap;

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
        let contents = Store::open(&path).unwrap().load().await.unwrap();
        assert_eq!(contents.apps.len(), 1);
        assert_eq!(contents.apps["app"], record);
        assert_eq!(contents.configs["cfg"]["k"], "v");
    }
}
