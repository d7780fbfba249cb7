//! `trellis operator`: the Kubernetes operator (crate `trellis-operator`) joined to the
//! lattice's NATS, with health endpoints for its pod; `trellis operator crds` prints its
//! custom resource definitions.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::{Args, Subcommand};
use trellis_operator::{HostDefaults, Readiness, Settings};

use crate::app::Connection;
use crate::node::{connect, init_logging, shutdown_signal};

#[derive(Args)]
pub(crate) struct OperatorCmd {
    #[command(subcommand)]
    command: Option<OperatorCommand>,
    /// The image of host pods whose WasmCloudHostConfig names none.
    #[arg(long, env = "TRELLIS_HOST_IMAGE", value_name = "IMAGE", default_value = concat!("trellis:", env!("CARGO_PKG_VERSION")))]
    host_image: String,
    /// `imagePullPolicy` of host containers (`Never` for images imported into the node).
    #[arg(long, env = "TRELLIS_HOST_IMAGE_PULL_POLICY", value_name = "POLICY", value_parser = ["Always", "IfNotPresent", "Never"])]
    host_image_pull_policy: Option<String>,
    /// Where `/healthz` and `/readyz` answer (the pod's probes).
    #[arg(long, env = "TRELLIS_HEALTH_ADDRESS", value_name = "ADDR", default_value = "0.0.0.0:8081")]
    health_address: SocketAddr,
    /// Apply the custom resource definitions at start (needs permission on
    /// customresourcedefinitions; the chart installs them instead).
    #[arg(long)]
    install_crds: bool,
    /// Names this operator in Events.
    #[arg(long, env = "POD_NAME", value_name = "NAME", default_value = "trellis-operator")]
    instance: String,
    /// Log filter (tracing's `RUST_LOG` syntax), e.g. `info` or `trellis_operator=debug`.
    #[arg(long, env = "WASMCLOUD_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Print the custom resource definitions: `trellis operator crds | kubectl apply -f -`.
    Crds,
}

/// Runs the operator until SIGTERM, or prints its CRDs.
pub(crate) fn operator(cmd: OperatorCmd, connection: &Connection) -> anyhow::Result<ExitCode> {
    if let Some(OperatorCommand::Crds) = cmd.command {
        for crd in trellis_operator::crd::definitions() {
            println!("---\n{}", serde_json::to_string_pretty(&crd)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(&cmd.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let readiness = Readiness::default();
        let listener = tokio::net::TcpListener::bind(cmd.health_address).await.with_context(|| format!("--health-address {}", cmd.health_address))?;
        let health = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|State(r): State<Readiness>| async move { if r.is_ready() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "starting") } }))
            .with_state(readiness.clone());
        tokio::spawn(async move { axum::serve(listener, health).await });
        let client = kube::Client::try_default().await.context("finding the Kubernetes API (in-cluster service account, or KUBECONFIG / ~/.kube/config)")?;
        if cmd.install_crds {
            trellis_operator::install_crds(&client).await?;
        }
        // NATS may come up after the operator: keep trying, the pod stays unready meanwhile.
        let nats = loop {
            match connect(connection, "operator").await {
                Ok(nats) => break nats,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "NATS not reachable yet; retrying in 2 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(2)) => {}
                        () = shutdown_signal() => return Ok(ExitCode::SUCCESS),
                    }
                }
            }
        };
        let settings = Settings {
            default_lattice: connection.lattice.clone(),
            hosts: HostDefaults { image: cmd.host_image, image_pull_policy: cmd.host_image_pull_policy },
            instance: cmd.instance,
        };
        eprintln!("operator watching WasmCloudHostConfigs and Applications; health on http://{}/healthz", cmd.health_address);
        trellis_operator::run(client, nats as Arc<dyn trellis_lattice::Lattice>, settings, readiness, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}
