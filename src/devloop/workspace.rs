//! The manifest `trellis dev` serves and the projects its components are built from.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use trellis_dev::project::{self, Project};
use trellis_types::manifest::{ComponentKind, Manifest};

/// A component of the manifest built from a project's sources.
pub(crate) struct Source {
    /// Its name in the manifest.
    pub(crate) component: String,
    /// The project it is built from (its destination: the file the manifest names).
    pub(crate) project: Project,
}

/// A manifest and the sources of its components.
pub(crate) struct Workspace {
    /// The manifest's file (where a generated one would be, for one the project lacks).
    pub(crate) manifest_path: PathBuf,
    /// Its text as read (or generated).
    text: String,
    /// Its components built from source here; components with other images run as they are.
    pub(crate) sources: Vec<Source>,
}

impl Workspace {
    /// The manifest at `manifest` (default `dir/wadm.yaml`) and its sources; without a manifest
    /// file, the project in `dir` served over HTTP at `address` by a generated one.
    pub(crate) fn load(dir: &Path, manifest: Option<&Path>, address: &str) -> anyhow::Result<Workspace> {
        let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
        let manifest_path = manifest.map(|m| std::path::absolute(m).unwrap_or_else(|_| m.to_owned())).unwrap_or_else(|| dir.join("wadm.yaml"));
        if !manifest_path.is_file() {
            if manifest.is_some() {
                anyhow::bail!("{}: no such manifest", manifest_path.display());
            }
            let project = Project::load(&dir)?;
            let text = generated_manifest(&project, address);
            let component = component_name(&project.name);
            return Ok(Workspace { manifest_path, text, sources: vec![Source { component, project }] });
        }
        let text = std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
        let sources = sources_of(&manifest_path, &text)?;
        Ok(Workspace { manifest_path, text, sources })
    }

    /// Reads the manifest again after it changed (a generated one stays as it is).
    pub(crate) fn reload(&mut self) -> anyhow::Result<()> {
        if !self.manifest_path.is_file() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.manifest_path).with_context(|| format!("reading {}", self.manifest_path.display()))?;
        self.sources = sources_of(&self.manifest_path, &text)?;
        self.text = text;
        Ok(())
    }

    /// The project directories, to tell which a changed file belongs to.
    pub(crate) fn roots(&self) -> Vec<PathBuf> {
        self.sources.iter().map(|s| s.project.root.clone()).collect()
    }

    /// The manifest to deploy: each source component's image replaced by `images[i]` (the build
    /// serving it), and its version made unique to this deploy with `suffix`.
    pub(crate) fn manifest_for(&self, images: &[PathBuf], suffix: &str) -> anyhow::Result<String> {
        let mut manifest = Manifest::parse(&self.manifest_path.display().to_string(), &self.text)?;
        for (source, image) in self.sources.iter().zip(images) {
            let component = manifest.spec.components.iter_mut().find(|c| c.name == source.component).expect("sources come from this manifest");
            component.properties.image = Some(format!("file://{}", image.display()));
        }
        let version = match manifest.version() {
            Some(v) => format!("{v}-{suffix}"),
            None => suffix.to_owned(),
        };
        manifest.metadata.annotations.insert("version".into(), version);
        Ok(serde_json::to_string_pretty(&manifest)?)
    }
}

/// The components of the manifest at `path` whose `file://` image lies in a project under the
/// manifest's directory: those are built from source.
fn sources_of(path: &Path, text: &str) -> anyhow::Result<Vec<Source>> {
    let manifest = Manifest::parse(&path.display().to_string(), text)?;
    let base = crate::client::base_dir_of(path);
    let mut sources: Vec<Source> = Vec::new();
    for c in manifest.spec.components.iter().filter(|c| c.kind == ComponentKind::Component) {
        let Some(file) = c.properties.image.as_deref().and_then(|i| i.strip_prefix("file://")) else { continue };
        let artifact = normalize(&base.join(file));
        let Some(root) = artifact.parent().filter(|d| d.starts_with(&base)).and_then(|d| project::enclosing(d, &base)) else { continue };
        if let Some(shared) = sources.iter().find(|s| s.project.root == root) {
            anyhow::bail!("{}: components `{}` and `{}` are both built from {}", path.display(), shared.component, c.name, root.display());
        }
        let project = Project::load(&root)?.with_destination(artifact);
        sources.push(Source { component: c.name.clone(), project });
    }
    Ok(sources)
}

/// `a/./b/../c` as `a/c`, without touching the file system (the artifact may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A manifest name from a project name (`[A-Za-z0-9_-]`).
fn component_name(project: &str) -> String {
    project.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// The manifest for a project without one: its component behind the HTTP server at `address`.
fn generated_manifest(project: &Project, address: &str) -> String {
    let name = component_name(&project.name);
    let image = project.destination.display();
    format!(
        "apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {name}
  annotations:
    version: v0.0.0
    description: generated by trellis dev for {root}
spec:
  components:
    - name: {name}
      type: component
      properties:
        image: file://{image}
      traits:
        - type: spreadscaler
          properties:
            instances: 100
    - name: httpserver
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
      traits:
        - type: link
          properties:
            target:
              name: {name}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: dev-http
                  properties:
                    address: \"{address}\"
",
        root = project.root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    const TWO: &str = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: two\n  annotations:\n    version: v1\nspec:\n  components:\n    - name: api\n      type: component\n      properties:\n        image: file://./api/build/api.wasm\n    - name: web\n      type: component\n      properties:\n        image: file://./web/dist/web.wasm\n    - name: prebuilt\n      type: component\n      properties:\n        image: ghcr.io/acme/prebuilt:1.0\n";

    #[test]
    fn each_component_is_built_from_the_project_around_its_image() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[
            ("wadm.yaml", TWO),
            ("api/Cargo.toml", "[package]\nname = \"api\"\n"),
            ("web/package.json", r#"{"name":"web","scripts":{"build":"jco componentize app.js -o dist/web.wasm"}}"#),
        ]);
        let w = Workspace::load(dir.path(), None, "127.0.0.1:8000").unwrap();
        let found: Vec<_> = w.sources.iter().map(|s| (s.component.as_str(), s.project.root.clone(), s.project.destination.clone())).collect();
        let root = std::path::absolute(dir.path()).unwrap();
        assert_eq!(found, [("api", root.join("api"), root.join("api/build/api.wasm")), ("web", root.join("web"), root.join("web/dist/web.wasm"))]);

        let deployed = w.manifest_for(&[PathBuf::from("/b/api-1.wasm"), PathBuf::from("/b/web-1.wasm")], "dev.7").unwrap();
        let m = Manifest::parse("deployed", &deployed).unwrap();
        assert_eq!(m.version(), Some("v1-dev.7"));
        assert_eq!(m.component("api").unwrap().properties.image.as_deref(), Some("file:///b/api-1.wasm"));
        assert_eq!(m.component("prebuilt").unwrap().properties.image.as_deref(), Some("ghcr.io/acme/prebuilt:1.0"));
    }

    #[test]
    fn a_project_without_a_manifest_is_served_by_a_generated_one() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("Cargo.toml", "[package]\nname = \"solo\"\n")]);
        let w = Workspace::load(dir.path(), None, "127.0.0.1:9999").unwrap();
        let m = Manifest::parse("generated", &w.manifest_for(&[PathBuf::from("/b/solo.wasm")], "dev.1").unwrap()).unwrap();
        assert_eq!(m.name(), "solo");
        assert_eq!(m.component("solo").unwrap().properties.image.as_deref(), Some("file:///b/solo.wasm"));
        assert!(w.text.contains("127.0.0.1:9999"));
    }
}
