//! `trellis ui`: the web dashboard of a NATS lattice, served by a process of its own (as `wash
//! ui` serves washboard), reading and changing the lattice through its subjects.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use trellis_lattice::Lattice;

use crate::app::Connection;
use crate::node;

#[derive(Args)]
pub(crate) struct UiArgs {
    /// Where to serve the dashboard. An address other than loopback needs --api-token.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:3030", env = "TRELLIS_UI_ADDRESS")]
    listen: SocketAddr,
    /// Log level filter (`info`, `debug`, `trellis_api=debug`, ...).
    #[arg(long, default_value = "warn", env = "TRELLIS_LOG")]
    log_level: String,
}

pub(crate) fn ui(args: UiArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    node::init_logging(&args.log_level);
    let Some(nats_options) = connection.nats.options("") else {
        anyhow::bail!(
            "`trellis ui` serves the dashboard of a NATS lattice: give --nats nats://HOST:PORT. An embedded `trellis up` serves its own dashboard at its API address (http://127.0.0.1:7151/)"
        );
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let nats = node::connect_patiently(connection, "ui").await?;
        let mode = format!("NATS {}", nats_options.url);
        let serving = crate::up::serve_api(("--listen", args.listen), connection, &mode, nats as Arc<dyn Lattice>).await?;
        println!("Dashboard of lattice `{}`: {}", connection.lattice, serving.dashboard_url);
        node::shutdown_signal().await;
        Ok(ExitCode::SUCCESS)
    })
}
