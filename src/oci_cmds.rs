//! `trellis push` and `trellis pull`: components and provider archives to and from OCI
//! registries, in the format `wash push` writes and wasmCloud hosts pull.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use trellis_oci::{Artifact, Credentials as RegistryCredentials, Kind, Policy as RegistryPolicy, Registries};

/// How to reach a registry from the command line.
#[derive(Args)]
pub(crate) struct RegistryArgs {
    /// Speak plain HTTP to the registry (a local one, e.g. localhost:5000).
    #[arg(long)]
    insecure: bool,
    /// User name for the registry.
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_USER", requires = "password")]
    user: Option<String>,
    /// Password for the registry (better given through the environment).
    #[arg(long, env = "WASMCLOUD_OCI_REGISTRY_PASSWORD", hide_env_values = true, requires = "user")]
    password: Option<String>,
}

impl RegistryArgs {
    fn insecure(&self, reference: &str) -> Vec<String> {
        // The registry is the reference's first segment, as OCI clients resolve it.
        self.insecure.then(|| reference.split('/').next().unwrap_or_default().to_owned()).into_iter().collect()
    }

    fn credentials(&self) -> Option<RegistryCredentials> {
        Some(RegistryCredentials::Basic { username: self.user.clone()?, password: self.password.clone()? })
    }
}

#[derive(Args)]
pub(crate) struct PushArgs {
    /// Where to push: `registry/repository:tag`.
    reference: String,
    /// The component (`.wasm`) or provider archive (`.par.gz`).
    file: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub(crate) struct PullArgs {
    /// What to pull: `registry/repository:tag` or `...@sha256:...`.
    reference: String,
    /// Where to write it (default: the repository's last segment, `.wasm` for a component,
    /// `.par.gz` for a provider archive).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display();
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {file}"))?;
    let size = bytes.len();
    // Anything that starts as wasm is a component (a core module is refused as one); anything
    // else must be a provider archive whose files match its signed claims, as `wash push` checks.
    let (artifact, what) = if bytes.starts_with(b"\0asm") {
        (Artifact::Component(bytes), "component".to_owned())
    } else {
        let (claims, targets) = crate::block_on(trellis_provider::archive::inspect(&file.to_string(), &bytes))
            .with_context(|| format!("{file} is neither a WebAssembly component nor a provider archive"))?;
        let name = claims.name.unwrap_or_else(|| "unnamed".into());
        (Artifact::ProviderArchive(bytes), format!("provider archive `{name}` for {}", targets.join(", ")))
    };
    let insecure = args.registry.insecure(&args.reference);
    // The client sends a layer whole, so this shows that it works and for how long.
    let spinner = ProgressBar::new_spinner().with_message(format!("pushing {file} ({size} bytes) to {}", args.reference));
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("the template parses"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let pushed = crate::block_on(trellis_oci::push(&args.reference, artifact, &insecure, args.registry.credentials()));
    spinner.finish_and_clear();
    let url = pushed.with_context(|| format!("pushing {file} to {}", args.reference))?;
    println!("pushed {file}, a {what} ({size} bytes), to {url}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let policy = RegistryPolicy { insecure: args.registry.insecure(&args.reference), allow_latest: true, max_bytes: u64::MAX };
    let registries = Registries::new(policy);
    if let (Some(credentials), Some(registry)) = (args.registry.credentials(), args.reference.split('/').next()) {
        registries.set_credentials(registry, credentials);
    }
    // A component or a provider archive: the image's layer says which.
    let bar = ProgressBar::no_length().with_message(format!("pulling {}", args.reference));
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}").expect("the template parses").progress_chars("=> "));
    let progress = |done: u64, total: Option<u64>| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    };
    let pulled = crate::block_on(registries.pull_any(&args.reference, &progress));
    bar.finish_and_clear();
    let (bytes, kind) = pulled.with_context(|| format!("pulling {}", args.reference))?;
    let output = args.output.clone().unwrap_or_else(|| {
        let name = args.reference.rsplit('/').next().unwrap_or("component");
        PathBuf::from(format!("{}.{}", name.split(['@', ':']).next().unwrap_or(name), kind.extension()))
    });
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    let what = if kind == Kind::Component { "a component" } else { "a provider archive" };
    println!("pulled {}, {what} ({} bytes), to {}", args.reference, bytes.len(), output.display());
    Ok(ExitCode::SUCCESS)
}
