//! `link.*` and `config.*` on the control interface, answered by the hosts as wasmCloud's hosts
//! answer them: in the queue groups `<ctl>.link` and `<ctl>.config`, so one host answers each,
//! with links in `LATTICEDATA_<lattice>` (`COMPONENT_<source id>` → `{"url", "links"}`) and named
//! config in `CONFIGDATA_<lattice>` (name → JSON object of strings). Any manager can drive
//! Trellis hosts so, wadm included.
//!
//! A Trellis manager joins the same queue groups and adds a rule of its own (a deployed
//! application's links are its manifest's), so a host hands what it is given to the acting
//! manager first ([`manager_data_prefix`]) and answers itself only when none acts. Either way the
//! answer comes from the same buckets on NATS, where a Trellis manager keeps them too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::OnceCell;
use trellis_lattice::{Bucket, Lattice, LatticeError, Message, respond};
use trellis_types::ctl::{CtlReply, LINKS_KEY_PREFIX, Request, Verb, Link, LinkDelete, SourceLinks, configs_bucket, links_bucket, manager_data_prefix};

use super::LocalFleet;

/// How long a host waits for the acting manager to answer what it relayed.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// The two buckets, opened at the first request a host answers itself.
pub(super) struct LatticeData {
    buckets: OnceCell<(Arc<dyn Bucket>, Arc<dyn Bucket>)>,
}

impl LatticeData {
    pub(super) fn new() -> LatticeData {
        LatticeData { buckets: OnceCell::new() }
    }

    async fn buckets(&self, lattice: &dyn Lattice, name: &str) -> Result<&(Arc<dyn Bucket>, Arc<dyn Bucket>), LatticeError> {
        self.buckets.get_or_try_init(|| async { Ok((lattice.bucket(&links_bucket(name)).await?, lattice.bucket(&configs_bucket(name)).await?)) }).await
    }
}

/// What a host answers itself: the reply, and the event to publish once it is sent.
struct Answer {
    reply: Vec<u8>,
    event: Option<(&'static str, serde_json::Value)>,
}

impl Answer {
    fn reply<T: serde::Serialize>(reply: &CtlReply<T>) -> Answer {
        Answer { reply: serde_json::to_vec(reply).expect("replies serialize"), event: None }
    }

