//! What a project is and how it builds: read from its `wasmcloud.toml` (the keys of wash v1,
//! so a wasmCloud project builds unchanged), or detected from its files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file wash v1 and `trellis build` read.
pub const WASMCLOUD_TOML: &str = "wasmcloud.toml";

/// The files that make a directory a project, in the order they are looked for.
pub const MARKERS: &[&str] = &[WASMCLOUD_TOML, "Cargo.toml", "package.json", "pyproject.toml", "app.py"];

/// A component project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its directory: where the build runs.
    pub root: PathBuf,
    /// Its name.
    pub name: String,
    /// How it builds.
    pub recipe: Recipe,
    /// Where the built component goes: where the project's manifest expects it.
    pub destination: PathBuf,
    /// Where the recipe came from, for messages.
    pub from: &'static str,
}

/// How a project's component is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipe {
    /// `cargo build --target <target>` (release unless `debug`); Cargo names the artifact.
    Cargo {
        /// The Rust target, `wasm32-wasip2`.
        target: String,
        /// A debug build.
        debug: bool,
    },
    /// A command run through the shell in the project's directory, leaving `artifact`.
    Command {
        /// The language, for the toolchain check (`typescript`, `python`, ...).
        language: Language,
        /// The shell command.
        command: String,
        /// Where it leaves the component, relative to the project.
        artifact: PathBuf,
    },
}

/// A language whose toolchain `trellis build` checks before building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Cargo and the `wasm32-wasip2` target.
    Rust,
    /// Node.js, npm and the project's `node_modules`.
    JavaScript,
    /// `componentize-py`.
    Python,
    /// Whatever the build command needs; not checked.
    Other,
}

impl Language {
    fn parse(s: &str) -> Language {
        match s.to_ascii_lowercase().as_str() {
            "rust" => Language::Rust,
            "typescript" | "javascript" | "ts" | "js" => Language::JavaScript,
            "python" | "py" => Language::Python,
            _ => Language::Other,
        }
    }
}

/// Why a project could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No marker file.
    #[error("{0} is not a component project: it has none of {markers}", markers = MARKERS.join(", "))]
    NotAProject(PathBuf),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file does not parse, or a key has a value Trellis cannot build with.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (TOML's line and column, or the key).
        message: String,
    },
}

/// wash v1's `wasmcloud.toml`: the keys that say how to build. Others (registry, dev, tinygo,
/// signing) are accepted and not read.
#[derive(Debug, Deserialize)]
struct WasmcloudToml {
    name: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// The project root, relative to the file.
    #[serde(default)]
    path: Option<PathBuf>,
    /// The build directory (default `./build`).
    #[serde(default)]
    build: Option<PathBuf>,
    /// The WIT directory (default `./wit`).
    #[serde(default)]
    wit: Option<PathBuf>,
    #[serde(default)]
    component: ComponentSection,
    #[serde(default)]
    rust: RustSection,
}

#[derive(Debug, Default, Deserialize)]
struct ComponentSection {
    wit_world: Option<String>,
    build_command: Option<String>,
    build_artifact: Option<PathBuf>,
    destination: Option<PathBuf>,
    wasm_target: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RustSection {
    #[serde(default)]
    debug: bool,
}

impl Project {
    /// Reads the project in `dir`: its `wasmcloud.toml`, else what its files say.
    pub fn load(dir: &Path) -> Result<Project, ProjectError> {
        let toml_path = dir.join(WASMCLOUD_TOML);
        if toml_path.is_file() {
            return Project::from_wasmcloud_toml(dir, &toml_path);
        }
        Project::detect(dir)
    }

    /// Where the artifact goes instead of the project's default (e.g. the path a manifest names).
    pub fn with_destination(mut self, destination: PathBuf) -> Project {
        self.destination = destination;
        self
    }

