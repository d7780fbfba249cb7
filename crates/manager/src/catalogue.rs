//! The catalogue of applications: wadm's rules for putting, reading, deploying and deleting
//! manifest versions, written through to the [`Store`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use trellis_types::ctl::SourceLinks;
use trellis_types::manifest::Manifest;
use trellis_types::wadm::{
    DeleteReply, DeleteResult, DeployReply, DeployResult, GetReply, GetResult, PutReply, PutResult, VersionInfo, VersionsReply,
};

use crate::store::{AppRecord, Contents, Store, StoredVersion};

/// One application: its stored record and each version parsed.
pub(crate) struct App {
    pub(crate) record: AppRecord,
    pub(crate) parsed: Vec<Arc<Manifest>>,
}

/// A deployed application as the reconciler sees it.
#[derive(Clone)]
pub(crate) struct Deployed {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) stored: StoredVersion,
}

impl App {
    fn index(&self, version: Option<&str>) -> Option<usize> {
        match version {
            None | Some("" | "latest") => self.record.versions.len().checked_sub(1),
            Some(v) => self.record.versions.iter().position(|s| s.version == v),
        }
    }

    pub(crate) fn deployed(&self) -> Option<Deployed> {
        let v = self.record.deployed_version.as_deref()?;
        let i = self.record.versions.iter().position(|s| s.version == v)?;
        Some(Deployed { manifest: self.parsed[i].clone(), stored: self.record.versions[i].clone() })
    }

    pub(crate) fn latest(&self) -> (&StoredVersion, &Arc<Manifest>) {
        let i = self.record.versions.len() - 1;
        (&self.record.versions[i], &self.parsed[i])
    }
}

/// Every application and named config this manager knows.
pub(crate) struct Catalogue {
    store: Store,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Links put through the control interface, by source id.
    pub(crate) links: BTreeMap<String, SourceLinks>,
}

impl Catalogue {
    /// Loads the catalogue; a stored version that no longer parses is dropped with a warning.
    pub(crate) async fn load(store: Store) -> Result<Catalogue, crate::StoreError> {
        let Contents { apps: records, configs, links } = store.load().await?;
        let mut apps = BTreeMap::new();
        for (name, mut record) in records {
            let mut parsed = Vec::new();
            record.versions.retain(|v| match Manifest::parse(&format!("{name} {}", v.version), &v.source) {
                Ok(m) => {
                    parsed.push(Arc::new(m));
                    true
                }
                Err(e) => {
                    tracing::warn!(app = %name, version = %v.version, error = %e, "stored manifest no longer parses; skipped");
                    false
                }
            });
            if !record.versions.is_empty() {
                apps.insert(name, App { record, parsed });
            }
        }
        Ok(Catalogue { store, apps, configs, links })
    }

