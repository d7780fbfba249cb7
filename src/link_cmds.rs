//! `trellis link put|del|get`: links outside manifests, with `wash link`'s arguments. A link
//! binds a source's import (`NAMESPACE:PACKAGE/INTERFACE` under a link name) to a target id; a
//! host applies it to the source when it runs it outside a manifest (`trellis start component`).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use trellis_types::ctl::{Link, LinkDelete, Request, Verb};

use crate::app::Connection;
use crate::client::Client;
use crate::output::{Format, print_json, table};

#[derive(Subcommand)]
pub(crate) enum LinkCommand {
    /// Bind SOURCE's import of NAMESPACE:PACKAGE/INTERFACE to TARGET:
    /// `trellis link put caller callee trellis calls --interface greeter`.
    Put {
        /// The component whose import this binds.
        source_id: String,
        /// The component that answers.
        target: String,
        /// `wasi` in `wasi:keyvalue/store`.
        wit_namespace: String,
        /// `keyvalue` in `wasi:keyvalue/store`.
        wit_package: String,
        /// An interface of the package (repeat for several).
        #[arg(short, long = "interface", required = true)]
        interfaces: Vec<String>,
        /// The link name, for components that pick among links (`wasmcloud:bus/lattice`).
        #[arg(short, long, default_value = "default")]
        link_name: String,
        /// Named config for the source end (repeatable).
        #[arg(long)]
        source_config: Vec<String>,
        /// Named config for the target end (repeatable).
        #[arg(long)]
        target_config: Vec<String>,
    },
    /// Remove SOURCE's link for NAMESPACE:PACKAGE with the given link name.
    Del {
        /// The link's source.
        source_id: String,
        /// Its package's namespace.
        wit_namespace: String,
        /// Its package.
        wit_package: String,
        /// The link name.
        #[arg(short, long, default_value = "default")]
        link_name: String,
    },
    /// Every link: those manifests declare and those put here (same as `trellis get links`).
    Get {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

pub(crate) fn run(cmd: LinkCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    crate::block_on(async move {
        match cmd {
            LinkCommand::Put { source_id, target, wit_namespace, wit_package, interfaces, link_name, source_config, target_config } => {
                let link = Link { source_id, target, name: link_name, wit_namespace, wit_package, interfaces, source_config, target_config };
                client.ctl(Request::Link(Verb::Put), serde_json::to_vec(&link)?).await?;
                println!("linked {}'s {}:{}/{} ({}) to {}", link.source_id, link.wit_namespace, link.wit_package, link.interfaces.join(","), link.name, link.target);
            }
            LinkCommand::Del { source_id, wit_namespace, wit_package, link_name } => {
                let del = LinkDelete { source_id, name: link_name, wit_namespace, wit_package };
                client.ctl(Request::Link(Verb::Del), serde_json::to_vec(&del)?).await?;
                println!("deleted {}'s link {} for {}:{}", del.source_id, del.name, del.wit_namespace, del.wit_package);
            }
            LinkCommand::Get { output } => return get(&client, output).await,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `trellis link get` and `trellis get links`.
pub(crate) async fn get(client: &Client, output: Format) -> anyhow::Result<ExitCode> {
    let reply = client.ctl(Request::Link(Verb::Get), Vec::new()).await?;
    let links: Vec<Link> = serde_json::from_value(reply["response"].clone()).unwrap_or_default();
    match output {
        Format::Json => print_json(&json!(links)),
        Format::Text => {
            let rows = links
                .iter()
                .map(|l| vec![l.source_id.clone(), l.name.clone(), format!("{}:{}/{}", l.wit_namespace, l.wit_package, l.interfaces.join(",")), l.target.clone()])
                .collect();
            table(&["SOURCE", "NAME", "INTERFACES", "TARGET"], rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
