//! A capability provider built the way wasmCloud's users build theirs (`wasmcloud-provider-sdk`,
//! `wit-bindgen-wrpc`), so the tests check Trellis against the real launch contract: HostData on
//! stdin, links and config over NATS, health and shutdown requests, exports served over wRPC.
//!
//! It serves `trellis:plain/echo.echo`: the answer is
//! `<greeting>|<prefix>|<text>|<relayed>|<pid>|<secrets>`, where `greeting` is the provider's
//! own config, `prefix` is the config of the caller's link to it, `relayed` is what the component
//! it is linked to answers to the same `echo` (empty without such a link), `pid` is this
//! process's, so a test sees a restart, and `secrets` lists the secrets it was given, its own
//! (`own.<name>=<value>`) and the caller's link's (`link.<name>=<value>`), so a test sees them
//! arrive (and a bytes secret as hex).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::sync::RwLock;
use wasmcloud_provider_sdk::core::secrets::SecretValue;
use wasmcloud_provider_sdk::{Context, LinkConfig, LinkDeleteInfo, Provider, ProviderConfigUpdate, ProviderInitConfig, get_connection, run_provider, serve_provider_exports};

wit_bindgen_wrpc::generate!({ world: "provider", path: "wit", generate_all });

#[derive(Clone, Default)]
struct Echo {
    state: Arc<RwLock<State>>,
}

#[derive(Default)]
struct State {
    greeting: String,
    /// Its own secrets, as `own.<name>=<value>`.
    secrets: Vec<String>,
    /// Components linked to this provider, by id: each link's target config and secrets.
    callers: HashMap<String, (HashMap<String, String>, Vec<String>)>,
    /// The component this provider's own `trellis:plain/echo` link reaches.
    relay: Option<String>,
}

/// `secrets` as `<side>.<name>=<value>`, sorted.
fn listed(side: &str, secrets: &HashMap<String, SecretValue>) -> Vec<String> {
    let mut out: Vec<String> = secrets
        .iter()
        .map(|(name, value)| match value {
            SecretValue::String(s) => format!("{side}.{name}={s}"),
            SecretValue::Bytes(b) => format!("{side}.{name}={}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        })
        .collect();
    out.sort();
    out
}

impl Provider for Echo {
    async fn init(&self, config: impl ProviderInitConfig) -> anyhow::Result<()> {
        let mut state = self.state.write().await;
        state.greeting = config.get_config().get("greeting").cloned().unwrap_or_default();
        state.secrets = listed("own", config.get_secrets());
        Ok(())
    }

    async fn on_config_update(&self, update: impl ProviderConfigUpdate) -> anyhow::Result<()> {
        self.state.write().await.greeting = update.get_values().get("greeting").cloned().unwrap_or_default();
        Ok(())
    }

    async fn receive_link_config_as_target(&self, link: LinkConfig<'_>) -> anyhow::Result<()> {
        self.state.write().await.callers.insert(link.source_id.to_owned(), (link.config.clone(), listed("link", link.secrets)));
        Ok(())
    }

    async fn receive_link_config_as_source(&self, link: LinkConfig<'_>) -> anyhow::Result<()> {
        self.state.write().await.relay = Some(link.target_id.to_owned());
        Ok(())
    }

    async fn delete_link_as_target(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        self.state.write().await.callers.remove(info.get_source_id());
        Ok(())
    }

    async fn delete_link_as_source(&self, _info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        self.state.write().await.relay = None;
        Ok(())
    }
}

impl exports::trellis::plain::echo::Handler<Option<Context>> for Echo {
    async fn echo(&self, cx: Option<Context>, data: Bytes) -> anyhow::Result<Bytes> {
        let caller = cx.and_then(|cx| cx.component).unwrap_or_default();
        let (greeting, prefix, relay, secrets) = {
            let state = self.state.read().await;
            let Some((config, link_secrets)) = state.callers.get(&caller) else {
                return Ok(Bytes::from(format!("no link from `{caller}`")));
            };
            let secrets = state.secrets.iter().chain(link_secrets).cloned().collect::<Vec<_>>().join(",");
            (state.greeting.clone(), config.get("prefix").cloned().unwrap_or_default(), state.relay.clone(), secrets)
        };
        let relayed = match relay {
            Some(target) => {
                let client = get_connection().get_wrpc_client(&target).await?;
                let back = trellis::plain::echo::echo(&client, None, &data).await.with_context(|| format!("relaying to `{target}`"))?;
                String::from_utf8_lossy(&back).into_owned()
            }
            None => String::new(),
        };
        Ok(Bytes::from(format!("{greeting}|{prefix}|{}|{relayed}|{}|{secrets}", String::from_utf8_lossy(&data), std::process::id())))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let provider = Echo::default();
    let shutdown = run_provider(provider.clone(), "echo-provider").await.context("starting the provider")?;
    let connection = get_connection();
    let wrpc = connection.get_wrpc_client(connection.provider_key()).await?;
    serve_provider_exports(&wrpc, provider, shutdown, serve).await.context("serving exports")
}