    fn with_event(mut self, event: &'static str, data: serde_json::Value) -> Answer {
        self.event = Some((event, data));
        self
    }
}

impl LocalFleet {
    /// Answers `request` (a `link.*` or `config.*` one): by the acting manager's word when one
    /// acts, by this host's otherwise.
    pub(super) async fn lattice_data(&self, lattice: &dyn Lattice, lattice_name: &str, request: Request<'_>, message: &Message) {
        let rest = request.operation();
        let mut relayed = Message::new(format!("{}.{rest}", manager_data_prefix(lattice_name)), message.payload.clone());
        relayed.headers = message.headers.clone();
        let reply = match lattice.request(relayed, RELAY_TIMEOUT).await {
            Ok(answer) => answer.payload.to_vec(),
            Err(LatticeError::NoResponders { .. }) => {
                let answer = match self.data.buckets(lattice, lattice_name).await {
                    Ok((links, configs)) => answer(links.as_ref(), configs.as_ref(), request, &message.payload).await,
                    Err(e) => Answer::reply(&CtlReply::<()>::fail(format!("{rest}: no Trellis manager acts for the lattice, and the hosts cannot keep lattice data: {e}"))),
                };
                let _ = respond(lattice, message, answer.reply).await;
                if let (Some((event, data)), Some(events), Some(host)) = (answer.event, self.events.get(), self.hosts().first()) {
                    events.emit(host, event, data).await;
                }
                return;
            }
            Err(e) => serde_json::to_vec(&CtlReply::<()>::fail(format!("{rest}: the acting manager did not answer: {e}"))).expect("replies serialize"),
        };
        let _ = respond(lattice, message, reply).await;
    }
}

async fn answer(links: &dyn Bucket, configs: &dyn Bucket, request: Request<'_>, body: &[u8]) -> Answer {
    let fail = |message: String| Answer::reply(&CtlReply::<()>::fail(message));
    match request {
        Request::Link(Verb::Get) => match all_links(links).await {
            Ok(all) => Answer::reply(&CtlReply::ok(all)),
            Err(e) => fail(e.to_string()),
        },
        Request::Link(Verb::Put) => {
            let link: Link = match serde_json::from_slice(body) {
                Ok(l) => l,
                Err(e) => return fail(format!("link.put: the body is not a link ({{\"source_id\", \"target\", \"wit_namespace\", \"wit_package\", \"interfaces\", ...}}): {e}")),
            };
            let data = serde_json::to_value(&link).expect("links serialize");
            match put_link(links, configs, link).await {
                Ok(()) => Answer::reply(&CtlReply::<()>::done("successfully set link")).with_event("linkdef_set", data),
                Err(error) => {
                    let mut failed = data;
                    failed["error"] = json!(error);
                    fail(error).with_event("linkdef_set_failed", failed)
                }
            }
        }
        Request::Link(Verb::Del) => {
            let delete: LinkDelete = match serde_json::from_slice(body) {
                Ok(d) => d,
                Err(e) => return fail(format!("link.del: the body is not {{\"source_id\", \"name\", \"wit_namespace\", \"wit_package\"}}: {e}")),
            };
            match delete_link(links, &delete).await {
                Ok(removed) => Answer::reply(&CtlReply::<()>::done("successfully deleted link")).with_event("linkdef_deleted", delete.event_data(&removed)),
                Err(e) => fail(e.to_string()),
            }
        }
        Request::Config(verb, name) => {
            let event = json!({ "config_name": name });
            match verb {
                Verb::Put => {
                    if let Err(e) = serde_json::from_slice::<std::collections::BTreeMap<String, String>>(body) {
                        return fail(format!("config `{name}` must be a JSON object of strings: {e}"));
                    }
                    match configs.put(name, Bytes::copy_from_slice(body)).await {
                        Ok(()) => Answer::reply(&CtlReply::<()>::done("successfully put config")).with_event("config_set", event),
                        Err(e) => fail(e.to_string()),
                    }
                }
                Verb::Get => match configs.get(name).await {
                    Ok(Some(stored)) => match serde_json::from_slice::<serde_json::Value>(&stored) {
                        Ok(values) => Answer::reply(&CtlReply::ok(values)),
                        Err(e) => fail(format!("config `{name}` in CONFIGDATA is not JSON: {e}")),
                    },
                    Ok(None) => Answer::reply(&CtlReply::<()>::done("Configuration not found")),
                    Err(e) => fail(e.to_string()),
                },
                Verb::Del => match configs.delete(name).await {
                    Ok(()) => Answer::reply(&CtlReply::<()>::done("successfully deleted config")).with_event("config_deleted", event),
                    Err(e) => fail(e.to_string()),
                },
            }
        }
        other => fail(format!("unsupported subject {}", other.operation())),
    }
}

/// The stored links of `source`; none when it has no record.
async fn source_links(links: &dyn Bucket, source: &str) -> Result<SourceLinks, String> {
    let key = format!("{LINKS_KEY_PREFIX}{source}");
    match links.get(&key).await.map_err(|e| e.to_string())? {
        Some(stored) => serde_json::from_slice(&stored).map_err(|e| format!("the links stored under `{key}` do not decode: {e}")),
        None => Ok(SourceLinks::default()),
    }
}

async fn save(links: &dyn Bucket, source: &str, stored: &SourceLinks) -> Result<(), LatticeError> {
    let key = format!("{LINKS_KEY_PREFIX}{source}");
    match stored.links.is_empty() {
        true => links.delete(&key).await,
        false => links.put(&key, serde_json::to_vec(stored).expect("links serialize").into()).await,
    }
}

/// Every stored link, sorted by source, then name and package, as a Trellis manager lists them.
async fn all_links(links: &dyn Bucket) -> Result<Vec<Link>, String> {
    let mut all = Vec::new();
    for key in links.keys().await.map_err(|e| e.to_string())? {
        if let Some(source) = key.strip_prefix(LINKS_KEY_PREFIX) {
            all.extend(source_links(links, source).await?.links);
        }
    }
    all.sort_by(|a, b| (&a.source_id, &a.name, &a.wit_namespace, &a.wit_package).cmp(&(&b.source_id, &b.name, &b.wit_namespace, &b.wit_package)));
    Ok(all)
}

async fn put_link(links: &dyn Bucket, configs: &dyn Bucket, link: Link) -> Result<(), String> {
    let mut known = BTreeSet::new();
    for name in link.source_config.iter().chain(&link.target_config) {
        if configs.get(name).await.map_err(|e| e.to_string())?.is_some() {
            known.insert(name.clone());
        }
    }
    let source = link.source_id.clone();
    let mut stored = source_links(links, &source).await?;
    stored.put(link, |name| known.contains(name))?;
    save(links, &source, &stored).await.map_err(|e| e.to_string())
}

async fn delete_link(links: &dyn Bucket, delete: &LinkDelete) -> Result<Vec<Link>, String> {
    let mut stored = source_links(links, &delete.source_id).await?;
    let removed = stored.delete(delete);
    if !removed.is_empty() {
        save(links, &delete.source_id, &stored).await.map_err(|e| e.to_string())?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_lattice::InProcess;

    async fn ask(lattice: &InProcess, rest: &str, body: serde_json::Value) -> (CtlReply, Option<&'static str>) {
        let links = lattice.bucket("LATTICEDATA_t").await.unwrap();
        let configs = lattice.bucket("CONFIGDATA_t").await.unwrap();
        let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap() };
        let request = Request::parse_operation(rest).expect("a link or config subject");
        let answer = answer(links.as_ref(), configs.as_ref(), request, &body).await;
        (serde_json::from_slice(&answer.reply).unwrap(), answer.event.map(|(e, _)| e))
    }

    fn link(target_config: &[&str]) -> serde_json::Value {
        json!({"source_id": "web", "target": "kv", "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"], "target_config": target_config})
    }

