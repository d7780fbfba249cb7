//! Project templates, compiled into the binary so `trellis new` works offline.
//!
//! Each template is a directory of `templates/`: the sources, a `wasmcloud.toml` and a
//! `wadm.yaml` in wasmCloud's shape. `{{name}}` in any file becomes the project's name and
//! `{{crate}}` the same with `_` for `-` (the file name Cargo gives a Rust artifact).

use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// A project template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// What `trellis new --template` takes.
    pub id: &'static str,
    /// The language of its component.
    pub language: &'static str,
    /// One line about it.
    pub description: &'static str,
}

/// Every template, the default first.
pub const ALL: &[Template] = &[
    Template { id: "rust-hello", language: "rust", description: "HTTP hello world in Rust (wasi:http)" },
    Template {
        id: "rust-kv-counter",
        language: "rust",
        description: "HTTP counter in Rust, kept in a keyvalue store (wasi:http, wasi:keyvalue)",
    },
    Template { id: "typescript-hello", language: "typescript", description: "HTTP hello world in TypeScript (jco + componentize-js)" },
    Template { id: "python-hello", language: "python", description: "HTTP hello world in Python (componentize-py)" },
];

/// Why a project could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// No template has that id.
    #[error("no template `{0}`; `trellis new --list` shows them")]
    UnknownTemplate(String),
    /// The name cannot name a package in every language the templates use.
    #[error("project name `{0}`: use lowercase letters, digits and `-`, each `-`-separated part starting with a letter (e.g. `hello-world`)")]
    BadName(String),
    /// The directory is there and not empty.
    #[error("{0} already exists and is not empty")]
    Exists(PathBuf),
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Finds a template by id.
pub fn find(id: &str) -> Result<&'static Template, NewError> {
    ALL.iter().find(|t| t.id == id).ok_or_else(|| NewError::UnknownTemplate(id.to_owned()))
}

/// Writes `template` as project `name` into `dir` (made if missing; must be empty if there).
/// Returns the files written, relative to `dir`.
pub fn generate(template: &Template, name: &str, dir: &Path) -> Result<Vec<PathBuf>, NewError> {
    check_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(NewError::Exists(dir.to_owned()));
    }
    let root = TEMPLATES.get_dir(template.id).expect("every template in ALL is a directory of templates/");
    let crate_name = name.replace('-', "_");
    let mut written = Vec::new();
    let mut pending = vec![root];
    while let Some(d) = pending.pop() {
        for entry in d.entries() {
            match entry {
                DirEntry::Dir(sub) => pending.push(sub),
                DirEntry::File(file) => {
                    let relative = file.path().strip_prefix(root.path()).expect("entries are under their directory");
                    let path = dir.join(relative);
                    let write = |source| NewError::Write { path: path.clone(), source };
                    std::fs::create_dir_all(path.parent().expect("a file has a parent")).map_err(write)?;
                    let contents = match file.contents_utf8() {
                        Some(text) => {
                            let text = text.replace("{{name}}", name).replace("{{crate}}", &crate_name);
                            if relative == Path::new("Cargo.lock") { sorted_lockfile(&text) } else { text }.into_bytes()
                        }
                        None => file.contents().to_vec(),
                    };
                    std::fs::write(&path, contents).map_err(write)?;
                    written.push(relative.to_owned());
                }
            }
        }
    }
    written.sort();
    Ok(written)
}

/// A Cargo lockfile with its packages in Cargo's order (by name), as it is after the project's
/// name took its place: Cargo would otherwise rewrite it on the first build, and `trellis dev`
/// would see a changed file.
fn sorted_lockfile(text: &str) -> String {
    let mut blocks: Vec<&str> = text.split("\n[[package]]\n").collect();
    let header = blocks.remove(0);
    let name = |block: &&str| block.lines().next().and_then(|l| l.strip_prefix("name = ")).unwrap_or_default().to_owned();
    blocks.sort_by_key(name);
    blocks.iter().fold(header.to_owned(), |out, block| format!("{out}\n[[package]]\n{block}"))
}

/// A name that is a Cargo package, an npm package and a WIT package segment alike.
fn check_name(name: &str) -> Result<(), NewError> {
    let part_ok = |p: &str| p.starts_with(|c: char| c.is_ascii_lowercase()) && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || !name.split('-').all(part_ok) {
        return Err(NewError::BadName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_embedded_with_a_manifest_and_a_wasmcloud_toml() {
        for t in ALL {
            let dir = TEMPLATES.get_dir(t.id).unwrap_or_else(|| panic!("template {} is not in templates/", t.id));
            for file in ["wadm.yaml", "wasmcloud.toml"] {
                assert!(dir.get_file(dir.path().join(file)).is_some(), "{} has no {file}", t.id);
            }
        }
        let listed: Vec<_> = ALL.iter().map(|t| t.id).collect();
        for d in TEMPLATES.dirs() {
            let id = d.path().to_str().unwrap();
            assert!(listed.contains(&id), "templates/{id} is not listed in ALL");
        }
    }

    #[test]
    fn a_project_gets_its_name_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("my-app");
        let files = generate(find("rust-hello").unwrap(), "my-app", &out).unwrap();
        assert!(files.contains(&PathBuf::from("src/lib.rs")), "{files:?}");
        let manifest = std::fs::read_to_string(out.join("wadm.yaml")).unwrap();
        assert!(manifest.contains("name: my-app") && manifest.contains("file://./build/my_app_s.wasm"), "{manifest}");
        assert!(!manifest.contains("{{"), "{manifest}");
    }

    #[test]
    fn a_lockfile_keeps_cargos_order_whatever_the_name() {
        let lock = "version = 4\n\n[[package]]\nname = \"bitflags\"\n\n[[package]]\nname = \"{{name}}\"\ndependencies = []\n\n[[package]]\nname = \"wasip2\"\n";
        let sorted = sorted_lockfile(&lock.replace("{{name}}", "api"));
        assert_eq!(sorted, "version = 4\n\n[[package]]\nname = \"api\"\ndependencies = []\n\n[[package]]\nname = \"bitflags\"\n\n[[package]]\nname = \"wasip2\"\n");
    }

    #[test]
    fn bad_names_and_full_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "My-App", "my_app", "2app", "my-2app", "a--b"] {
            assert!(matches!(generate(&ALL[0], bad, &dir.path().join("x")), Err(NewError::BadName(_))), "{bad:?}");
        }
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert!(matches!(generate(&ALL[0], "ok", dir.path()), Err(NewError::Exists(_))));
        assert!(matches!(find("cobol-hello"), Err(NewError::UnknownTemplate(_))));
    }
}
