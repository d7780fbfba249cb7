//! WasmCloudHostConfig → host pods: the ServiceAccount and the Deployment (or DaemonSet) of
//! [`render`], applied server-side, owned by the object (so they go when it goes), and its
//! status: whether the pods are ready, which fields Trellis does not honour, and the
//! applications deployed on its lattice.

mod render;
mod trouble;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::conditions;
use crate::crd::{AppRef, WasmCloudHostConfig};
use crate::{Context, Error, FIELD_MANAGER};

pub use render::{HOST_CONTAINER, HOST_LABEL_PREFIX, HostDefaults};
pub(crate) use render::{MANAGED_BY, POD_NAME_LABEL};
use render::{Workload, render};

/// How often a WasmCloudHostConfig is looked at again with nothing changed: its status lists
/// the lattice's applications, which change without any Kubernetes event.
const RESYNC: Duration = Duration::from_secs(30);
/// How often while its pods are not all ready, so the reason shown stays current.
const NOT_READY_RESYNC: Duration = Duration::from_secs(5);

pub(crate) fn controller(
    context: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = ()> + Send {
    let client = context.client.clone();
    Controller::new(Api::<WasmCloudHostConfig>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Deployment>::all(client.clone()), watcher::Config::default().labels(&managed_by()))
        .owns(Api::<DaemonSet>::all(client.clone()), watcher::Config::default().labels(&managed_by()))
        .owns(Api::<ServiceAccount>::all(client), watcher::Config::default().labels(&managed_by()))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .map(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "host config reconcile");
            }
        })
}

fn managed_by() -> String {
    format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
}

fn error_policy(whc: Arc<WasmCloudHostConfig>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(whc = %whc.name_any(), namespace = ?whc.namespace(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn apply<K>(api: &Api<K>, object: &K) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await
}

/// Deletes `name` if it is there and this object owns it (a Deployment left from before
/// `daemonset: true`, or the other way round).
async fn remove_owned<K>(api: &Api<K>, name: &str, owner: &str) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if let Some(found) = api.get_opt(name).await?
        && found.owner_references().iter().any(|o| o.uid == owner)
    {
        api.delete(name, &DeleteParams::background()).await?;
    }
    Ok(())
}

async fn reconcile(whc: Arc<WasmCloudHostConfig>, context: Arc<Context>) -> Result<Action, Error> {
    let namespace = whc.namespace().unwrap_or_default();
    let name = whc.name_any();
    let uid = whc.uid().unwrap_or_default();
    let client = &context.client;
    let generation = whc.metadata.generation;
    let mut status = whc.status.clone().unwrap_or_default();
    match render(&whc, &context.settings.hosts) {
        Err(invalid) => {
            conditions::set(&mut status.conditions, "Ready", false, "InvalidField", invalid.to_string(), generation);
            let event = Event { type_: EventType::Warning, reason: "InvalidField".into(), note: Some(conditions::truncate(&invalid.to_string(), 1000)), action: "Render".into(), secondary: None };
            let _ = context.recorder.publish(&event, &whc.object_ref(&())).await;
        }
        Ok(rendered) => {
            apply(&Api::<ServiceAccount>::namespaced(client.clone(), &namespace), &rendered.service_account).await?;
            let deployments = Api::<Deployment>::namespaced(client.clone(), &namespace);
            let daemonsets = Api::<DaemonSet>::namespaced(client.clone(), &namespace);
            let (ready, want) = match &rendered.workload {
                Workload::Deployment(d) => {
                    let applied = apply(&deployments, d).await?;
                    remove_owned(&daemonsets, &name, &uid).await?;
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (applied.status.and_then(|s| s.ready_replicas).unwrap_or(0), want)
                }
                Workload::DaemonSet(d) => {
                    let applied = apply(&daemonsets, d).await?;
                    remove_owned(&deployments, &name, &uid).await?;
                    let s = applied.status.unwrap_or_default();
                    (s.number_ready, s.desired_number_scheduled)
                }
            };
            let is_ready = ready >= want;
            let mut message = format!("{ready} of {want} host pods ready");
            if !is_ready {
                let selector = render::selector_labels(&name).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
                let pods = Api::<Pod>::namespaced(client.clone(), &namespace).list(&ListParams::default().labels(&selector)).await?;
                if let Some(trouble) = trouble::pods_trouble(&pods.items) {
                    message = format!("{message}; {trouble}");
                }
            }
            conditions::set(&mut status.conditions, "Ready", is_ready, if is_ready { "PodsReady" } else { "PodsNotReady" }, message, generation);
            match rendered.unhonoured.is_empty() {
                true => conditions::set(&mut status.conditions, "FieldsHonoured", true, "AllHonoured", "every field set is acted on", generation),
                false => conditions::set(&mut status.conditions, "FieldsHonoured", false, "Unhonoured", format!("Trellis does not act on: {}", rendered.unhonoured.join("; ")), generation),
            }
        }
    }
    match context.manager.list(&whc.spec.lattice).await {
        Ok(models) => {
            status.apps = models.iter().filter_map(|m| Some(AppRef { name: m.name.clone(), version: m.deployed_version.clone()? })).collect();
            status.app_count = u32::try_from(status.apps.len()).unwrap_or(u32::MAX);
            conditions::set(&mut status.conditions, "ManagerReachable", true, "Answered", format!("the deployment manager of lattice {} answers", whc.spec.lattice), generation);
        }
        Err(e) => conditions::set(&mut status.conditions, "ManagerReachable", false, if e.is_unreachable() { "Unreachable" } else { "Refused" }, e.to_string(), generation),
    }
    status.observed_generation = generation;
    if whc.status.as_ref() != Some(&status) {
        let api = Api::<WasmCloudHostConfig>::namespaced(client.clone(), &namespace);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(crate::status_patch(whc.status.as_ref(), &status))).await?;
    }
    // Pods' troubles change without an event on the workload: look again soon while not ready.
    let ready = conditions::is_true(&status.conditions, "Ready") == Some(true);
    Ok(Action::requeue(if ready { RESYNC } else { NOT_READY_RESYNC }))
}