    #[tokio::test]
    async fn a_host_keeps_links_and_config_as_wasmcloud_hosts_do() {
        let lattice = InProcess::new();
        let (refused, event) = ask(&lattice, "link.put", link(&["redis"])).await;
        assert!(!refused.success && refused.message.contains("configuration `redis` not found"), "{refused:?}");
        assert_eq!(event, Some("linkdef_set_failed"));

        let (put, event) = ask(&lattice, "config.put.redis", json!({"url": "redis://127.0.0.1:6379"})).await;
        assert!(put.success && event == Some("config_set"), "{put:?}");
        let (got, _) = ask(&lattice, "config.get.redis", serde_json::Value::Null).await;
        assert_eq!(got.response, Some(json!({"url": "redis://127.0.0.1:6379"})));
        let (bad, _) = ask(&lattice, "config.put.bad", json!({"n": 1})).await;
        assert!(!bad.success && bad.message.contains("JSON object of strings"), "{bad:?}");

        let (put, event) = ask(&lattice, "link.put", link(&["redis"])).await;
        assert!(put.success && event == Some("linkdef_set"), "{put:?}");
        // Stored where and as wasmCloud stores it.
        let stored = lattice.bucket("LATTICEDATA_t").await.unwrap().get("COMPONENT_web").await.unwrap().unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored["links"][0]["target"], "kv");
        let (listed, _) = ask(&lattice, "link.get", serde_json::Value::Null).await;
        assert_eq!(listed.response.unwrap().as_array().unwrap().len(), 1);

        let (deleted, event) = ask(&lattice, "link.del", json!({"source_id": "web", "wit_namespace": "wasi", "wit_package": "keyvalue"})).await;
        assert!(deleted.success && event == Some("linkdef_deleted"), "{deleted:?}");
        assert!(lattice.bucket("LATTICEDATA_t").await.unwrap().keys().await.unwrap().is_empty());
        let (gone, _) = ask(&lattice, "config.del.redis", serde_json::Value::Null).await;
        assert!(gone.success);
        let (missing, _) = ask(&lattice, "config.get.redis", serde_json::Value::Null).await;
        assert!(missing.success && missing.response.is_none() && missing.message == "Configuration not found", "{missing:?}");
    }
}
