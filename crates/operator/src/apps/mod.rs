//! Application objects → the deployment manager. Each reconcile renders the object's manifest,
//! checks it with the parser `trellis app validate` uses, asks the manager what it has, takes
//! the one step [`plan`] gives, keeps the application's Service right, and writes what the
//! manager reports into `status`. A finalizer undeploys and deletes the application on
//! `kubectl delete`.

mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizing, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use trellis_lattice::Lattice;
use trellis_types::manifest::Manifest;
use trellis_types::wadm::STATUS_PREFIX;

use crate::conditions;
use crate::crd::{Application, ApplicationStatus, Phase, WasmCloudHostConfig};
use crate::hosts::MANAGED_BY;
use crate::services::{http_exposure, is_service_name};
use crate::{Context, Error, FIELD_MANAGER};
use plan::{Step, manifest_text, phase, plan, scalers};

/// The finalizer that makes `kubectl delete` undeploy first.
const FINALIZER: &str = "core.oam.dev/trellis-undeploy";
/// Label on a generated Service naming its application.
const APP_LABEL: &str = "trellis.dev/application";
/// Looked at again this soon while the lattice is getting there (status events come sooner).
const WHILE_CHANGING: Duration = Duration::from_secs(5);
/// And this often once it is there.
const RESYNC: Duration = Duration::from_secs(60);

pub(crate) async fn controller(
    context: Arc<Context>,
    lattice: Arc<dyn Lattice>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = ()> + Send {
    let client = context.client.clone();
    let controller = Controller::new(Api::<Application>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Service>::all(client), watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)));
    // The manager publishes `wadm.status.<lattice>.<app>` on every status change: the
    // Application it belongs to is reconciled then, instead of at the next resync.
    let store = controller.store();
    let status_changes = match lattice.subscribe(&format!("{STATUS_PREFIX}.*.*"), None).await {
        Ok(subscriber) => subscriber
            .flat_map(move |message| {
                let mut parts = message.subject.rsplitn(3, '.');
                let (app, lattice) = (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
                let matching: Vec<ObjectRef<Application>> = store
                    .state()
                    .iter()
                    .filter(|a| a.name_any() == app && a.status.as_ref().and_then(|s| s.lattice.as_deref()) == Some(lattice.as_str()))
                    .map(|a| ObjectRef::from_obj(a.as_ref()))
                    .collect();
                futures::stream::iter(matching)
            })
            .boxed(),
        Err(e) => {
            tracing::warn!(error = %e, "not subscribed to application status changes: Applications update at each resync only");
            futures::stream::empty().boxed()
        }
    };
    controller.reconcile_on(status_changes).graceful_shutdown_on(shutdown).run(reconcile, error_policy, context).map(|result| {
        if let Err(e) = result {
            tracing::debug!(error = %e, "application reconcile");
        }
    })
}

fn error_policy(app: Arc<Application>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(application = %app.name_any(), namespace = ?app.namespace(), %error, "reconcile failed; retrying");
    Action::requeue(WHILE_CHANGING)
}

