//! Provider archives (`.par.gz`): a gzip tar of signed claims and one executable per target
//! (`x86_64-linux`, `aarch64-macos`, ...). The one for this machine is unpacked into a cache
//! directory, named by the archive's digest so two versions never share a file.

use std::path::{Path, PathBuf};

use provider_archive::ProviderArchive;

use crate::ProviderError;

/// This machine's target, as provider archives name it: `<arch>-<os>`.
pub fn this_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// What an archive says of itself, for inventories and events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveClaims {
    /// The provider's name in its claims.
    pub name: Option<String>,
    /// Its public key (the claims' subject).
    pub subject: Option<String>,
    /// Who signed it.
    pub issuer: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// The signed claims themselves: the identity secrets backends check before they answer.
    pub jwt: Option<String>,
}

/// An unpacked provider: the executable for this machine and the archive's claims.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The executable, mode 0755.
    pub binary: PathBuf,
    /// What the archive's signed claims say.
    pub claims: ArchiveClaims,
}

/// Reads archive `bytes` (from `reference`), checking every file against the hashes its signed
/// claims hold.
async fn load(reference: &str, bytes: &[u8]) -> Result<(ProviderArchive, ArchiveClaims), ProviderError> {
    let invalid = |reason: String| ProviderError::Archive { reference: reference.to_owned(), reason };
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let tar = bytes.get(257..262) == Some(b"ustar");
    if !gzip && !tar {
        return Err(invalid("not a provider archive: it is neither gzip (`.par.gz`) nor tar (`.par`)".into()));
    }
    // A damaged archive's error can quote its bytes: show them escaped, and not all of them.
    let archive = ProviderArchive::try_load(bytes).await.map_err(|e| {
        let reason: String = e.to_string().escape_debug().take(300).collect();
        invalid(format!("not a provider archive: {reason}"))
    })?;
    let claims = archive.claims_token().map(|token| ArchiveClaims {
        name: token.claims.metadata.as_ref().and_then(|m| m.name.clone()),
        subject: Some(token.claims.subject.clone()),
        issuer: Some(token.claims.issuer.clone()),
        version: token.claims.metadata.as_ref().and_then(|m| m.ver.clone()),
        jwt: Some(token.jwt),
    });
    Ok((archive, claims.unwrap_or_default()))
}

/// What archive `bytes` (from `reference`) claims, and the targets it has executables for, once
/// it is checked: before it is pushed, say.
pub async fn inspect(reference: &str, bytes: &[u8]) -> Result<(ArchiveClaims, Vec<String>), ProviderError> {
    let (archive, claims) = load(reference, bytes).await?;
    let mut targets = archive.targets();
    targets.sort();
    Ok((claims, targets))
}

/// Unpacks the executable for this machine from archive `bytes` (pulled from `reference`) into
/// `cache_dir`; an archive unpacked before is not written again.
pub async fn unpack(reference: &str, bytes: &[u8], cache_dir: &Path) -> Result<Unpacked, ProviderError> {
    let target = this_target();
    let invalid = |reason: String| ProviderError::Archive { reference: reference.to_owned(), reason };
    let (archive, claims) = load(reference, bytes).await?;
    let Some(binary) = archive.target_bytes(&target) else {
        let mut targets = archive.targets();
        targets.sort();
        return Err(invalid(format!("it has no executable for this machine ({target}); it has: {}", targets.join(", "))));
    };
    let digest = short_digest(bytes);
    let path = cache_dir.join(format!("{digest}-{target}.bin"));
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        write_executable(&path, &binary).await.map_err(|e| invalid(format!("writing {}: {e}", path.display())))?;
    }
    Ok(Unpacked { binary: path, claims })
}

/// A stable name for `bytes` (FNV-1a, 64 bits): a cache key, not a security check; the
/// archive's own hashes are checked by `ProviderArchive::try_load`.
fn short_digest(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("{hash:016x}")
}

/// Writes `bytes` to `path` as an executable, whole or not at all.
async fn write_executable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    tokio::fs::write(&partial, bytes).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tokio::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).await?;
    }
    tokio::fs::rename(&partial, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unpacks_this_machines_executable_and_names_the_targets_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let (account, service) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_service());
        let mut archive = ProviderArchive::new("echo", "trellis", Some(1), Some("0.1.0".into()));
        archive.add_library(&this_target(), b"#!/bin/sh\necho hi\n").unwrap();
        let path = dir.path().join("echo.par.gz");
        archive.write(&path, &account, &service, true).await.unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let unpacked = unpack("./echo.par.gz", &bytes, &dir.path().join("cache")).await.unwrap();
        assert_eq!(std::fs::read(&unpacked.binary).unwrap(), b"#!/bin/sh\necho hi\n");
        assert_eq!(unpacked.claims.name.as_deref(), Some("echo"));
        assert_eq!(unpacked.claims.subject, Some(service.public_key()));
        let jwt = unpacked.claims.jwt.as_deref().expect("a signed archive has a JWT");
        assert_eq!(wascap::jwt::Claims::<wascap::jwt::CapabilityProvider>::decode(jwt).unwrap().subject, service.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&unpacked.binary).unwrap().permissions().mode() & 0o777, 0o755);
        }

        let mut other = ProviderArchive::new("echo", "trellis", Some(1), None);
        other.add_library("riscv64-plan9", b"x").unwrap();
        let other_path = dir.path().join("other.par.gz");
        other.write(&other_path, &account, &service, true).await.unwrap();
        let err = unpack("other", &std::fs::read(&other_path).unwrap(), dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("no executable for this machine") && err.contains("riscv64-plan9"), "{err}");

        let err = unpack("junk", b"not an archive", dir.path()).await.unwrap_err().to_string();
        assert!(err.contains("`junk`") && err.contains("not a provider archive"), "{err}");
    }
}
