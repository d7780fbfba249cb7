//! Building a project's component: check the toolchain, run the build with its output shown,
//! check the artifact is a component, and place it where the manifest expects it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use crate::project::{Language, Project, Recipe};

/// A built component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Where it was placed (the project's destination).
    pub path: PathBuf,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size.
    pub bytes: u64,
    /// How long the build took.
    pub took: Duration,
}

impl Built {
    /// The first 12 hex digits of the digest, to tell builds apart in logs.
    pub fn short_digest(&self) -> &str {
        let hex = self.digest.trim_start_matches("sha256:");
        &hex[..hex.len().min(12)]
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool the build needs is missing; says how to get it.
    #[error("{missing}: {install}")]
    Toolchain {
        /// What is missing.
        missing: String,
        /// The command (or step) that installs it.
        install: String,
    },
    /// The build ran and failed; its output was shown as it ran.
    #[error("`{command}` in {dir} failed ({status}); its output is above")]
    Failed {
        /// The command.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// The build succeeded without leaving a component where it was expected.
    #[error("the build succeeded but left no component at {0}")]
    NoArtifact(PathBuf),
    /// The artifact is not a WebAssembly component.
    #[error("{path} is {what}, not a WebAssembly component; build for wasm32-wasip2 (WASI 0.2)")]
    NotAComponent {
        /// The artifact.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Starting the build or placing its artifact failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Builds `project` and places its component at its destination. The toolchain's output goes
/// to this process's stderr as it runs.
pub async fn build(project: &Project) -> Result<Built, BuildError> {
    let started = Instant::now();
    check_toolchain(project).await?;
    let artifact = match &project.recipe {
        Recipe::Cargo { target, debug } => cargo_build(&project.root, target, *debug).await?,
        Recipe::Command { command, .. } => {
            let artifact = project.artifact().expect("a command recipe names its artifact");
            if let Some(dir) = artifact.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|source| BuildError::Io { what: format!("creating {}", dir.display()), source })?;
            }
            let mut cmd = shell(command);
            cmd.current_dir(&project.root).stdout(to_stderr()).stderr(Stdio::inherit());
            run(cmd, command, &project.root).await?;
            artifact
        }
    };
    let bytes = tokio::fs::read(&artifact).await.map_err(|_| BuildError::NoArtifact(artifact.clone()))?;
    check_component(&artifact, &bytes)?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    if artifact != project.destination {
        place(&bytes, &project.destination).await?;
    }
    Ok(Built { path: project.destination.clone(), digest, bytes: bytes.len() as u64, took: started.elapsed() })
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half.
pub async fn place(bytes: &[u8], path: &Path) -> Result<(), BuildError> {
    let io = |what: String| move |source| BuildError::Io { what, source };
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await.map_err(io(format!("creating {}", dir.display())))?;
    let partial = path.with_extension("wasm.partial");
    tokio::fs::write(&partial, bytes).await.map_err(io(format!("writing {}", partial.display())))?;
    tokio::fs::rename(&partial, path).await.map_err(io(format!("moving the build to {}", path.display())))
}

async fn check_toolchain(project: &Project) -> Result<(), BuildError> {
    let missing = |missing: String, install: &str| Err(BuildError::Toolchain { missing, install: install.to_owned() });
    match &project.recipe {
        Recipe::Cargo { target, .. } => {
            if !runs("cargo", &["--version"]).await {
                return missing("cargo is not installed".into(), "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`");
            }
            let libdir = Command::new("rustc").args(["--print", "target-libdir", "--target", target]).current_dir(&project.root).output().await;
            let installed = libdir.is_ok_and(|o| o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir());
            if !installed {
                return missing(format!("the Rust target {target} is not installed"), &format!("run `rustup target add {target}`"));
            }
        }
        Recipe::Command { language, command, .. } => {
            let program = command.split_whitespace().next().unwrap_or_default();
            match language {
                Language::JavaScript => {
                    if !runs("npm", &["--version"]).await {
                        return missing("npm is not installed".into(), "install Node.js and npm (Debian: `apt-get install nodejs npm`)");
                    }
                    if project.root.join("package.json").is_file() && !project.root.join("node_modules").is_dir() {
                        return missing(format!("{} has no node_modules", project.root.display()), &format!("run `npm install` in {}", project.root.display()));
                    }
                }
                Language::Python if program == "componentize-py" && !runs("componentize-py", &["--version"]).await => {
                    return missing("componentize-py is not installed".into(), "run `pip install componentize-py`");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Whether `program args` starts and succeeds.
async fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().await.is_ok_and(|s| s.success())
}

/// Runs Cargo with JSON messages on stdout (diagnostics still rendered, on stderr) and returns
/// the `.wasm` it says it produced for the project's own package.
async fn cargo_build(root: &Path, target: &str, debug: bool) -> Result<PathBuf, BuildError> {
    let manifest = root.join("Cargo.toml");
    let mut args = vec!["build", "--target", target, "--message-format=json-render-diagnostics", "--manifest-path"];
    let manifest_arg = manifest.display().to_string();
    args.push(&manifest_arg);
    if !debug {
        args.push("--release");
    }
    let mut cmd = Command::new("cargo");
    cmd.args(&args).current_dir(root).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let command = format!("cargo {}", args.join(" "));
    let io = |source| BuildError::Io { what: format!("starting `{command}`"), source };
    let mut child = cmd.spawn().map_err(io)?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut produced = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let ours = message["manifest_path"].as_str().is_some_and(|p| Path::new(p) == manifest);
        let wasm = message["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm"));
        if let (true, Some(wasm)) = (ours, wasm) {
            produced = Some(PathBuf::from(wasm));
        }
    }
    let status = child.wait().await.map_err(io)?;
    if !status.success() {
        return Err(BuildError::Failed { command, dir: root.to_owned(), status });
    }
    produced.ok_or_else(|| BuildError::NoArtifact(root.join("target").join(target)))
}

async fn run(mut cmd: Command, command: &str, dir: &Path) -> Result<(), BuildError> {
    let status = cmd.status().await.map_err(|source| BuildError::Io { what: format!("starting `{command}`"), source })?;
    if !status.success() {
        return Err(BuildError::Failed { command: command.to_owned(), dir: dir.to_owned(), status });
    }
    Ok(())
}

/// A command line as wash runs `build_command`: through the shell, so `&&` and quotes work.
fn shell(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// The build's own stdout goes to stderr: stdout is for what `trellis` reports.
fn to_stderr() -> Stdio {
    use std::os::fd::AsFd as _;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::inherit(),
    }
}

/// A WebAssembly component's preamble: magic, then version 0x0d and layer 1.
fn check_component(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let not = |what| Err(BuildError::NotAComponent { path: path.to_owned(), what });
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => not("a core WebAssembly module"),
        _ => not("not WebAssembly"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_components_pass() {
        let p = Path::new("x.wasm");
        assert!(check_component(p, b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(check_component(p, b"\0asm\x01\0\0\0").unwrap_err().to_string().contains("core WebAssembly module"));
        assert!(check_component(p, b"hello").unwrap_err().to_string().contains("not WebAssembly"));
    }

    #[tokio::test]
    async fn a_command_build_is_placed_and_digested() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project {
            root: dir.path().to_owned(),
            name: "p".into(),
            recipe: Recipe::Command {
                language: Language::Other,
                command: "printf '\\0asm\\015\\0\\001\\0' > out/p.wasm".into(),
                artifact: "out/p.wasm".into(),
            },
            destination: dir.path().join("build/p_s.wasm"),
            from: "test",
        };
        let built = build(&project).await.unwrap();
        assert_eq!(std::fs::read(&built.path).unwrap(), b"\0asm\x0d\0\x01\0");
        assert_eq!(built.digest, format!("sha256:{}", hex::encode(Sha256::digest(b"\0asm\x0d\0\x01\0"))));
        assert_eq!(built.short_digest().len(), 12);
    }

    #[tokio::test]
    async fn a_failing_command_and_a_missing_artifact_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut project = Project {
            root: dir.path().to_owned(),
            name: "p".into(),
            recipe: Recipe::Command { language: Language::Other, command: "exit 3".into(), artifact: "p.wasm".into() },
            destination: dir.path().join("p_s.wasm"),
            from: "test",
        };
        assert!(matches!(build(&project).await, Err(BuildError::Failed { .. })));
        project.recipe = Recipe::Command { language: Language::Other, command: "true".into(), artifact: "p.wasm".into() };
        assert!(matches!(build(&project).await, Err(BuildError::NoArtifact(_))));
    }
}
