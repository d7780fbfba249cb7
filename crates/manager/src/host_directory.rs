//! wadm's host directory: the `host_<lattice>` entry of JetStream bucket `wadm_state`, a map of
//! host id → what wadm knows of the host (components and their counts, providers, labels,
//! version, uptime, when it was last seen). wadm keeps it from the hosts' heartbeats; wasmCloud's
//! dashboard library (`@wasmcloud/lattice-client-core`) lists a lattice's hosts from it, so a
//! Trellis manager keeps it the same way, for every host it hears (Trellis's or not).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::time::Instant;
use trellis_lattice::{Bucket, Lattice, LatticeError, Message};
use trellis_types::inventory::{CloudEvent, event_subject};

/// The bucket wadm keeps its state in.
pub(crate) const WADM_STATE_BUCKET: &str = "wadm_state";
/// How often the entry is written at most, however many heartbeats come.
const MIN_WRITE_SPACING: Duration = Duration::from_secs(1);

/// The key of lattice `lattice`'s host map in [`WADM_STATE_BUCKET`].
pub(crate) fn host_key(lattice: &str) -> String {
    format!("host_{lattice}")
}

/// Keeps `host_<lattice>` in `wadm_state` from the lattice's host events, until the lattice
/// closes. A host unheard for three heartbeats is dropped, as wadm drops it.
pub(crate) async fn keep(lattice: Arc<dyn Lattice>, name: &str, heartbeat: Duration) -> Result<(), LatticeError> {
    let bucket = lattice.bucket(WADM_STATE_BUCKET).await?;
    let mut events = futures::stream::select_all([
        lattice.subscribe(&event_subject(name, "host_heartbeat"), None).await?,
        lattice.subscribe(&event_subject(name, "host_started"), None).await?,
        lattice.subscribe(&event_subject(name, "host_stopped"), None).await?,
    ]);
    let key = host_key(name);
    tokio::spawn(async move {
        let mut directory = Directory::default();
        let mut ticks = tokio::time::interval(MIN_WRITE_SPACING);
        let mut last_write = Instant::now() - MIN_WRITE_SPACING;
        loop {
            tokio::select! {
                message = events.next() => match message {
                    Some(message) => directory.heard(&message),
                    None => return,
                },
                _ = ticks.tick() => directory.expire(heartbeat * 3),
            }
            if directory.dirty && last_write.elapsed() >= MIN_WRITE_SPACING {
                write(bucket.as_ref(), &key, &mut directory).await;
                last_write = Instant::now();
            }
        }
    });
    Ok(())
}

async fn write(bucket: &dyn Bucket, key: &str, directory: &mut Directory) {
    let hosts: BTreeMap<&String, &serde_json::Value> = directory.hosts.iter().map(|(id, (host, _))| (id, host)).collect();
    let body = serde_json::to_vec(&hosts).expect("host entries serialize");
    match bucket.put(key, body.into()).await {
        Ok(()) => directory.dirty = false,
        Err(e) => tracing::debug!(error = %e, "could not write wadm's host directory"),
    }
}

#[derive(Default)]
struct Directory {
    hosts: BTreeMap<String, (serde_json::Value, Instant)>,
    dirty: bool,
}

impl Directory {
    fn heard(&mut self, message: &Message) {
        let Ok(event) = serde_json::from_slice::<CloudEvent>(&message.payload) else { return };
        match event.name() {
            "host_stopped" => self.dirty |= self.hosts.remove(&event.source).is_some(),
            // A host_started carries no inventory: it does not empty a known one.
            "host_started" if self.hosts.contains_key(&event.source) => {}
            "host_heartbeat" | "host_started" => {
                let entry = wadm_host(&event.source, &event.time, &event.data);
                self.dirty = true;
                self.hosts.insert(event.source, (entry, Instant::now()));
            }
            _ => {}
        }
    }

    fn expire(&mut self, after: Duration) {
        let before = self.hosts.len();
        self.hosts.retain(|_, (_, seen)| seen.elapsed() <= after);
        self.dirty |= self.hosts.len() != before;
    }
}

