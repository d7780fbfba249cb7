//! One deploy: a manifest in, running components and bound routes out, or nothing at all.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use trellis_cap_http_server::{HttpServer, HttpTarget, Owner, Route, ServerConfig};
use trellis_runtime::{Limits, PreparedComponent, Runtime};
use trellis_types::manifest::{Component, ComponentKind, ConfigProperty, LinkProperty, Manifest};

use crate::artifact::{self, ImageRef};
use crate::{DeployError, Deployment, StartedComponent};

/// The capabilities built into the host, by `wasmcloud+builtin://` name and by the OCI
/// repository of the wasmCloud provider they stand in for.
const BUILTINS: &[(&str, &str)] = &[("http-server", "wasmcloud/http-server")];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Builtin {
    HttpServer,
}

fn builtin(image: &ImageRef) -> Option<Builtin> {
    let name = match image {
        ImageRef::Builtin(name) => name.clone(),
        ImageRef::Oci(_) => {
            let repo = image.oci_repository()?;
            BUILTINS.iter().find(|(_, r)| *r == repo)?.0.to_owned()
        }
        ImageRef::File(_) => return None,
    };
    match name.as_str() {
        "http-server" => Some(Builtin::HttpServer),
        _ => None,
    }
}

pub(crate) async fn deploy(
    runtime: &Runtime,
    http: &HttpServer,
    manifest: &Manifest,
    base_dir: &Path,
) -> Result<Deployment, DeployError> {
    let mut deployment = Deployment {
        app: manifest.name().to_owned(),
        version: manifest.version().map(str::to_owned),
        components: Vec::new(),
        routes: Vec::new(),
        warnings: Vec::new(),
    };
    match deploy_into(runtime, http, manifest, base_dir, &mut deployment).await {
        Ok(()) => Ok(deployment),
        Err(e) => {
            for route in &deployment.routes {
                http.unbind(route).await;
            }
            Err(e)
        }
    }
}

async fn deploy_into(
    runtime: &Runtime,
    http: &HttpServer,
    manifest: &Manifest,
    base_dir: &Path,
    deployment: &mut Deployment,
) -> Result<(), DeployError> {
    let configs = Configs::of(manifest);
    let mut running: HashMap<&str, PreparedComponent> = HashMap::new();

    for (i, c) in manifest.spec.components.iter().enumerate() {
        if c.kind != ComponentKind::Component {
            continue;
        }
        let Some((_, scaler)) = c.scaler() else {
            deployment.warnings.push(format!(
                "spec.components[{i}]: component `{}` has no spreadscaler or daemonscaler, so it is not started",
                c.name
            ));
            continue;
        };
        if scaler.instances == 0 {
            deployment.warnings.push(format!("spec.components[{i}]: component `{}` is scaled to 0 instances", c.name));
            continue;
        }
        let id = c.id(manifest.name());
        let prepared = start_component(runtime, c, i, &id, base_dir, scaler.instances).await?;
        deployment.components.push(StartedComponent {
            name: c.name.clone(),
            id,
            max_instances: scaler.instances,
            loaded_from: prepared.1,
        });
        running.insert(&c.name, prepared.0);
    }

    for (i, c) in manifest.spec.components.iter().enumerate() {
        match c.kind {
            ComponentKind::Component => {
                // A component's own links bind its imports to capabilities or other components;
                // this host provides none of those yet, and a link it cannot honour must not
                // pass for a working one.
                if let Some((t, link)) = c.links().enumerate().next() {
                    return Err(link_error(c, link, i, t, "this host does not yet provide imports through links".into()));
                }
            }
            ComponentKind::Capability => {
                let field = format!("spec.components[{i}].properties.image");
                let image = c.properties.image.as_deref().unwrap_or_default();
                let Some(Builtin::HttpServer) = builtin(&ImageRef::parse(image, base_dir)) else {
                    return Err(DeployError::UnsupportedCapability {
                        component: c.name.clone(),
                        field,
                        image: image.to_owned(),
                        builtins: BUILTINS.iter().map(|(n, r)| format!("wasmcloud+builtin://{n} (ghcr.io/{r})")).collect::<Vec<_>>().join(", "),
                    });
                };
                let server_config = configs.merge(&c.properties.config, &format!("spec.components[{i}].properties.config"))?;
                let server = ServerConfig::from_config(&server_config).map_err(|e| DeployError::Config {
                    field: format!("spec.components[{i}].properties.config"),
                    reason: format!("http-server capability `{}`: {e}", c.name),
                })?;
                for (t, link) in c.traits.iter().enumerate().filter_map(|(t, tr)| match &tr.properties {
                    trellis_types::manifest::TraitProperty::Link(l) => Some((t, l)),
                    _ => None,
                }) {
                    bind_http_link(http, manifest, c, i, t, link, &server, &configs, &running, deployment).await?;
                }
            }
        }
    }
    Ok(())
}