async fn reconcile(app: Arc<Application>, context: Arc<Context>) -> Result<Action, Error> {
    let api = Api::<Application>::namespaced(context.client.clone(), &app.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, app, |event| async {
        match event {
            Finalizing::Apply(app) => apply(&app, &context).await,
            Finalizing::Cleanup(app) => cleanup(&app, &context).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

/// The lattice of the namespace's WasmCloudHostConfig (the oldest, if several), as upstream
/// decides it; else the operator's default.
async fn lattice_of(context: &Context, namespace: &str) -> Result<String, Error> {
    let configs = Api::<WasmCloudHostConfig>::namespaced(context.client.clone(), namespace).list(&ListParams::default()).await?;
    let oldest = configs.items.iter().min_by_key(|c| (c.metadata.creation_timestamp.clone().map(|t| t.0), c.name_any()));
    Ok(oldest.map(|c| c.spec.lattice.clone()).unwrap_or_else(|| context.settings.default_lattice.clone()))
}

async fn event(context: &Context, app: &Application, type_: EventType, reason: &str, note: &str) {
    let event = Event { type_, reason: reason.into(), note: Some(conditions::truncate(note, 1000)), action: "Reconcile".into(), secondary: None };
    if let Err(e) = context.recorder.publish(&event, &app.object_ref(&())).await {
        tracing::debug!(error = %e, "event not recorded");
    }
}

async fn apply(app: &Application, context: &Context) -> Result<Action, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let generation = app.metadata.generation;
    let mut status = app.status.clone().unwrap_or_default();
    let lattice = lattice_of(context, &namespace).await?;
    status.lattice = Some(lattice.clone());
    let source = format!("application {namespace}/{name}");
    let desired = match Manifest::parse_with_warnings(&source, &manifest_text(app)) {
        Ok((manifest, _)) => {
            conditions::set(&mut status.conditions, "Valid", true, "Valid", "the manifest is valid", generation);
            Some(manifest)
        }
        Err(errors) => {
            // kubectl sends the object, not the file: the field paths are exact, the file's lines unknown.
            let found: Vec<String> = errors.errors.iter().map(|e| if e.path.is_empty() { e.message.clone() } else { format!("{}: {}", e.path, e.message) }).collect();
            let message = format!("{source} is invalid, nothing was deployed: {} (`trellis app validate FILE` gives the lines in your file)", found.join("; "));
            if conditions::is_true(&status.conditions, "Valid") != Some(false) || status.message.as_deref() != Some(message.as_str()) {
                event(context, app, EventType::Warning, "InvalidManifest", &message).await;
            }
            conditions::set(&mut status.conditions, "Valid", false, "InvalidManifest", conditions::truncate(&message, 4000), generation);
            status.phase = Some(Phase::Failed);
            status.message = Some(conditions::truncate(&found.join("; "), 300));
            None
        }
    };
    let observed = match context.manager.observe(&lattice, &name).await {
        Ok(observed) => {
            conditions::set(&mut status.conditions, "ManagerReachable", true, "Answered", format!("the deployment manager of lattice {lattice} answers"), generation);
            observed
        }
        Err(e) => {
            conditions::set(&mut status.conditions, "ManagerReachable", false, if e.is_unreachable() { "Unreachable" } else { "Refused" }, e.to_string(), generation);
            status.message = Some(conditions::truncate(&e.to_string(), 300));
            return write_status(app, context, status, WHILE_CHANGING).await;
        }
    };
    let Some(desired) = desired else {
        status.deployed_version = observed.as_ref().and_then(|o| o.deployed().map(str::to_owned));
        status.latest_version = observed.as_ref().and_then(|o| o.latest().map(str::to_owned));
        status.observed_generation = generation;
        return write_status(app, context, status, RESYNC).await;
    };
    let stored_version = desired.version().map(str::to_owned).or_else(|| observed.as_ref().and_then(|o| o.latest().map(str::to_owned)));
    let stored = match (&observed, &stored_version) {
        (Some(o), Some(v)) if o.versions.iter().any(|s| &s.version == v) => context.manager.manifest(&lattice, &name, v).await?.and_then(|m| Manifest::parse("stored", &m.to_string()).ok()),
        _ => None,
    };
    let step = plan(&desired, observed.as_ref(), stored.as_ref());
    let step_was_conflict = matches!(step, Step::Conflict(_));
    let changed = matches!(step, Step::Deploy(_) | Step::PutAndDeploy);
    let acted = match step {
        Step::Nothing => None,
        Step::Deploy(version) => Some(context.manager.deploy(&lattice, &name, &version).await.map(|()| version)),
        Step::PutAndDeploy => {
            let put = context.manager.put(&lattice, &source, manifest_text(app)).await;
            Some(match put {
                Ok(version) => context.manager.deploy(&lattice, &name, &version).await.map(|()| version),
                Err(e) => Err(e),
            })
        }
        Step::Conflict(message) => {
            conditions::set(&mut status.conditions, "Synced", false, "VersionConflict", message.clone(), generation);
            event(context, app, EventType::Warning, "VersionConflict", &message).await;
            None
        }
    };
    match acted {
        Some(Ok(version)) => {
            conditions::set(&mut status.conditions, "Synced", true, "Deployed", format!("version {version} deployed on lattice {lattice}"), generation);
            event(context, app, EventType::Normal, "Deployed", &format!("version {version} deployed on lattice {lattice}")).await;
        }
        Some(Err(e)) if e.is_unreachable() => return Err(e.into()),
        Some(Err(refused)) => {
            let message = refused.to_string();
            conditions::set(&mut status.conditions, "Synced", false, "Refused", message.clone(), generation);
            event(context, app, EventType::Warning, "Refused", &message).await;
        }
        None => {
            if !step_was_conflict {
                conditions::set(&mut status.conditions, "Synced", true, "InSync", "the manager deploys this manifest", generation);
            }
        }
    }
    // Asked again only after a change: with nothing done, the first answer is still the state.
    let observed = if changed { context.manager.observe(&lattice, &name).await? } else { observed };
    let current = observed.as_ref().and_then(|o| o.status.as_ref());
    status.deployed_version = observed.as_ref().and_then(|o| o.deployed().map(str::to_owned));
    status.latest_version = observed.as_ref().and_then(|o| o.latest().map(str::to_owned));
    status.phase = Some(phase(current));
    status.scalers = scalers(current);
    status.message = current.map(|s| conditions::truncate(&s.info.message, 300)).filter(|m| !m.is_empty());
    let ready = status.phase == Some(Phase::Deployed);
    conditions::set(&mut status.conditions, "Ready", ready, &format!("{:?}", status.phase.unwrap_or(Phase::Undeployed)), current.map(|s| s.info.message.clone()).unwrap_or_else(|| "not deployed".into()), generation);
    status.services = services(app, context, &desired, &mut status).await?;
    status.observed_generation = generation;
    write_status(app, context, status, if ready { RESYNC } else { WHILE_CHANGING }).await
}

/// Keeps the application's Service as its HTTP servers ask, and says which it made.
async fn services(app: &Application, context: &Context, manifest: &Manifest, status: &mut ApplicationStatus) -> Result<Vec<String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let generation = app.metadata.generation;
    let api = Api::<Service>::namespaced(context.client.clone(), &namespace);
    let mut exposure = http_exposure(manifest);
    let mut wanted = Vec::new();
    if let Some(selector) = exposure.selector() {
        if is_service_name(&name) {
            let ports = exposure
                .ports
                .iter()
                .enumerate()
                .map(|(i, (port, _))| ServicePort {
                    name: Some(if i == 0 { "http".to_owned() } else { format!("http-{port}") }),
                    port: i32::from(*port),
                    target_port: Some(IntOrString::Int(i32::from(*port))),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                })
                .collect();
            let labels = BTreeMap::from([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()), (APP_LABEL.to_owned(), name.clone())]);
            let service = Service {
                metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), labels: Some(labels), owner_references: app.controller_owner_ref(&()).map(|o| vec![o]), ..ObjectMeta::default() },
                spec: Some(ServiceSpec { selector: Some(selector), ports: Some(ports), ..ServiceSpec::default() }),
                status: None,
            };
            api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&service)).await?;
            wanted.push(name.clone());
        } else {
            exposure.unreachable.push(format!("`{name}` cannot name a Service (lower-case letters, digits and `-`, starting with a letter): no Service was made"));
        }
    }
    // Services this application no longer asks for.
    let mine = api.list_metadata(&ListParams::default().labels(&format!("{APP_LABEL}={name}"))).await?;
    for stale in mine.items.iter().filter(|s| !wanted.contains(&s.name_any())) {
        api.delete(&stale.name_any(), &DeleteParams::background()).await?;
    }
    if exposure.is_empty() {
        status.conditions.retain(|c| c.type_ != "ServiceReachable");
    } else if exposure.unreachable.is_empty() {
        let ports: Vec<String> = exposure.ports.iter().map(|(p, _)| p.to_string()).collect();
        conditions::set(&mut status.conditions, "ServiceReachable", true, "Serving", format!("Service {name} on port {}", ports.join(", ")), generation);
    } else {
        conditions::set(&mut status.conditions, "ServiceReachable", false, "Unreachable", exposure.unreachable.join("; "), generation);
    }
    Ok(wanted)
}

async fn write_status(app: &Application, context: &Context, status: ApplicationStatus, next: Duration) -> Result<Action, Error> {
    if app.status.as_ref() != Some(&status) {
        let api = Api::<Application>::namespaced(context.client.clone(), &app.namespace().unwrap_or_default());
        api.patch_status(&app.name_any(), &PatchParams::default(), &Patch::Merge(crate::status_patch(app.status.as_ref(), &status))).await?;
    }
    Ok(Action::requeue(next))
}

/// `kubectl delete`: undeploy and delete every version, then let the object go.
async fn cleanup(app: &Application, context: &Context) -> Result<Action, Error> {
    let name = app.name_any();
    let lattice = match app.status.as_ref().and_then(|s| s.lattice.clone()) {
        Some(lattice) => lattice,
        None => lattice_of(context, &app.namespace().unwrap_or_default()).await?,
    };
    context.manager.remove(&lattice, &name).await?;
    event(context, app, EventType::Normal, "Undeployed", &format!("undeployed and deleted from lattice {lattice}")).await;
    Ok(Action::await_change())
}
