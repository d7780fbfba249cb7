//! The wadm API (`wadm.api.<lattice>.model.*`), named config
//! (`wasmbus.ctl.v1.<lattice>.config.*`) and links (`link.*`), served over the lattice with wadm's and wasmCloud's
//! JSON shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt as _;
use serde::Serialize;
use trellis_lattice::{Message, Subscriber, respond};
use trellis_types::ctl::{CtlReply, Request, Verb, manager_data_prefix};
use trellis_types::inventory::{CloudEvent, ctl_prefix, event_subject};
use trellis_types::wadm::{
    API_PREFIX, API_QUEUE, CONFIG_LIST_PREFIX, DeleteResult, DeployReply, MODEL_EVENT_PREFIX, PutResult, DeployResult, GetResult, ListReply, ModelSummary, Status, StatusInfo, StatusReply,
    StatusResult, StatusType, VersionRequest,
};

use crate::Inner;

/// The `source` of the CloudEvents the manager publishes (wasmCloud hosts put their id there).
const EVENT_SOURCE: &str = "trellis-manager";

pub use trellis_types::wadm::{BASE_DIR_HEADER, SOURCE_HEADER};

/// The wadm API, and `link.*` and `config.*` twice: on the control interface, in the queue
/// groups wasmCloud's hosts answer them in (`<ctl>.link`, `<ctl>.config`), which Trellis hosts
/// join too; and on [`manager_data_prefix`], where those hosts relay what they are handed. So
/// while a manager acts it answers every one, and its rules (a deployed application's links are
/// its manifest's) hold; with none, the hosts answer alone, as wasmCloud's do.
pub(crate) async fn subscribe(inner: &Inner) -> Result<[Subscriber; 6], trellis_lattice::LatticeError> {
    let lattice = &inner.config.lattice;
    let ctl = ctl_prefix(lattice);
    let relayed = manager_data_prefix(lattice);
    let model = inner.lattice.subscribe(&format!("{API_PREFIX}.{lattice}.model.>"), Some(API_QUEUE)).await?;
    let config = inner.lattice.subscribe(&format!("{ctl}.config.>"), Some(&format!("{ctl}.config"))).await?;
    let link = inner.lattice.subscribe(&format!("{ctl}.link.*"), Some(&format!("{ctl}.link"))).await?;
    let relayed_config = inner.lattice.subscribe(&format!("{relayed}.config.>"), None).await?;
    let relayed_link = inner.lattice.subscribe(&format!("{relayed}.link.*"), None).await?;
    let config_list = inner.lattice.subscribe(&format!("{CONFIG_LIST_PREFIX}.{lattice}.list"), Some(API_QUEUE)).await?;
    Ok([model, config, link, relayed_config, relayed_link, config_list])
}