async fn start_component(
    runtime: &Runtime,
    c: &Component,
    i: usize,
    id: &str,
    base_dir: &Path,
    instances: u32,
) -> Result<(PreparedComponent, trellis_runtime::LoadedFrom), DeployError> {
    let field = format!("spec.components[{i}].properties.image");
    let Some(image) = c.properties.image.clone() else {
        return Err(DeployError::Image {
            component: c.name.clone(),
            field: format!("spec.components[{i}].properties.application"),
            image: String::new(),
            reason: "components of shared applications need the deployment manager, which is not part of this host".into(),
        });
    };
    let image_error = |reason: String| DeployError::Image { component: c.name.clone(), field: field.clone(), image: image.clone(), reason };
    let path = match ImageRef::parse(&image, base_dir) {
        ImageRef::File(path) => path,
        ImageRef::Oci(_) => {
            return Err(image_error(
                "pulling from an OCI registry is not supported yet; build the component and name the file (e.g. file://./build/app.wasm)".into(),
            ));
        }
        ImageRef::Builtin(name) => return Err(image_error(format!("`{name}` is a built-in capability, not a component; use `type: capability`"))),
    };
    let bytes = artifact::read_file(&path).await.map_err(image_error)?;
    let invalid = |reason: String| DeployError::Invalid { component: c.name.clone(), field: field.clone(), image: image.clone(), reason };
    let compiled = {
        let runtime = runtime.clone();
        let id = id.to_owned();
        // Compilation takes whole seconds of CPU; keep it off the threads serving requests.
        tokio::task::spawn_blocking(move || runtime.compile(&id, &bytes))
            .await
            .map_err(|e| invalid(e.to_string()))?
            .map_err(|e| invalid(format!("{e:#}")))?
    };
    let mut linker = runtime.linker().map_err(|e| invalid(format!("{e:#}")))?;
    let defaults = runtime.default_limits();
    let requested = c.limits();
    let limits = Limits {
        max_execution_time: requested.max_execution_time_ms.map_or(defaults.max_execution_time, std::time::Duration::from_millis),
        max_linear_memory_bytes: requested.max_linear_memory_bytes.unwrap_or(defaults.max_linear_memory_bytes),
    };
    let prepared = runtime.prepare(id, &compiled.0, &mut linker, limits, instances).map_err(|e| invalid(format!("{e:#}")))?;
    tracing::info!(component = id, instances, ?limits, loaded_from = ?compiled.1, "component started");
    Ok((prepared, compiled.1))
}

#[expect(clippy::too_many_arguments, reason = "one call site; the arguments are the deploy's context")]
async fn bind_http_link(
    http: &HttpServer,
    manifest: &Manifest,
    c: &Component,
    i: usize,
    t: usize,
    link: &LinkProperty,
    server: &ServerConfig,
    configs: &Configs<'_>,
    running: &HashMap<&str, PreparedComponent>,
    deployment: &mut Deployment,
) -> Result<(), DeployError> {
    if !(link.namespace == "wasi" && link.package == "http" && link.interfaces.iter().any(|f| f == "incoming-handler")) {
        return Err(link_error(c, link, i, t, "the http-server capability links only wasi:http/incoming-handler".into()));
    }
    let target = &link.target.name;
    let Some(prepared) = running.get(target.as_str()) else {
        let reason = match manifest.component(target) {
            Some(t) if t.kind == ComponentKind::Capability => format!("`{target}` is a capability, not a component"),
            _ => format!("component `{target}` is not running (it needs a spreadscaler or daemonscaler with instances > 0)"),
        };
        return Err(link_error(c, link, i, t, reason));
    };
    let http_target = HttpTarget::new(prepared.clone()).map_err(|e| link_error(c, link, i, t, e.to_string()))?;
    let config_field = format!("spec.components[{i}].traits[{t}].properties.source.config");
    let source = link.source.as_ref().map(|s| s.config.as_slice()).unwrap_or_default();
    let link_config = configs.merge(source, &config_field)?;
    let (route, ignored) = Route::from_link_config(server, &link_config)
        .map_err(|e| DeployError::Config { field: config_field.clone(), reason: format!("link to `{target}`: {e}") })?;
    for key in ignored {
        deployment.warnings.push(format!("{config_field}: `{key}` is not supported yet and has no effect"));
    }
    let owner = Owner { app: manifest.name().to_owned(), component: target.clone() };
    let bound = http
        .bind(route, owner, http_target)
        .await
        .map_err(|source| DeployError::Route { field: format!("spec.components[{i}].traits[{t}]"), source })?;
    deployment.routes.push(bound);
    Ok(())
}

fn link_error(c: &Component, link: &LinkProperty, i: usize, t: usize, reason: String) -> DeployError {
    DeployError::Link {
        source_name: c.name.clone(),
        target: link.target.name.clone(),
        interface: format!("{}:{}/{}", link.namespace, link.package, link.interfaces.join(",")),
        field: format!("spec.components[{i}].traits[{t}]"),
        reason,
    }
}

/// Named config defined in the manifest, for resolving references by name.
struct Configs<'a> {
    defined: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

impl<'a> Configs<'a> {
    fn of(manifest: &'a Manifest) -> Configs<'a> {
        let mut defined = BTreeMap::new();
        let mut add = |list: &'a [ConfigProperty]| {
            for c in list {
                if let Some(p) = &c.properties {
                    defined.insert(c.name.as_str(), p);
                }
            }
        };
        for c in &manifest.spec.components {
            add(&c.properties.config);
            for link in c.links() {
                if let Some(s) = &link.source {
                    add(&s.config);
                }
                add(&link.target.config);
            }
        }
        Configs { defined }
    }

    /// Merges a config list right-most-wins, resolving entries without properties by name.
    fn merge(&self, list: &[ConfigProperty], field: &str) -> Result<BTreeMap<String, String>, DeployError> {
        let mut merged = BTreeMap::new();
        for (j, c) in list.iter().enumerate() {
            let properties = match &c.properties {
                Some(p) => p,
                None => self.defined.get(c.name.as_str()).copied().ok_or_else(|| DeployError::Config {
                    field: format!("{field}[{j}].name"),
                    reason: format!("config `{}` is not defined: give it `properties` here, or define it elsewhere in the manifest", c.name),
                })?,
            };
            merged.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(merged)
    }
}