    /// `model.put`: stores a new version. A manifest without a version gets a ULID.
    pub(crate) async fn put(&mut self, source_name: &str, text: &str, base_dir: Option<PathBuf>) -> PutReply {
        let error = |name: &str, message: String| PutReply {
            result: PutResult::Error,
            total_versions: 0,
            current_version: String::new(),
            message,
            name: name.to_owned(),
        };
        let (manifest, ignored) = match Manifest::parse_with_warnings(source_name, text) {
            Ok(parsed) => parsed,
            Err(e) => return error("", e.to_string()),
        };
        let name = manifest.name().to_owned();
        let version = manifest.version().map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned);
        let app = self.apps.entry(name.clone()).or_insert_with(|| App { record: AppRecord::default(), parsed: Vec::new() });
        let created = app.record.versions.is_empty();
        if let Some(existing) = app.record.versions.iter_mut().find(|v| v.version == version) {
            // The same manifest put again from another directory (a moved project): its relative
            // image paths resolve there from now on. The version itself stays as it was.
            if existing.source == text && base_dir.is_some() && existing.base_dir != base_dir {
                existing.base_dir = base_dir;
                if let Err(e) = self.store.save_app(&name, Some(&app.record)).await {
                    return error(&name, e.to_string());
                }
            }
            return error(&name, format!("application `{name}` already has version `{version}`; give the manifest a new `version` annotation"));
        }
        app.record.versions.push(StoredVersion { version: version.clone(), source: text.to_owned(), base_dir });
        app.parsed.push(Arc::new(manifest));
        if let Err(e) = self.store.save_app(&name, Some(&app.record)).await {
            app.record.versions.pop();
            app.parsed.pop();
            if app.record.versions.is_empty() {
                self.apps.remove(&name);
            }
            return error(&name, e.to_string());
        }
        PutReply {
            result: if created { PutResult::Created } else { PutResult::NewVersion },
            total_versions: app.record.versions.len(),
            current_version: version.clone(),
            message: match ignored.is_empty() {
                true => format!("Successfully put manifest {name} {version}"),
                false => format!("Successfully put manifest {name} {version}; ignored:\n{ignored}"),
            },
            name,
        }
    }

    /// `model.get.<name>`.
    pub(crate) fn get(&self, name: &str, version: Option<&str>) -> GetReply {
        let found = self.apps.get(name).and_then(|app| Some(&app.parsed[app.index(version)?]));
        match found {
            Some(m) => GetReply {
                result: GetResult::Success,
                message: format!("Successfully fetched application {name}"),
                manifest: Some(serde_json::to_value(m.as_ref()).expect("manifests serialize")),
            },
            None => GetReply { result: GetResult::NotFound, message: not_found(name, version), manifest: None },
        }
    }

    /// `model.versions.<name>`.
    pub(crate) fn versions(&self, name: &str) -> VersionsReply {
        match self.apps.get(name) {
            Some(app) => VersionsReply {
                result: GetResult::Success,
                message: format!("Successfully fetched versions for application {name}"),
                versions: app
                    .record
                    .versions
                    .iter()
                    .map(|v| VersionInfo { version: v.version.clone(), deployed: app.record.deployed_version.as_ref() == Some(&v.version) })
                    .collect(),
            },
            None => VersionsReply { result: GetResult::NotFound, message: not_found(name, None), versions: Vec::new() },
        }
    }

    /// Resolves the version `model.deploy` would deploy, without deploying it.
    pub(crate) fn candidate(&self, name: &str, version: Option<&str>) -> Option<Deployed> {
        let app = self.apps.get(name)?;
        let i = app.index(version)?;
        Some(Deployed { manifest: app.parsed[i].clone(), stored: app.record.versions[i].clone() })
    }

    /// `model.deploy.<name>`, after the caller's cross-application checks passed.
    pub(crate) async fn deploy(&mut self, name: &str, version: &str) -> DeployReply {
        self.set_deployed(name, Some(version.to_owned()), format!("Successfully deployed application {name} {version}")).await
    }

    /// `model.undeploy.<name>`.
    pub(crate) async fn undeploy(&mut self, name: &str) -> DeployReply {
        self.set_deployed(name, None, format!("Successfully undeployed application {name}")).await
    }

    async fn set_deployed(&mut self, name: &str, version: Option<String>, message: String) -> DeployReply {
        let Some(app) = self.apps.get_mut(name).filter(|app| version.as_ref().is_none_or(|v| app.index(Some(v)).is_some())) else {
            return DeployReply { result: DeployResult::NotFound, message: not_found(name, version.as_deref()), name: name.to_owned(), version };
        };
        let previous = std::mem::replace(&mut app.record.deployed_version, version.clone());
        if let Err(e) = self.store.save_app(name, Some(&app.record)).await {
            app.record.deployed_version = previous;
            return DeployReply { result: DeployResult::Error, message: e.to_string(), name: name.to_owned(), version };
        }
        DeployReply { result: DeployResult::Acknowledged, message, name: name.to_owned(), version: version.or(previous) }
    }

    /// `model.del.<name>`: one version, or (without one) every version. Deleting the deployed
    /// version undeploys the application.
    pub(crate) async fn delete(&mut self, name: &str, version: Option<&str>) -> DeleteReply {
        let noop = |message: String| DeleteReply { result: DeleteResult::Noop, message, undeploy: false };
        let Some(app) = self.apps.get_mut(name) else { return noop(not_found(name, None)) };
        let before = app.record.clone();
        let undeploy = match version {
            None | Some("") => {
                app.record.versions.clear();
                before.deployed_version.is_some()
            }
            Some(v) => {
                let Some(i) = app.record.versions.iter().position(|s| s.version == v) else { return noop(not_found(name, Some(v))) };
                app.record.versions.remove(i);
                app.parsed.remove(i);
                let was_deployed = app.record.deployed_version.as_deref() == Some(v);
                if was_deployed {
                    app.record.deployed_version = None;
                }
                was_deployed
            }
        };
        let gone = app.record.versions.is_empty();
        let saved = if gone { self.store.save_app(name, None).await } else { self.store.save_app(name, Some(&app.record)).await };
        if let Err(e) = saved {
            // Put the versions back as they were; the store did not change.
            let parsed = before.versions.iter().map(|v| Arc::new(Manifest::parse(name, &v.source).expect("stored manifests parse"))).collect();
            *app = App { record: before, parsed };
            return DeleteReply { result: DeleteResult::Error, message: e.to_string(), undeploy: false };
        }
        if gone {
            self.apps.remove(name);
        }
        let what = version.map_or_else(|| "all versions".to_owned(), |v| format!("version {v}"));
        DeleteReply { result: DeleteResult::Deleted, message: format!("Successfully deleted {what} of application {name}"), undeploy }
    }

    /// Stores (or removes) a named config.
    pub(crate) async fn put_config(&mut self, name: &str, config: Option<BTreeMap<String, String>>) -> Result<(), crate::StoreError> {
        self.store.save_config(name, config.as_ref()).await?;
        match config {
            Some(c) => self.configs.insert(name.to_owned(), c),
            None => self.configs.remove(name),
        };
        Ok(())
    }

    /// Stores the links of source `source` (none left removes its record).
    pub(crate) async fn save_links(&mut self, source: &str, links: SourceLinks) -> Result<(), crate::StoreError> {
        self.store.save_links(source, &links).await?;
        match links.links.is_empty() {
            true => self.links.remove(source),
            false => self.links.insert(source.to_owned(), links),
        };
        Ok(())
    }
}

