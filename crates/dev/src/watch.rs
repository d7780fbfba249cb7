//! Watching a directory tree for source changes, debounced, with build outputs ignored, and
//! telling which project a changed file belongs to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

/// Directories never watched: build outputs, dependencies, VCS and Trellis's own state.
pub const IGNORED_DIRS: &[&str] = &["target", "build", "dist", "node_modules", ".git", "__pycache__", ".trellis"];

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// An `-i` pattern is not a glob.
    #[error("ignore pattern `{pattern}`: {source}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The cause.
        source: globset::Error,
    },
    /// The file system watcher failed.
    #[error("watching {path}: {source}")]
    Notify {
        /// The tree.
        path: PathBuf,
        /// The cause.
        source: notify_debouncer_mini::notify::Error,
    },
}

/// Which paths under the watched root are not sources.
#[derive(Debug, Clone)]
pub struct Ignore {
    globs: GlobSet,
}

impl Ignore {
    /// The default ignores and `extra` patterns: one without `/` matches a file or directory of
    /// that name anywhere (as in `.gitignore`); one with `/` matches from the root.
    pub fn new(extra: &[String]) -> Result<Ignore, WatchError> {
        let mut builder = GlobSetBuilder::new();
        let defaults = IGNORED_DIRS.iter().map(|d| d.to_string()).chain(["*.partial".to_owned(), "*.swp".to_owned(), "*~".to_owned()]);
        for pattern in defaults.chain(extra.iter().cloned()) {
            let anchored = pattern.trim_start_matches('/');
            let forms = if pattern.contains('/') {
                vec![anchored.to_owned(), format!("{anchored}/**")]
            } else {
                vec![format!("**/{pattern}"), format!("**/{pattern}/**")]
            };
            for form in forms {
                builder.add(Glob::new(&form).map_err(|source| WatchError::Pattern { pattern: pattern.clone(), source })?);
            }
        }
        let globs = builder.build().map_err(|source| WatchError::Pattern { pattern: extra.join(" "), source })?;
        Ok(Ignore { globs })
    }

    /// Whether `relative` (a path under the root) is ignored.
    pub fn ignores(&self, relative: &Path) -> bool {
        self.globs.is_match(relative)
    }
}

/// A running watch of one tree; stops when dropped.
pub struct Watch {
    changes: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
}

impl Watch {
    /// Watches `root` recursively; changes within `debounce` of each other arrive together.
    pub fn start(root: &Path, ignore: Ignore, debounce: Duration) -> Result<Watch, WatchError> {
        let (tx, changes) = mpsc::unbounded_channel();
        let base = root.to_owned();
        let mut debouncer = new_debouncer(debounce, move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let mut paths: Vec<PathBuf> = events
                .into_iter()
                .map(|e| e.path)
                .filter(|p| p.strip_prefix(&base).is_ok_and(|rel| !ignore.ignores(rel)))
                .collect();
            paths.sort();
            paths.dedup();
            if !paths.is_empty() {
                let _ = tx.send(paths);
            }
        })
        .map_err(|source| WatchError::Notify { path: root.to_owned(), source })?;
        debouncer.watcher().watch(root, RecursiveMode::Recursive).map_err(|source| WatchError::Notify { path: root.to_owned(), source })?;
        Ok(Watch { changes, _debouncer: debouncer })
    }

    /// The next batch of changed source files.
    pub async fn next(&mut self) -> Option<Vec<PathBuf>> {
        self.changes.recv().await
    }
}

/// The index of the project in `roots` that `path` belongs to: the deepest root containing it.
pub fn owner(path: &Path, roots: &[PathBuf]) -> Option<usize> {
    roots
        .iter()
        .enumerate()
        .filter(|(_, root)| path.starts_with(root))
        .max_by_key(|(_, root)| root.components().count())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_outputs_and_patterns_are_ignored_sources_are_not() {
        let ignore = Ignore::new(&["*.log".into(), "docs/generated".into()]).unwrap();
        for ignored in ["target/release/x.wasm", "a/node_modules/p/index.js", ".git/HEAD", "build/app_s.wasm", "x.log", "docs/generated/a.md", "src/lib.rs~"] {
            assert!(ignore.ignores(Path::new(ignored)), "{ignored}");
        }
        for source in ["src/lib.rs", "app.py", "wadm.yaml", "a/src/app.ts", "docs/guide.md", "builder.rs"] {
            assert!(!ignore.ignores(Path::new(source)), "{source}");
        }
        assert!(Ignore::new(&["a[".into()]).is_err());
    }

    #[test]
    fn a_file_belongs_to_its_deepest_project() {
        let roots = [PathBuf::from("/p"), PathBuf::from("/p/api"), PathBuf::from("/p/web")];
        assert_eq!(owner(Path::new("/p/api/src/lib.rs"), &roots), Some(1));
        assert_eq!(owner(Path::new("/p/wadm.yaml"), &roots), Some(0));
        assert_eq!(owner(Path::new("/q/x"), &roots), None);
    }

    #[tokio::test]
    async fn a_saved_source_is_reported_and_an_ignored_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        let mut watch = Watch::start(&root, Ignore::new(&[]).unwrap(), Duration::from_millis(50)).unwrap();
        std::fs::write(root.join("target/out"), "x").unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn main() {}").unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap();
        assert!(changed.contains(&root.join("src/lib.rs")), "{changed:?}");
        assert!(!changed.iter().any(|p| p.starts_with(root.join("target"))), "{changed:?}");
    }
}
