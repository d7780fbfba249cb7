//! Capabilities that are no built-in: provider archives run as processes (`trellis-provider`),
//! as wasmCloud runs them. They join the lattice's NATS server themselves, so they run only on
//! hosts joined to one; components reach them by id over wRPC, as they reach each other.

use trellis_cap_secrets::Asker;
use trellis_provider::{Launch, LinkDefinition, Provider};
use trellis_types::manifest::{Component, LinkProperty, Manifest, SecretProperty};

use crate::DeployError;
use crate::artifact::ImageRef;
use crate::config::Configs;
use crate::links::Backends;

/// Starts capability `i` of `manifest` as an external provider (or updates the process
/// already running it), with every link it is the source or the target of.
pub(crate) async fn start(manifest: &Manifest, i: usize, base_dir: &std::path::Path, configs: &Configs<'_>, backends: &Backends) -> Result<Provider, DeployError> {
    let c = &manifest.spec.components[i];
    let field = format!("spec.components[{i}].properties.image");
    let image = c.properties.image.clone().unwrap_or_default();
    let image_error = |reason: String| DeployError::Image { component: c.name.clone(), field: field.clone(), image: image.clone(), reason };
    let Some(launcher) = &backends.providers else {
        return Err(image_error(format!(
            "`{image}` is no built-in capability, so it runs as an external provider process, which joins a NATS lattice: \
             run the host with --nats, or use a built-in ({})",
            backends.capabilities.describe()
        )));
    };
    let bytes = match ImageRef::parse(&image, base_dir) {
        ImageRef::File(path) => tokio::fs::read(&path).await.map_err(|e| image_error(format!("{}: {e}", path.display())))?,
        ImageRef::Oci(reference) => backends.registries.pull_provider(&reference).await.map_err(|e| image_error(e.to_string()))?,
        ImageRef::Builtin(name) => return Err(image_error(format!("`{name}` is not a built-in capability; built in: {}", backends.capabilities.describe()))),
    };
    let unpacked = launcher.unpack(&image, &bytes).await.map_err(|e| image_error(e.to_string()))?;
    let config = configs.merge(&c.properties.config, &format!("spec.components[{i}].properties.config"))?;
    // The secrets it is given, its own and its links', are asked for as the provider: the
    // process holds them, so backends check its signed identity.
    let secrets = SecretAsker { manifest, backends, asker: Asker { host: &backends.host, entity_jwt: unpacked.claims.jwt.as_deref() } };
    let launch = Launch {
        host_id: backends.host.clone(),
        provider_id: c.id(manifest.name()),
        binary: unpacked.binary,
        config,
        links: link_definitions(manifest, c, configs, &secrets).await?,
        secrets: secrets.resolve(&c.name, &c.properties.secrets, &format!("spec.components[{i}].properties.secrets")).await?,
    };
    launcher.start(launch).await.map_err(|e| DeployError::Invalid { component: c.name.clone(), field, image, reason: e.to_string() })
}

/// Resolves secret references for one provider process.
struct SecretAsker<'a> {
    manifest: &'a Manifest,
    backends: &'a Backends,
    asker: Asker<'a>,
}

impl SecretAsker<'_> {
    /// The secrets `list` (at `field`, on component `component`) names.
    async fn resolve(&self, component: &str, list: &[SecretProperty], field: &str) -> Result<trellis_provider::Secrets, DeployError> {
        crate::secrets::resolve(self.manifest, list, field, self.backends.secrets.as_ref(), self.asker)
            .await
            .map_err(|(field, reason)| DeployError::Secret { component: component.to_owned(), field, reason })
    }
}

/// The links `provider` is the target of (from components) and the source of (its own), with
/// their config and the provider's side's secrets resolved, as wasmCloud hands them to providers.
async fn link_definitions(manifest: &Manifest, provider: &Component, configs: &Configs<'_>, secrets: &SecretAsker<'_>) -> Result<Vec<LinkDefinition>, DeployError> {
    let app = manifest.name();
    let provider_id = provider.id(app);
    let mut links = Vec::new();
    for (ci, source) in manifest.spec.components.iter().enumerate() {
        let own = source.name == provider.name;
        for (t, trait_) in source.traits.iter().enumerate() {
            let trellis_types::manifest::TraitProperty::Link(link) = &trait_.properties else { continue };
            let field = format!("spec.components[{ci}].traits[{t}].properties");
            let target = match manifest.component(&link.target.name) {
                _ if !own && link.target.name != provider.name => continue,
                Some(target) => target.id(app),
                // The manifest's validation names links to nothing; skip rather than fail twice.
                None => continue,
            };
            let mut definition = definition(link, source.id(app), if own { target } else { provider_id.clone() }, configs, &field)?;
            if own {
                let list = link.source.as_ref().map(|s| s.secrets.as_slice()).unwrap_or_default();
                definition.source_secrets = secrets.resolve(&source.name, list, &format!("{field}.source.secrets")).await?;
            } else {
                definition.target_secrets = secrets.resolve(&source.name, &link.target.secrets, &format!("{field}.target.secrets")).await?;
            }
            links.push(definition);
        }
    }
    Ok(links)
}

fn definition(link: &LinkProperty, source_id: String, target: String, configs: &Configs<'_>, field: &str) -> Result<LinkDefinition, DeployError> {
    let source_config = match &link.source {
        Some(source) => configs.merge(&source.config, &format!("{field}.source.config"))?,
        None => Default::default(),
    };
    Ok(LinkDefinition {
        source_id,
        target,
        name: link.link_name().to_owned(),
        wit_namespace: link.namespace.clone(),
        wit_package: link.package.clone(),
        interfaces: link.interfaces.clone(),
        source_config,
        target_config: configs.merge(&link.target.config, &format!("{field}.target.config"))?,
        source_secrets: Default::default(),
        target_secrets: Default::default(),
    })
}
