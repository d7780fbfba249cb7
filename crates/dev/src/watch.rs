//! Watching a directory tree for source changes, debounced, with build outputs ignored, and
//! telling which project a changed file belongs to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
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
        source: notify::Error,
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
    _watcher: RecommendedWatcher,
}

impl Watch {
    /// Watches `root` recursively; changes within `debounce` of each other arrive together.
    pub fn start(root: &Path, ignore: Ignore, debounce: Duration) -> Result<Watch, WatchError> {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let base = root.to_owned();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // Reading a file (a build does) and touching its metadata change no source.
            let writes = matches!(event.kind, EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any));
            if !writes {
                return;
            }
            for path in event.paths {
                // A directory's own events (a build made `build/` in it) are no source change;
                // its files report theirs.
                if path.strip_prefix(&base).is_ok_and(|rel| !ignore.ignores(rel)) && !path.is_dir() {
                    let _ = events_tx.send(path);
                }
            }
        })
        .map_err(|source| WatchError::Notify { path: root.to_owned(), source })?;
        watcher.watch(root, RecursiveMode::Recursive).map_err(|source| WatchError::Notify { path: root.to_owned(), source })?;
        let (tx, changes) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Debounce: a batch ends when nothing changed for `debounce` (editors write a file
            // in several steps; `git checkout` writes many).
            while let Some(first) = events.recv().await {
                let mut batch = vec![first];
                while let Ok(Some(path)) = tokio::time::timeout(debounce, events.recv()).await {
                    batch.push(path);
                }
                batch.sort();
                batch.dedup();
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        Ok(Watch { changes, _watcher: watcher })
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
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        let mut watch = Watch::start(&root, Ignore::new(&[]).unwrap(), Duration::from_millis(50)).unwrap();
        // A build reads sources and makes directories; neither is a change.
        std::fs::read(root.join("src/main.rs")).unwrap();
        std::fs::create_dir(root.join("src/made")).unwrap();
        std::fs::write(root.join("target/out"), "x").unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn main() {}").unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap();
        assert_eq!(changed, [root.join("src/lib.rs")]);
    }
}