    fn from_wasmcloud_toml(dir: &Path, path: &Path) -> Result<Project, ProjectError> {
        let text = read(path)?;
        let invalid = |message: String| ProjectError::Invalid { path: path.to_owned(), message };
        let config: WasmcloudToml = toml::from_str(&text).map_err(|e| invalid(e.to_string().trim_end().to_owned()))?;
        if let Some(kind) = config.kind.as_deref().filter(|k| !k.eq_ignore_ascii_case("component")) {
            return Err(invalid(format!("type = \"{kind}\": `trellis build` builds components; a provider is built with its own toolchain")));
        }
        let root = match &config.path {
            Some(p) => dir.join(p),
            None => dir.to_owned(),
        };
        let build_dir = config.build.clone().unwrap_or_else(|| PathBuf::from("build"));
        let snake = config.name.replace('-', "_");
        let language = Language::parse(config.language.as_deref().unwrap_or("other"));
        let recipe = match (&config.component.build_command, language) {
            (Some(command), _) => Recipe::Command {
                language,
                command: command.clone(),
                artifact: config.component.build_artifact.clone().unwrap_or_else(|| build_dir.join(format!("{}.wasm", config.name))),
            },
            (None, Language::Rust) => Recipe::Cargo { target: rust_target(config.component.wasm_target.as_deref()).map_err(invalid)?, debug: config.rust.debug },
            (None, Language::JavaScript) => Recipe::Command {
                language,
                command: "npm run build".into(),
                artifact: config.component.build_artifact.clone().unwrap_or_else(|| build_dir.join(format!("{}.wasm", config.name))),
            },
            (None, Language::Python) => {
                let wit = config.wit.clone().unwrap_or_else(|| PathBuf::from("wit"));
                let world = config.component.wit_world.clone().or_else(|| only_world(&root.join(&wit))).ok_or_else(|| {
                    invalid("language = \"python\" needs `[component] wit_world` (the world componentize-py builds) or one world in wit/".into())
                })?;
                let artifact = config.component.build_artifact.clone().unwrap_or_else(|| build_dir.join(format!("{snake}.wasm")));
                let command = format!("componentize-py -d {} -w {world} componentize app -o {}", wit.display(), artifact.display());
                Recipe::Command { language, command, artifact }
            }
            (None, _) => {
                return Err(invalid(format!(
                    "language = \"{}\" needs `[component] build_command` (and `build_artifact`, where it leaves the component)",
                    config.language.as_deref().unwrap_or_default()
                )));
            }
        };
        let destination = config.component.destination.clone().unwrap_or_else(|| build_dir.join(format!("{snake}_s.wasm")));
        Ok(Project { destination: root.join(destination), root, name: config.name, recipe, from: WASMCLOUD_TOML })
    }

    fn detect(dir: &Path) -> Result<Project, ProjectError> {
        let cargo = dir.join("Cargo.toml");
        if cargo.is_file() {
            let text = read(&cargo)?;
            let manifest: toml::Table = toml::from_str(&text).map_err(|e| ProjectError::Invalid { path: cargo.clone(), message: e.to_string() })?;
            let name = manifest
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(toml::Value::as_str)
                .ok_or_else(|| ProjectError::Invalid { path: cargo.clone(), message: "no `[package] name`: a workspace root is not one component".into() })?
                .to_owned();
            let destination = dir.join("build").join(format!("{}.wasm", name.replace('-', "_")));
            return Ok(Project { root: dir.to_owned(), name, recipe: Recipe::Cargo { target: "wasm32-wasip2".into(), debug: false }, destination, from: "Cargo.toml" });
        }
        let package = dir.join("package.json");
        if package.is_file() {
            let path = package.clone();
            let json: serde_json::Value =
                serde_json::from_str(&read(&package)?).map_err(|e| ProjectError::Invalid { path: path.clone(), message: e.to_string() })?;
            let name = json.get("name").and_then(|n| n.as_str()).unwrap_or("component").to_owned();
            let script = json.pointer("/scripts/build").and_then(|s| s.as_str()).ok_or_else(|| ProjectError::Invalid {
                path: path.clone(),
                message: "no `scripts.build`: add one that builds the component (e.g. `jco componentize ... -o build/app.wasm`)".into(),
            })?;
            // The component is where the build script's `-o` puts it.
            let artifact = output_of(script).unwrap_or_else(|| PathBuf::from("build").join(format!("{name}.wasm")));
            let destination = dir.join(&artifact);
            let recipe = Recipe::Command { language: Language::JavaScript, command: "npm run build".into(), artifact };
            return Ok(Project { root: dir.to_owned(), name, recipe, destination, from: "package.json" });
        }
        for marker in ["pyproject.toml", "app.py"] {
            if dir.join(marker).is_file() {
                let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("app").to_owned();
                let world = only_world(&dir.join("wit")).ok_or_else(|| ProjectError::Invalid {
                    path: dir.join("wit"),
                    message: "a Python component needs its WIT world: one `world` in wit/, or `[component] wit_world` in wasmcloud.toml".into(),
                })?;
                let artifact = PathBuf::from("build").join(format!("{}.wasm", name.replace('-', "_")));
                let command = format!("componentize-py -d wit -w {world} componentize app -o {}", artifact.display());
                let recipe = Recipe::Command { language: Language::Python, command, artifact: artifact.clone() };
                return Ok(Project { root: dir.to_owned(), name, recipe, destination: dir.join(artifact), from: marker });
            }
        }
        Err(ProjectError::NotAProject(dir.to_owned()))
    }

