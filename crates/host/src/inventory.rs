//! A host as the control interface shows it: `host.ping`'s [`HostInfo`], `host.get`'s and the
//! heartbeat's [`HostInventory`], and the names people read.

use std::collections::BTreeMap;

use trellis_types::inventory::{ComponentDescription, HostInfo, HostInventory, ProviderDescription, human_duration};

use crate::Host;
use crate::unmanaged::Unmanaged;

/// The version hosts report.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The annotation wadm puts on an application's components, naming the application.
const APPSPEC_ANNOTATION: &str = "wasmcloud.dev/appspec";

impl Host {
    /// The answer to `host.ping`.
    pub fn info(&self, lattice: &str) -> HostInfo {
        let uptime = self.started.elapsed().as_secs();
        HostInfo {
            id: self.id.clone(),
            friendly_name: self.friendly_name.clone(),
            labels: self.labels(),
            lattice: lattice.to_owned(),
            uptime_seconds: uptime,
            uptime_human: Some(human_duration(uptime)),
            version: Some(VERSION.to_owned()),
        }
    }

    /// What runs here, in wasmCloud's shape, with each application's state for the manager.
    pub async fn inventory(&self) -> HostInventory {
        let report = self.report().await;
        let apps = self.apps.lock().await;
        let providers = apps
            .values()
            .filter_map(|running| match &running.unmanaged {
                Some(Unmanaged::Provider(p)) => Some(ProviderDescription {
                    id: p.provider_id.clone(),
                    image_ref: Some(p.image_ref.clone()),
                    name: None,
                    revision: 0,
                    annotations: Some(p.annotations.clone()),
                }),
                _ => None,
            })
            .collect();
        let components = apps
            .iter()
            .flat_map(|(app, running)| {
                let annotations = running.unmanaged.as_ref().map(|u| u.annotations().clone()).unwrap_or_else(|| BTreeMap::from([(APPSPEC_ANNOTATION.to_owned(), app.name().to_owned())]));
                let named = running.unmanaged.is_none();
                running.deployment.components.iter().map(move |c| ComponentDescription {
                    id: c.id.clone(),
                    image_ref: c.image_ref.clone(),
                    name: named.then(|| c.name.clone()),
                    annotations: Some(annotations.clone()),
                    revision: 0,
                    max_instances: c.max_instances,
                })
            })
            .collect();
        drop(apps);
        let uptime = self.started.elapsed().as_secs();
        HostInventory {
            components,
            providers,
            host_id: report.id,
            friendly_name: self.friendly_name.clone(),
            labels: report.labels,
            version: VERSION.to_owned(),
            uptime_human: human_duration(uptime),
            uptime_seconds: uptime,
            trellis_apps: Some(report.apps),
            trellis_scale_failures: self.scale_failures(),
        }
    }
}

/// `adjective-noun-NN`, picked by the id so a host keeps its name in every view.
pub(crate) fn friendly_name(id: &str) -> String {
    const ADJECTIVES: [&str; 16] =
        ["amber", "brave", "calm", "deft", "eager", "fleet", "green", "hardy", "ivory", "jolly", "keen", "lucid", "mellow", "noble", "quiet", "swift"];
    const NOUNS: [&str; 16] =
        ["alder", "birch", "cedar", "elm", "fern", "hazel", "ivy", "juniper", "laurel", "maple", "oak", "pine", "rowan", "sage", "vine", "willow"];
    // An nkey's public key is random base32 after its first character; FNV-1a mixes it.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{}-{}-{}", ADJECTIVES[(hash % 16) as usize], NOUNS[(hash >> 8) as usize % 16], (hash >> 16) % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_host_keeps_its_name() {
        let a = super::friendly_name("NAAAA");
        assert_eq!(a, super::friendly_name("NAAAA"));
        assert_eq!(a.split('-').count(), 3, "{a}");
    }
}
