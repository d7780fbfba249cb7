//! Components and providers outside manifests: `trellis scale component`, `trellis start
//! component|provider`, `trellis stop component|provider`, over the control interface as `wash`
//! does it. A host answers a scale at once and works after; these commands wait until the
//! host's inventory shows the result.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use trellis_types::ctl::{AuctionRequest, HostOp, Request, ScaleComponentCommand, StartProviderCommand, StopProviderCommand};

use crate::app::Connection;
use crate::client::Client;
use crate::lattice_cmds::{host_ids, inventory};

#[derive(Subcommand)]
pub(crate) enum ScaleCommand {
    /// Set a component's maximum concurrent instances on a host, starting or stopping it.
    Component(ScaleArgs),
}

#[derive(Args)]
pub(crate) struct ScaleArgs {
    /// Host id.
    host: String,
    /// Component id (letters, digits, `-`, `_`).
    component_id: String,
    /// Where its code is: a path or `file://` URL.
    image: String,
    /// Maximum concurrent instances; 0 stops it.
    #[arg(long, short = 'c', alias = "max-instances", default_value_t = 1)]
    count: u32,
    #[command(flatten)]
    options: ComponentOptions,
}

#[derive(Args)]
pub(crate) struct ComponentOptions {
    /// Named config the component reads (repeatable); put it first with `trellis config put`.
    #[arg(long = "config", value_name = "NAME")]
    configs: Vec<String>,
    /// Replace the image of a component that already runs with a different one.
    #[arg(long)]
    allow_update: bool,
    /// How long to wait for the host to show the result.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

#[derive(Subcommand)]
pub(crate) enum StartCommand {
    /// Start a component on a host that bids for it (or on `--host`).
    Component {
        /// Where its code is: a path or `file://` URL.
        image: String,
        /// Component id (letters, digits, `-`, `_`).
        component_id: String,
        /// The host; without it, the first host whose labels satisfy `--constraint` bids.
        #[arg(long)]
        host: Option<String>,
        /// A label the host must carry (`KEY=VALUE`, repeatable).
        #[arg(long = "constraint", value_name = "KEY=VALUE", value_parser = crate::node::parse_labels)]
        constraints: Vec<BTreeMap<String, String>>,
        /// Maximum concurrent instances.
        #[arg(long, short = 'c', alias = "max-instances", default_value_t = 1)]
        count: u32,
        #[command(flatten)]
        options: ComponentOptions,
    },
    /// Start a provider that links name by id: a built-in capability
    /// (`trellis start provider ghcr.io/wasmcloud/http-server:0.24.0 http-server`), or on a NATS
    /// lattice a provider archive run as a process (`trellis start provider ./my.par.gz my-provider`).
    Provider {
        /// A wasmCloud provider image Trellis serves itself, `wasmcloud+builtin://NAME`, or a
        /// provider archive: a `.par.gz` path or an OCI reference.
        image: String,
        /// Provider id.
        provider_id: String,
        /// The host; without it, the first host that answers.
        #[arg(long)]
        host: Option<String>,
        /// Named config of the provider (repeatable), e.g. the http-server's `routing_mode`.
        #[arg(long)]
        config: Vec<String>,
    },
}

pub(crate) fn scale(cmd: ScaleCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    let ScaleCommand::Component(args) = cmd;
    crate::block_on(async move { scale_on(&client, &args.host, &args.component_id, &args.image, args.count, &args.options).await })
}

pub(crate) fn start(cmd: StartCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    crate::block_on(start_on(&client, cmd))
}

async fn start_on(client: &Client, cmd: StartCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StartCommand::Component { image, component_id, host, constraints, count, options } => {
            let host = match host {
                Some(h) => h,
                None => {
                    let constraints: BTreeMap<_, _> = constraints.into_iter().flatten().collect();
                    let auction = AuctionRequest { component_ref: image.clone(), component_id: component_id.clone(), constraints };
                    let bids = client.gather(client.ctl_subject(Request::ComponentAuction), serde_json::to_vec(&auction)?).await?;
                    first_bid(bids, &component_id)?
                }
            };
            scale_on(client, &host, &component_id, &image, count, &options).await
        }
        StartCommand::Provider { image, provider_id, host, config } => {
            let host = given_or_any_host(client, host).await?;
            let body = StartProviderCommand { provider_id, provider_ref: image, host_id: host.clone(), config, annotations: None };
            let reply = client.ctl(Request::OnHost(HostOp::ProviderStart, &host), serde_json::to_vec(&body)?).await?;
            println!("{}", reply["message"].as_str().unwrap_or("ok"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Stops component `id` on `host`, or on every host that runs it.
pub(crate) async fn stop_component(client: &Client, id: &str, host: Option<String>) -> anyhow::Result<ExitCode> {
    let hosts = given_or_running(client, host, "component", id, |inv| inv.components.iter().any(|c| c.id == id)).await?;
    let options = ComponentOptions { configs: Vec::new(), allow_update: false, timeout: 60 };
    for h in hosts {
        scale_on(client, &h, id, "", 0, &options).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops provider `id` on `host`, or on every host that runs it.
pub(crate) async fn stop_provider(client: &Client, id: &str, host: Option<String>) -> anyhow::Result<ExitCode> {
    let hosts = given_or_running(client, host, "provider", id, |inv| inv.providers.iter().any(|p| p.id == id)).await?;
    for host in hosts {
        let body = StopProviderCommand { provider_id: id.to_owned(), host_id: host.clone() };
        let reply = client.ctl(Request::OnHost(HostOp::ProviderStop, &host), serde_json::to_vec(&body)?).await?;
        println!("{host}: {}", reply["message"].as_str().unwrap_or("ok"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `[host]`, or else every host whose inventory `runs` accepts; fails naming the `kind` and `id`
/// when none does.
async fn given_or_running(
    client: &Client,
    host: Option<String>,
    kind: &str,
    id: &str,
    runs: impl Fn(&trellis_types::inventory::HostInventory) -> bool,
) -> anyhow::Result<Vec<String>> {
    if let Some(h) = host {
        return Ok(vec![h]);
    }
    let mut running = Vec::new();
    for h in host_ids(client).await? {
        if runs(&inventory(client, &h).await?) {
            running.push(h);
        }
    }
    if running.is_empty() {
        bail!("{kind} `{id}` runs on no host of the lattice");
    }
    Ok(running)
}

/// `host`, or else the first host that answers `host.ping`.
async fn given_or_any_host(client: &Client, host: Option<String>) -> anyhow::Result<String> {
    match host {
        Some(h) => Ok(h),
        None => host_ids(client).await?.into_iter().next().context("no host answers on the lattice"),
    }
}

fn first_bid(bids: Vec<Vec<u8>>, component_id: &str) -> anyhow::Result<String> {
    for body in bids {
        let reply: serde_json::Value = serde_json::from_slice(&body).context("a host's bid")?;
        if let Some(host) = reply["response"]["host_id"].as_str() {
            return Ok(host.to_owned());
        }
    }
    bail!("no host bid for component `{component_id}`: none matches the constraints, or every matching host runs it already (give --host to rescale)")
}

async fn scale_on(client: &Client, host: &str, id: &str, image: &str, count: u32, options: &ComponentOptions) -> anyhow::Result<ExitCode> {
    let command = ScaleComponentCommand {
        component_ref: image.to_owned(),
        component_id: id.to_owned(),
        host_id: host.to_owned(),
        max_instances: count,
        config: options.configs.clone(),
        allow_update: options.allow_update,
        ..Default::default()
    };
    let reply = client.ctl(Request::OnHost(HostOp::ComponentScale, host), serde_json::to_vec(&command)?).await.with_context(|| format!("host {host}"))?;
    eprintln!("{}", reply["message"].as_str().unwrap_or("accepted"));
    let deadline = Instant::now() + Duration::from_secs(options.timeout);
    loop {
        let inventory = inventory(client, host).await?;
        if let Some(reason) = inventory.trellis_scale_failures.get(id) {
            bail!("host {host} could not scale component `{id}`: {reason}");
        }
        let now = inventory.components.into_iter().find(|c| c.id == id).map_or(0, |c| c.max_instances);
        if now == count {
            match count {
                0 => println!("component {id} stopped on host {host}"),
                n => println!("component {id} runs on host {host} with up to {n} instances"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            bail!(
                "component `{id}` on host {host} has {now} instances, not {count}, after {} s: the host's `component_scale_failed` event and log say why",
                options.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
