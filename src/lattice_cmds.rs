//! Lattice commands: named config, hosts and their labels.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;

use trellis_types::ctl::{CtlReply, HostLabel, HostOp, Request, Verb};
use trellis_types::inventory::{HostInfo, HostInventory};

use crate::app::Connection;
use crate::client::Client;
use crate::output::{Format, print_json, table};

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Create or replace named config: `trellis config put NAME KEY=VALUE...`.
    Put {
        /// Config name.
        name: String,
        /// Entries.
        #[arg(required = true, value_name = "KEY=VALUE")]
        entries: Vec<String>,
    },
    /// Print named config.
    Get {
        /// Config name.
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Delete named config.
    Del {
        /// Config name.
        name: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum GetCommand {
    /// The hosts of the lattice, their labels and what they run.
    Hosts {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Every link: those manifests declare and those put with `trellis link put`.
    Links {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Named config (`trellis config get NAME`).
    Config {
        /// Config name.
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// The components and providers one host runs (all hosts without HOST).
    Inventory {
        /// Host id.
        host: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Subcommand)]
pub(crate) enum StopCommand {
    /// Stop a host; the manager moves its share of each application elsewhere.
    Host {
        /// Host id.
        id: String,
    },
    /// Stop a component started with `trellis start component` (on every host running it, or `--host`).
    Component {
        /// Component id.
        id: String,
        /// Only on this host.
        #[arg(long)]
        host: Option<String>,
    },
    /// Stop a provider started with `trellis start provider` (on every host running it, or `--host`).
    Provider {
        /// Provider id.
        id: String,
        /// Only on this host.
        #[arg(long)]
        host: Option<String>,
    },
}

pub(crate) fn config(cmd: ConfigCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    crate::block_on(async move {
        match cmd {
            ConfigCommand::Put { name, entries } => {
                let mut values = serde_json::Map::new();
                for e in &entries {
                    let Some((k, v)) = e.split_once('=') else { bail!("`{e}` is not KEY=VALUE") };
                    values.insert(k.to_owned(), json!(v));
                }
                let reply = client.ctl(Request::Config(Verb::Put, &name), serde_json::to_vec(&values)?).await?;
                println!("{}", reply["message"].as_str().unwrap_or("ok"));
            }
            ConfigCommand::Get { name, output } => return config_get(&client, &name, output).await,
            ConfigCommand::Del { name } => {
                client.ctl(Request::Config(Verb::Del, &name), Vec::new()).await?;
                println!("deleted config {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trellis config get NAME` and `trellis get config NAME`.
async fn config_get(client: &Client, name: &str, output: Format) -> anyhow::Result<ExitCode> {
    let reply = client.ctl(Request::Config(Verb::Get, name), Vec::new()).await?;
    let Some(values) = reply.get("response").and_then(|r| r.as_object()) else { bail!("config `{name}` is not defined") };
    match output {
        Format::Json => print_json(&json!(values)),
        Format::Text => table(&["KEY", "VALUE"], values.iter().map(|(k, v)| vec![k.clone(), v.as_str().unwrap_or_default().to_owned()]).collect()),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn get(cmd: GetCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    crate::block_on(async move {
        let (host, output, components) = match cmd {
            GetCommand::Hosts { output } => (None, output, false),
            GetCommand::Inventory { host, output } => (host, output, true),
            GetCommand::Links { output } => return crate::link_cmds::get(&client, output).await,
            GetCommand::Config { name, output } => return config_get(&client, &name, output).await,
        };
        let inventories = match host {
            Some(id) => vec![inventory(&client, &id).await?],
            None => {
                let mut all = Vec::new();
                for id in host_ids(&client).await? {
                    all.push(inventory(&client, &id).await?);
                }
                all
            }
        };
        match (output, components) {
            (Format::Json, _) => print_json(&json!(inventories)),
            (Format::Text, false) => {
                let rows = inventories
                    .iter()
                    .map(|h| {
                        let labels: Vec<String> = h.labels.iter().filter(|(k, _)| !k.starts_with("hostcore.")).map(|(k, v)| format!("{k}={v}")).collect();
                        let apps: Vec<String> = h.trellis_apps.iter().flat_map(|a| a.keys().cloned()).collect();
                        vec![h.host_id.clone(), h.friendly_name.clone(), labels.join(","), apps.join(","), h.uptime_human.clone()]
                    })
                    .collect();
                table(&["HOST", "NAME", "LABELS", "APPS", "UPTIME"], rows);
            }
            (Format::Text, true) => {
                let rows = inventories
                    .iter()
                    .flat_map(|h| {
                        let components = h.components.iter().map(|c| vec![h.host_id.clone(), "component".into(), c.id.clone(), c.image_ref.clone(), c.max_instances.to_string()]);
                        let providers = h.providers.iter().map(|p| vec![h.host_id.clone(), "provider".into(), p.id.clone(), p.image_ref.clone().unwrap_or_default(), String::new()]);
                        components.chain(providers)
                    })
                    .collect();
                table(&["HOST", "KIND", "ID", "IMAGE", "MAX INSTANCES"], rows);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Every host that answers `host.ping`, sorted by id.
pub(crate) async fn host_ids(client: &Client) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for body in client.gather(client.ctl_subject(Request::HostPing), Vec::new()).await? {
        let reply: CtlReply<HostInfo> = serde_json::from_slice(&body).context("a host's answer to host.ping")?;
        ids.extend(reply.response.map(|h| h.id));
    }
    ids.sort();
    Ok(ids)
}

pub(crate) async fn inventory(client: &Client, id: &str) -> anyhow::Result<HostInventory> {
    let reply = client.ctl(Request::OnHost(HostOp::HostGet, id), Vec::new()).await.with_context(|| format!("host {id}"))?;
    serde_json::from_value(reply["response"].clone()).with_context(|| format!("host {id}'s inventory"))
}

/// `trellis label HOST KEY=VALUE [--delete]`.
pub(crate) fn label(host: &str, label: &str, delete: bool, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    let (key, value) = match (label.split_once('='), delete) {
        (Some((k, v)), false) => (k.to_owned(), Some(v.to_owned())),
        (None, true) => (label.to_owned(), None),
        (Some((k, _)), true) => (k.to_owned(), None),
        (None, false) => bail!("`{label}` is not KEY=VALUE (use --delete KEY to remove a label)"),
    };
    crate::block_on(async move {
        let op = if delete { HostOp::LabelDel } else { HostOp::LabelPut };
        let label = HostLabel { key, value: value.unwrap_or_default() };
        let reply = client.ctl(Request::OnHost(op, host), serde_json::to_vec(&label)?).await?;
        println!("{}", reply["message"].as_str().unwrap_or("ok"));
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) fn stop(cmd: StopCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    crate::block_on(async move {
        match cmd {
            StopCommand::Host { id } => {
                let reply = client.ctl(Request::OnHost(HostOp::HostStop, &id), Vec::new()).await?;
                println!("{}", reply["message"].as_str().unwrap_or("ok"));
                Ok(ExitCode::SUCCESS)
            }
            StopCommand::Component { id, host } => crate::component_cmds::stop_component(&client, &id, host).await,
            StopCommand::Provider { id, host } => crate::component_cmds::stop_provider(&client, &id, host).await,
        }
    })
}