    /// Where the build leaves the component, when the recipe names it (Cargo's is in its output).
    pub fn artifact(&self) -> Option<PathBuf> {
        match &self.recipe {
            Recipe::Cargo { .. } => None,
            Recipe::Command { artifact, .. } => Some(self.root.join(artifact)),
        }
    }
}

/// The nearest directory at or above `start`, and not above `limit`, that is a project.
pub fn enclosing(start: &Path, limit: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if MARKERS.iter().any(|m| d.join(m).is_file()) {
            return Some(d.to_owned());
        }
        if d == limit {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// wash v1's `wasm_target` values for a component, as the Rust target Cargo builds.
fn rust_target(wasm_target: Option<&str>) -> Result<String, String> {
    match wasm_target {
        None | Some("wasm32-wasip2" | "wasm32-wasi-preview2") => Ok("wasm32-wasip2".into()),
        Some(other) => Err(format!(
            "[component] wasm_target = \"{other}\": Trellis runs WASI 0.2 components; use \"wasm32-wasip2\" (a core module would need an adapter)"
        )),
    }
}

/// The path after `-o`/`--out` in a build script, if it names one.
fn output_of(script: &str) -> Option<PathBuf> {
    let mut words = script.split_whitespace();
    while let Some(w) = words.next() {
        if matches!(w, "-o" | "--out" | "--output") {
            return words.next().map(PathBuf::from);
        }
    }
    None
}

/// The one world declared in the `.wit` files directly in `dir`.
fn only_world(dir: &Path) -> Option<String> {
    let mut worlds = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "wit") {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            worlds.extend(text.lines().filter_map(|l| l.trim().strip_prefix("world ")).filter_map(|w| w.split_whitespace().next()).map(str::to_owned));
        }
    }
    (worlds.len() == 1).then(|| worlds.remove(0))
}

fn read(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|source| ProjectError::Read { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Project, ProjectError>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let p = Project::load(dir.path());
        (dir, p)
    }

    #[test]
    fn a_wash_v1_rust_project_builds_with_cargo_into_its_signed_name() {
        let (dir, p) = project(&[(
            "wasmcloud.toml",
            "name = \"http-hello-world\"\nlanguage = \"rust\"\ntype = \"component\"\nversion = \"0.1.0\"\n\n[component]\nwit_world = \"hello\"\nwasm_target = \"wasm32-wasi-preview2\"\n",
        )]);
        let p = p.unwrap();
        assert_eq!(p.recipe, Recipe::Cargo { target: "wasm32-wasip2".into(), debug: false });
        assert_eq!(p.destination, dir.path().join("build/http_hello_world_s.wasm"));
    }

    #[test]
    fn a_build_command_and_artifact_are_honoured() {
        let (dir, p) = project(&[(
            "wasmcloud.toml",
            "name = \"ts\"\nlanguage = \"typescript\"\ntype = \"component\"\n[component]\nbuild_command = \"npm run build\"\nbuild_artifact = \"dist/ts.wasm\"\ndestination = \"out/ts_s.wasm\"\n",
        )]);
        let p = p.unwrap();
        assert_eq!(p.recipe, Recipe::Command { language: Language::JavaScript, command: "npm run build".into(), artifact: "dist/ts.wasm".into() });
        assert_eq!(p.artifact(), Some(dir.path().join("dist/ts.wasm")));
        assert_eq!(p.destination, dir.path().join("out/ts_s.wasm"));
    }

    #[test]
    fn a_python_project_builds_its_wit_world_with_componentize_py() {
        let (dir, p) = project(&[("wasmcloud.toml", "name = \"py-app\"\nlanguage = \"python\"\ntype = \"component\"\n[component]\nwit_world = \"hello\"\n")]);
        let p = p.unwrap();
        assert_eq!(
            p.recipe,
            Recipe::Command { language: Language::Python, command: "componentize-py -d wit -w hello componentize app -o build/py_app.wasm".into(), artifact: "build/py_app.wasm".into() }
        );
        assert_eq!(p.destination, dir.path().join("build/py_app_s.wasm"));
    }

    #[test]
    fn what_cannot_be_built_is_named_with_its_file_and_key() {
        let (_d, p) = project(&[("wasmcloud.toml", "name = \"p\"\nlanguage = \"rust\"\ntype = \"provider\"\n")]);
        let e = p.unwrap_err().to_string();
        assert!(e.contains("wasmcloud.toml") && e.contains("type = \"provider\""), "{e}");
        let (_d, p) = project(&[("wasmcloud.toml", "name = \"p\"\nlanguage = \"rust\"\n[component]\nwasm_target = \"wasm32-unknown-unknown\"\n")]);
        assert!(p.unwrap_err().to_string().contains("wasm_target"));
        let (_d, p) = project(&[("wasmcloud.toml", "name = \"p\"\nlanguage = \"tinygo\"\n")]);
        assert!(p.unwrap_err().to_string().contains("build_command"));
        let (_d, p) = project(&[("wasmcloud.toml", "name = \n")]);
        assert!(p.unwrap_err().to_string().contains("line 1"), "TOML errors say where");
        let (_d, p) = project(&[("README.md", "")]);
        assert!(matches!(p, Err(ProjectError::NotAProject(_))));
    }

    #[test]
    fn projects_without_wasmcloud_toml_are_detected() {
        let (dir, p) = project(&[("Cargo.toml", "[package]\nname = \"my-comp\"\n")]);
        assert_eq!(p.unwrap().destination, dir.path().join("build/my_comp.wasm"));
        let (dir, p) = project(&[("package.json", r#"{"name":"web","scripts":{"build":"jco componentize app.js -w wit -o dist/web.wasm"}}"#)]);
        assert_eq!(p.unwrap().artifact(), Some(dir.path().join("dist/web.wasm")));
        let (_d, p) = project(&[("app.py", ""), ("wit/world.wit", "package a:b;\nworld hello {\n}\n")]);
        let Recipe::Command { command, .. } = p.unwrap().recipe else { panic!("a command") };
        assert!(command.starts_with("componentize-py -d wit -w hello componentize app"), "{command}");
    }

    #[test]
    fn the_enclosing_project_stops_at_the_limit() {
        let (dir, _) = project(&[("a/Cargo.toml", "[package]\nname = \"a\"\n"), ("a/build/.keep", "")]);
        assert_eq!(enclosing(&dir.path().join("a/build"), dir.path()), Some(dir.path().join("a")));
        assert_eq!(enclosing(dir.path(), dir.path()), None);
    }
}
