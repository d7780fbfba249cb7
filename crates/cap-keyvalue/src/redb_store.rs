//! A store in one redb file: durable, embedded, the default backend of embedded mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::backend::{Store, StoreError, page, parse_counter};

/// Buckets as tables of one redb database file.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    path: Arc<str>,
}

fn table(bucket: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(bucket)
}

/// The databases this process has open, by path. redb lets a file be open once per process,
/// and a new version of an app opens its store while the old version still serves from it.
static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<Database>>>> = LazyLock::new(Mutex::default);

impl RedbStore {
    /// Opens (or creates) the database at `path`, or shares it if this process has it open.
    pub fn open(path: &Path) -> anyhow::Result<RedbStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let key = std::path::absolute(path)?;
        let mut open = OPEN.lock().expect("open databases poisoned");
        open.retain(|_, db| db.strong_count() > 0);
        let db = match open.get(&key).and_then(Weak::upgrade) {
            Some(db) => db,
            None => {
                let db = Arc::new(Database::create(path).map_err(|e| anyhow::anyhow!("opening keyvalue database {}: {e}", path.display()))?);
                open.insert(key, Arc::downgrade(&db));
                db
            }
        };
        Ok(RedbStore { db, path: path.display().to_string().into() })
    }

    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Other(format!("redb keyvalue store {}: {e}", self.path))
    }

    /// Runs blocking redb work off the async threads.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RedbStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this)).await.map_err(|e| self.fail(e))?
    }

    fn read<R>(&self, bucket: &str, f: impl FnOnce(Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.fail(e))?;
        match tx.open_table(table(bucket)) {
            Ok(t) => f(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => f(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn write<R>(&self, bucket: &str, f: impl FnOnce(&mut redb::Table<&'static str, &'static [u8]>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.fail(e))?;
        let result = {
            let mut t = tx.open_table(table(bucket)).map_err(|e| self.fail(e))?;
            f(&mut t)?
        };
        tx.commit().map_err(|e| self.fail(e))?;
        Ok(result)
    }
}

#[async_trait::async_trait]
impl Store for RedbStore {
    async fn open(&self, bucket: &str) -> Result<(), StoreError> {
        if bucket.is_empty() {
            return Ok(());
        }
        Ok(())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |s| {
            s.read(&bucket, |t| match t {
                Some(t) => Ok(t.get(key.as_str()).map_err(|e| s.fail(e))?.map(|v| v.value().to_vec())),
                None => Ok(None),
            })
        })
        .await
    }
    async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |s| s.write(&bucket, |t| t.insert(key.as_str(), value.as_slice()).map(drop).map_err(|e| s.fail(e))))
            .await
    }
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |s| s.write(&bucket, |t| t.remove(key.as_str()).map(drop).map_err(|e| s.fail(e)))).await
    }
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(bucket, key).await?.is_some())
    }
    async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let bucket = bucket.to_owned();
        let keys = self
            .blocking(move |s| {
                s.read(&bucket, |t| match t {
                    Some(t) => t
                        .iter()
                        .map_err(|e| s.fail(e))?
                        .map(|entry| entry.map(|(k, _)| k.value().to_owned()).map_err(|e| s.fail(e)))
                        .collect(),
                    None => Ok(Vec::new()),
                })
            })
            .await?;
        Ok(page(keys, cursor))
    }
    async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64, StoreError> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        // One write transaction: redb serializes writers, so the read-modify-write is atomic.
        self.blocking(move |s| {
            s.write(&bucket, |t| {
                let current = t.get(key.as_str()).map_err(|e| s.fail(e))?.map(|v| v.value().to_vec());
                let next = parse_counter(&key, current.as_deref())?
                    .checked_add(delta)
                    .ok_or_else(|| StoreError::Other(format!("counter `{key}` overflows")))?;
                t.insert(key.as_str(), next.to_string().as_bytes()).map_err(|e| s.fail(e))?;
                Ok(next)
            })
        })
        .await
    }
    async fn set_many(&self, bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let bucket = bucket.to_owned();
        self.blocking(move |s| {
            s.write(&bucket, |t| {
                for (k, v) in &pairs {
                    t.insert(k.as_str(), v.as_slice()).map_err(|e| s.fail(e))?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            store.set("b", "k", b"v".to_vec()).await.unwrap();
            assert_eq!(store.increment("b", "n", 2).await.unwrap(), 2);
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get("b", "k").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.increment("b", "n", 3).await.unwrap(), 5);
        assert_eq!(store.get("other", "k").await.unwrap(), None);
        assert_eq!(store.list_keys("b", None).await.unwrap(), (vec!["k".to_string(), "n".to_string()], None));
    }

    #[tokio::test]
    async fn a_second_open_while_the_first_serves_shares_the_database() {
        // A new version of an app opens its store before the old version stops.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        let old = RedbStore::open(&path).unwrap();
        assert_eq!(old.increment("b", "n", 1).await.unwrap(), 1);
        let new = RedbStore::open(&path).unwrap();
        assert_eq!(new.increment("b", "n", 1).await.unwrap(), 2);
        drop(old);
        assert_eq!(new.increment("b", "n", 1).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn memory_and_redb_agree() {
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Box<dyn Store>> = vec![Box::new(crate::MemoryStore::new()), Box::new(RedbStore::open(&dir.path().join("kv.redb")).unwrap())];
        for s in stores {
            s.set("b", "word", b"not a number".to_vec()).await.unwrap();
            assert!(matches!(s.increment("b", "word", 1).await, Err(StoreError::Other(m)) if m.contains("not a decimal counter")));
            s.set_many("b", vec![("a".into(), b"1".to_vec()), ("c".into(), b"3".to_vec())]).await.unwrap();
            assert_eq!(s.get_many("b", vec!["a".into(), "zz".into()]).await.unwrap(), vec![Some(("a".into(), b"1".to_vec())), None]);
            s.delete_many("b", vec!["a".into(), "c".into()]).await.unwrap();
            assert!(!s.exists("b", "a").await.unwrap());
            assert_eq!(s.increment("b", "hits", 1).await.unwrap(), 1);
            assert_eq!(s.get("b", "hits").await.unwrap(), Some(b"1".to_vec()));
        }
    }
}