/// wadm's record of a host, from the data of its heartbeat (or `host_started`).
fn wadm_host(id: &str, time: &str, data: &serde_json::Value) -> serde_json::Value {
    let list = |field: &str| data.get(field).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let components: serde_json::Map<String, serde_json::Value> = list("components")
        .iter()
        .filter_map(|c| Some((c.get("id")?.as_str()?.to_owned(), c.get("max_instances").cloned().unwrap_or(1.into()))))
        .collect();
    let providers: Vec<serde_json::Value> = list("providers")
        .iter()
        .filter_map(|p| {
            Some(serde_json::json!({
                "provider_id": p.get("id")?.as_str()?,
                "provider_ref": p.get("image_ref").and_then(|r| r.as_str()).unwrap_or(""),
                "annotations": p.get("annotations").cloned().unwrap_or_else(|| serde_json::json!({})),
            }))
        })
        .collect();
    serde_json::json!({
        "id": id,
        "components": components,
        "providers": providers,
        "friendly_name": data.get("friendly_name").cloned().unwrap_or_default(),
        "labels": data.get("labels").cloned().unwrap_or_else(|| serde_json::json!({})),
        "uptime_seconds": data.get("uptime_seconds").cloned().unwrap_or(0.into()),
        "version": data.get("version").cloned().unwrap_or(serde_json::Value::Null),
        "last_seen": time,
    })
}

#[cfg(test)]
mod tests {
    use trellis_lattice::InProcess;

    use super::*;

    async fn publish(lattice: &dyn Lattice, host: &str, name: &str, data: serde_json::Value) {
        let event = CloudEvent::now(host, name, data);
        lattice.publish(Message::new(event_subject("default", name), serde_json::to_vec(&event).unwrap())).await.unwrap();
    }

    async fn entry(bucket: &dyn Bucket, until: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(bytes) = bucket.get("host_default").await.unwrap() {
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                if until(&value) {
                    return value;
                }
            }
            assert!(Instant::now() < deadline, "the host directory never got there");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn heartbeats_fill_wadms_host_entry_and_a_stopped_host_leaves_it() {
        let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
        keep(lattice.clone(), "default", Duration::from_secs(30)).await.unwrap();
        let heartbeat = serde_json::json!({
            "components": [{"id": "hello-http", "image_ref": "file:///h.wasm", "max_instances": 4, "revision": 0}],
            "providers": [{"id": "kv", "image_ref": "ghcr.io/wasmcloud/keyvalue-redis:0.28.1", "annotations": {"wasmcloud.dev/appspec": "app"}}],
            "friendly_name": "eager-ivy-57", "labels": {"zone": "a"}, "uptime_seconds": 12, "version": "0.1.0",
        });
        publish(lattice.as_ref(), "NHOSTA", "host_heartbeat", heartbeat).await;
        publish(lattice.as_ref(), "NHOSTB", "host_started", serde_json::json!({"friendly_name": "b", "labels": {}, "uptime_seconds": 0, "version": "0.1.0"})).await;
        let bucket = lattice.bucket(WADM_STATE_BUCKET).await.unwrap();
        let hosts = entry(bucket.as_ref(), |v| v.as_object().is_some_and(|m| m.len() == 2)).await;
        let a = &hosts["NHOSTA"];
        assert_eq!(a["id"], "NHOSTA");
        assert_eq!(a["components"], serde_json::json!({"hello-http": 4}));
        assert_eq!(a["providers"][0]["provider_id"], "kv");
        assert_eq!(a["providers"][0]["provider_ref"], "ghcr.io/wasmcloud/keyvalue-redis:0.28.1");
        assert_eq!((a["friendly_name"].as_str(), a["labels"]["zone"].as_str(), a["uptime_seconds"].as_u64()), (Some("eager-ivy-57"), Some("a"), Some(12)));
        assert!(a["last_seen"].as_str().is_some_and(|t| t.contains('T')), "{a}");
        assert_eq!(hosts["NHOSTB"]["components"], serde_json::json!({}));

        publish(lattice.as_ref(), "NHOSTA", "host_stopped", serde_json::json!({"labels": {}})).await;
        let hosts = entry(bucket.as_ref(), |v| v.get("NHOSTA").is_none()).await;
        assert!(hosts.get("NHOSTB").is_some(), "{hosts}");
    }
}
