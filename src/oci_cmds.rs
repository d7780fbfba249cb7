//! `trellis push` and `trellis pull`: components to and from OCI registries, in the format
//! `wash push` writes and wasmCloud hosts pull.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use trellis_oci::{Credentials as RegistryCredentials, Policy as RegistryPolicy, Registries};

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
    /// The component (`.wasm`).
    file: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub(crate) struct PullArgs {
    /// What to pull: `registry/repository:tag` or `...@sha256:...`.
    reference: String,
    /// Where to write it (default: the repository's last segment, `.wasm`).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let size = bytes.len();
    let insecure = args.registry.insecure(&args.reference);
    let pushed = trellis_oci::push(&args.reference, bytes, &insecure, args.registry.credentials());
    let url = crate::block_on(pushed).with_context(|| format!("pushing {} to {}", args.file.display(), args.reference))?;
    println!("pushed {} ({size} bytes) to {url}", args.file.display());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let output = args.output.clone().unwrap_or_else(|| {
        let name = args.reference.rsplit('/').next().unwrap_or("component");
        PathBuf::from(format!("{}.wasm", name.split(['@', ':']).next().unwrap_or(name)))
    });
    let policy = RegistryPolicy { insecure: args.registry.insecure(&args.reference), allow_latest: true, max_bytes: u64::MAX };
    let registries = Registries::new(policy);
    if let (Some(credentials), Some(registry)) = (args.registry.credentials(), args.reference.split('/').next()) {
        registries.set_credentials(registry, credentials);
    }
    let bytes = crate::block_on(registries.pull(&args.reference)).with_context(|| format!("pulling {}", args.reference))?;
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    println!("pulled {} ({} bytes) to {}", args.reference, bytes.len(), output.display());
    Ok(ExitCode::SUCCESS)
}