pub(crate) async fn serve(inner: Arc<Inner>, subscriptions: [Subscriber; 6]) {
    let mut all = futures::stream::select_all(subscriptions);
    while let Some(message) = all.next().await {
        let reply = handle(&inner, &message).await;
        if let Err(e) = respond(inner.lattice.as_ref(), &message, reply).await {
            tracing::warn!(subject = %message.subject, error = %e, "could not reply");
        }
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("API replies serialize")
}

/// The optional `{"version": ...}` body; an empty or `null` body means none.
fn version(message: &Message) -> Result<Option<String>, String> {
    let body = message.payload.as_ref();
    if body.iter().all(u8::is_ascii_whitespace) || body == b"null" {
        return Ok(None);
    }
    serde_json::from_slice::<VersionRequest>(body).map(|r| r.version).map_err(|e| format!("the request body is not {{\"version\": ...}}: {e}"))
}

async fn handle(inner: &Inner, message: &Message) -> Vec<u8> {
    let lattice = &inner.config.lattice;
    if let Some(rest) = message.subject.strip_prefix(&format!("{API_PREFIX}.{lattice}.model.")) {
        let (op, name) = rest.split_once('.').map_or((rest, None), |(op, name)| (op, Some(name)));
        return model(inner, op, name, message).await;
    }
    if message.subject == format!("{CONFIG_LIST_PREFIX}.{lattice}.list") {
        return json(&CtlReply::ok(&inner.catalogue.lock().await.configs));
    }
    let data = [ctl_prefix(lattice), manager_data_prefix(lattice)];
    let Some(rest) = data.iter().find_map(|prefix| message.subject.strip_prefix(prefix.as_str())?.strip_prefix('.')) else {
        return json(&serde_json::json!({"result": "error", "message": format!("unsupported subject {}", message.subject)}));
    };
    match Request::parse_operation(rest) {
        Some(Request::Config(verb, name)) => config(inner, (verb, name), message).await,
        Some(Request::Link(verb)) => json(&crate::links::handle(inner, verb, &message.payload).await),
        _ => json(&serde_json::json!({"result": "error", "message": format!("unsupported subject {}", message.subject)})),
    }
}

async fn model(inner: &Inner, op: &str, name: Option<&str>, message: &Message) -> Vec<u8> {
    let error = |message: String| json(&serde_json::json!({"result": "error", "message": message}));
    match (op, name) {
        ("put", None) => {
            let text = match std::str::from_utf8(&message.payload) {
                Ok(t) => t,
                Err(_) => return error("the manifest is not UTF-8 text".into()),
            };
            let source = message.header(SOURCE_HEADER).unwrap_or("manifest");
            let base_dir = message.header(BASE_DIR_HEADER).map(PathBuf::from);
            let reply = inner.catalogue.lock().await.put(source, text, base_dir).await;
            // A put may move where a deployed version's relative paths resolve.
            if !reply.name.is_empty() {
                inner.mark(&reply.name);
            }
            if matches!(reply.result, PutResult::Created | PutResult::NewVersion) {
                model_event(inner, "model_version_created", &reply.name, Some(&reply.current_version)).await;
            }
            json(&reply)
        }
        ("get" | "list", None) => {
            let catalogue = inner.catalogue.lock().await;
            let models: Vec<ModelSummary> = catalogue
                .apps
                .iter()
                .map(|(name, app)| {
                    let (latest, manifest) = app.latest();
                    let detailed_status = status_of(inner, name, app.record.deployed_version.as_deref());
                    ModelSummary {
                        name: name.clone(),
                        version: latest.version.clone(),
                        description: manifest.description().map(str::to_owned),
                        deployed_version: app.record.deployed_version.clone(),
                        status: detailed_status.info.status_type,
                        status_message: Some(detailed_status.info.message.clone()),
                        detailed_status,
                    }
                })
                .collect();
            if op == "list" {
                // The deprecated `model.list` answers with the bare array.
                return json(&models);
            }
            json(&ListReply { result: GetResult::Success, message: "Successfully fetched list of applications".into(), models })
        }
        ("get", Some(name)) => match version(message) {
            Ok(v) => json(&inner.catalogue.lock().await.get(name, v.as_deref())),
            Err(e) => error(e),
        },
        ("versions", Some(name)) => json(&inner.catalogue.lock().await.versions(name)),
        ("del", Some(name)) => {
            let v = match version(message) {
                Ok(v) => v,
                Err(e) => return error(e),
            };
            let reply = inner.catalogue.lock().await.delete(name, v.as_deref()).await;
            inner.mark(name);
            if reply.result == DeleteResult::Deleted {
                model_event(inner, "model_version_deleted", name, v.as_deref()).await;
            }
            json(&reply)
        }
        ("deploy", Some(name)) => match version(message) {
            Ok(v) => json(&deploy(inner, name, v.as_deref()).await),
            Err(e) => error(e),
        },
        ("undeploy", Some(name)) => {
            let reply = inner.catalogue.lock().await.undeploy(name).await;
            inner.mark(name);
            json(&reply)
        }
        ("status", Some(name)) => {
            let catalogue = inner.catalogue.lock().await;
            let reply = match catalogue.apps.get(name) {
                Some(app) => StatusReply {
                    result: StatusResult::Ok,
                    message: format!("Successfully fetched status for application {name}"),
                    status: Some(status_of(inner, name, app.record.deployed_version.as_deref())),
                },
                None => StatusReply { result: StatusResult::NotFound, message: format!("no application named `{name}`"), status: None },
            };
            json(&reply)
        }
        ("history", _) => error("model.history is not currently supported".into()),
        (op, None) => error(format!("model.{op} needs an application name: wadm.api.<lattice>.model.{op}.<name>")),
        (op, Some(_)) => error(format!("unknown operation model.{op}")),
    }
}

fn status_of(inner: &Inner, name: &str, deployed: Option<&str>) -> Status {
    let Some(deployed) = deployed else {
        return Status { info: StatusInfo::new(StatusType::Undeployed, ""), ..Status::default() };
    };
    let statuses = inner.statuses.lock().expect("status map poisoned");
    // A status computed for another version (a pass that began before a deploy) is not this one's.
    statuses.get(name).filter(|(v, _)| v == deployed).map(|(_, s)| s.clone()).unwrap_or_else(|| Status {
        info: StatusInfo::new(StatusType::Reconciling, "Deploy accepted; the first reconcile has not finished"),
        ..Status::default()
    })
}

async fn deploy(inner: &Inner, name: &str, version: Option<&str>) -> DeployReply {
    let mut catalogue = inner.catalogue.lock().await;
    let Some(candidate) = catalogue.candidate(name, version) else {
        let message = match version {
            Some(v) if catalogue.apps.contains_key(name) => format!("application `{name}` has no version `{v}`"),
            _ => format!("no application named `{name}`; put its manifest first"),
        };
        return DeployReply { result: DeployResult::NotFound, message, name: name.to_owned(), version: version.map(str::to_owned) };
    };
    let others: Vec<_> = catalogue.apps.iter().filter_map(|(n, app)| Some((n.clone(), app.deployed()?))).collect();
    if let Err(reason) = crate::checks::check(name, &candidate, &others, &catalogue.configs, inner.fleet.as_ref()) {
        return DeployReply {
            result: DeployResult::Error,
            message: format!("refusing to deploy {name} {}: {reason}", candidate.stored.version),
            name: name.to_owned(),
            version: Some(candidate.stored.version),
        };
    }
    let reply = catalogue.deploy(name, &candidate.stored.version).await;
    // A deploy is a new attempt: what the last one came to no longer says how this one goes.
    inner.statuses.lock().expect("status map poisoned").remove(name);
    inner.mark(name);
    reply
}

async fn config(inner: &Inner, (verb, name): (Verb, &str), message: &Message) -> Vec<u8> {
    let reply = |success: bool, message: String| match success {
        true => json(&CtlReply::<()>::done(message)),
        false => json(&CtlReply::<()>::fail(message)),
    };
    match verb {
        Verb::Put => {
            let values: BTreeMap<String, String> = match serde_json::from_slice(&message.payload) {
                Ok(v) => v,
                Err(e) => return reply(false, format!("config `{name}` must be a JSON object of strings: {e}")),
            };
            let result = inner.catalogue.lock().await.put_config(name, Some(values)).await;
            inner.mark_all();
            match result {
                Ok(()) => {
                    config_event(inner, "config_set", name).await;
                    reply(true, "successfully put config".into())
                }
                Err(e) => reply(false, e.to_string()),
            }
        }
        Verb::Get => match inner.catalogue.lock().await.configs.get(name) {
            Some(values) => json(&CtlReply::ok(values)),
            None => reply(true, "Configuration not found".into()),
        },
        Verb::Del => {
            let result = inner.catalogue.lock().await.put_config(name, None).await;
            inner.mark_all();
            match result {
                Ok(()) => {
                    config_event(inner, "config_deleted", name).await;
                    reply(true, "successfully deleted config".into())
                }
                Err(e) => reply(false, e.to_string()),
            }
        }
    }
}

/// `config_set` / `config_deleted` on `wasmbus.evt.<lattice>.*`, as wasmCloud hosts publish them.
async fn config_event(inner: &Inner, event: &str, name: &str) {
    self::event(inner, event, serde_json::json!({ "config_name": name })).await;
}

/// `model_version_created` / `model_version_deleted` on `wadm.evt.<lattice>.<event>`, with
/// wadm's fields; `version` is `None` when every version went.
async fn model_event(inner: &Inner, event: &str, name: &str, version: Option<&str>) {
    let data = serde_json::json!({"name": name, "version": version, "lattice_id": inner.config.lattice});
    let mut envelope = CloudEvent::now(EVENT_SOURCE, event, data);
    envelope.kind = format!("com.wasmcloud.wadm.{event}");
    publish_event(inner, format!("{MODEL_EVENT_PREFIX}.{}.{event}", inner.config.lattice), &envelope).await;
}

/// Publishes CloudEvent `event` on `wasmbus.evt.<lattice>.<event>`.
pub(crate) async fn event(inner: &Inner, event: &str, data: serde_json::Value) {
    let envelope = CloudEvent::now(EVENT_SOURCE, event, data);
    publish_event(inner, event_subject(&inner.config.lattice, event), &envelope).await;
}

/// Publishes `envelope` on `subject`; an event nobody could be told of is only logged.
async fn publish_event(inner: &Inner, subject: String, envelope: &CloudEvent) {
    if let Err(e) = inner.lattice.publish(Message::new(subject, json(envelope))).await {
        tracing::debug!(event = %envelope.kind, error = %e, "could not publish event");
    }
}
