//! `trellis push` and `trellis pull`: components and provider archives to and from OCI
//! registries, in the format `wash push` writes and wasmCloud hosts pull.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use trellis_oci::{Artifact, Credentials as RegistryCredentials, OciError, Policy as RegistryPolicy, Registries};

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
    let pushed = trellis_oci::push(&args.reference, artifact, &insecure, args.registry.credentials());
    let url = crate::block_on(pushed).with_context(|| format!("pushing {file} to {}", args.reference))?;
    println!("pushed {file}, a {what} ({size} bytes), to {url}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let policy = RegistryPolicy { insecure: args.registry.insecure(&args.reference), allow_latest: true, max_bytes: u64::MAX };
    let registries = Registries::new(policy);
    if let (Some(credentials), Some(registry)) = (args.registry.credentials(), args.reference.split('/').next()) {
        registries.set_credentials(registry, credentials);
    }
    // A component, or else a provider archive: the image's layer says which.
    let pulled = crate::block_on(async {
        match registries.pull(&args.reference).await {
            Err(OciError::NotAComponent(layers)) if layers.contains(trellis_oci::PROVIDER_LAYER) => {
                registries.pull_provider(&args.reference).await.map(|bytes| (bytes, "par.gz"))
            }
            other => other.map(|bytes| (bytes, "wasm")),
        }
    });
    let (bytes, extension) = pulled.with_context(|| format!("pulling {}", args.reference))?;
    let output = args.output.clone().unwrap_or_else(|| {
        let name = args.reference.rsplit('/').next().unwrap_or("component");
        PathBuf::from(format!("{}.{extension}", name.split(['@', ':']).next().unwrap_or(name)))
    });
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    println!("pulled {} ({} bytes) to {}", args.reference, bytes.len(), output.display());
    Ok(ExitCode::SUCCESS)
}