fn not_found(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) if v != "latest" && !v.is_empty() => format!("application `{name}` has no version `{v}`"),
        _ => format!("no application named `{name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: app\n  annotations:\n    version: v1\nspec:\n  components:\n    - name: c\n      type: component\n      properties:\n        image: c.wasm\n";

    async fn catalogue(dir: &std::path::Path) -> Catalogue {
        Catalogue::load(Store::open(&dir.join("m.redb")).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn put_follows_wadm_rules() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = catalogue(dir.path()).await;
        assert_eq!(c.put("a.yaml", V1, None).await.result, PutResult::Created);
        let again = c.put("a.yaml", V1, None).await;
        assert_eq!(again.result, PutResult::Error);
        assert!(again.message.contains("already has version `v1`"), "{}", again.message);
        let unversioned = V1.replace("  annotations:\n    version: v1\n", "");
        let r = c.put("a.yaml", &unversioned, None).await;
        assert_eq!(r.result, PutResult::NewVersion);
        assert_eq!(r.total_versions, 2);
        assert_eq!(r.current_version.len(), 26, "a ULID: {}", r.current_version);
        // The same text from another directory moves where its relative paths resolve.
        let moved = c.put("a.yaml", V1, Some("/moved".into())).await;
        assert_eq!(moved.result, PutResult::Error);
        assert_eq!(c.apps["app"].record.versions[0].base_dir.as_deref(), Some(std::path::Path::new("/moved")));
        let bad = c.put("bad.yaml", "kind: Nope\n", None).await;
        assert_eq!(bad.result, PutResult::Error);
        assert!(bad.message.starts_with("bad.yaml:1:"), "{}", bad.message);
    }

    #[tokio::test]
    async fn deleting_the_deployed_version_undeploys_and_state_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut c = catalogue(dir.path()).await;
            c.put("a.yaml", V1, None).await;
            c.put("a.yaml", &V1.replace("version: v1", "version: v2"), None).await;
            assert_eq!(c.deploy("app", "v2").await.result, DeployResult::Acknowledged);
        }
        let mut c = catalogue(dir.path()).await;
        let versions = c.versions("app").versions;
        assert_eq!(versions, vec![VersionInfo { version: "v1".into(), deployed: false }, VersionInfo { version: "v2".into(), deployed: true }]);
        let del = c.delete("app", Some("v2")).await;
        assert_eq!((del.result, del.undeploy), (DeleteResult::Deleted, true));
        assert_eq!(c.delete("app", Some("v9")).await.result, DeleteResult::Noop);
        assert_eq!(c.delete("app", None).await.result, DeleteResult::Deleted);
        assert_eq!(c.get("app", None).result, GetResult::NotFound);
    }
}
