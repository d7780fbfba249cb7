//! `trellis app`: application manifests and their deployments, with wadm's operations.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use trellis_types::manifest::Manifest;
use trellis_types::wadm::{DeleteReply, DeleteResult, GetReply, GetResult, ListReply, StatusReply, StatusResult, StatusType, VersionsReply};

use trellis_lattice::NatsOptions;

use crate::client::{self, Client};
use crate::output::{Format, print_json, table};

/// Where client commands find Trellis.
#[derive(Args, Clone)]
pub(crate) struct Connection {
    /// The API of a running `trellis up` (where `up` listens; loopback unless --api-token is set).
    #[arg(long, global = true, env = "TRELLIS_API", default_value = client::DEFAULT_API)]
    pub(crate) api: String,
    /// The token the API and dashboard require (`up`, `ui`) or that commands send to them.
    /// Needed when the API listens on an address other than loopback.
    #[arg(long, global = true, env = "TRELLIS_API_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub(crate) api_token: Option<String>,
    /// The lattice's name, the `<lattice>` of every subject.
    #[arg(long, short = 'x', global = true, env = "WASMCLOUD_LATTICE", default_value = "default")]
    pub(crate) lattice: String,
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
}

/// Where a NATS lattice is and how to authenticate to it.
#[derive(clap::Args, Clone, Default)]
pub(crate) struct NatsArgs {
    /// A NATS lattice to join or talk to (`nats://HOST:PORT`). Without it, client commands talk to
    /// an embedded `trellis up` through --api.
    #[arg(long, global = true, env = "TRELLIS_NATS", value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// wasmCloud's way to name the server: host (with --nats-port).
    #[arg(long, global = true, env = "WASMCLOUD_NATS_HOST", hide = true)]
    nats_host: Option<String>,
    /// wasmCloud's way to name the server: port (with --nats-host).
    #[arg(long, global = true, env = "WASMCLOUD_NATS_PORT", hide = true)]
    nats_port: Option<u16>,
    /// A NATS `.creds` file.
    #[arg(long, global = true, env = "WASMCLOUD_NATS_CREDS", value_name = "FILE", conflicts_with_all = ["nats_jwt", "nats_seed"])]
    nats_creds: Option<std::path::PathBuf>,
    /// A NATS user JWT (needs --nats-seed).
    #[arg(long, global = true, env = "WASMCLOUD_NATS_JWT", requires = "nats_seed")]
    nats_jwt: Option<String>,
    /// The nkey seed for --nats-jwt, or alone for nkey authentication.
    #[arg(long, global = true, env = "WASMCLOUD_NATS_SEED")]
    nats_seed: Option<String>,
    /// Refuse a NATS connection that is not TLS.
    #[arg(long, global = true, env = "WASMCLOUD_NATS_TLS")]
    nats_tls: bool,
}

impl NatsArgs {
    /// The connection options, if a NATS lattice was named (`--nats`, or wasmCloud's host/port).
    pub(crate) fn options(&self, name: &str) -> Option<NatsOptions> {
        let url = match (&self.nats, &self.nats_host, self.nats_port) {
            (Some(url), _, _) => url.clone(),
            (None, None, None) => return None,
            (None, host, port) => format!("nats://{}:{}", host.as_deref().unwrap_or("127.0.0.1"), port.unwrap_or(4222)),
        };
        Some(NatsOptions {
            url,
            creds: self.nats_creds.clone(),
            jwt: self.nats_jwt.clone(),
            seed: self.nats_seed.clone(),
            require_tls: self.nats_tls,
            name: name.to_owned(),
        })
    }
}

impl Connection {
    pub(crate) fn client(&self) -> Client {
        match self.nats.options("trellis-cli") {
            Some(options) => Client::nats(options, &self.lattice),
            None => Client::http(&self.api, self.api_token.clone(), &self.lattice),
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum AppCommand {
    /// Check manifests and print every error with file, line and field; exit 1 if any.
    Validate {
        /// Manifest files (YAML or JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Store a manifest as a new version (not deployed).
    Put {
        /// Manifest file.
        file: PathBuf,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Deploy an application: a manifest file (put, then deployed), or a stored name and version.
    Deploy {
        /// A manifest file, or the name of a stored application.
        app: String,
        /// The version to deploy (default: the newest).
        #[arg(value_name = "VERSION")]
        app_version: Option<String>,
        /// Wait until the application is deployed; exit 1 if it fails or waits.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Stop an application everywhere; its versions stay stored.
    Undeploy {
        /// Application name.
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// List applications with their versions and status.
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Print a stored manifest (as JSON).
    Get {
        /// Application name.
        name: String,
        /// Version (default: the newest).
        #[arg(value_name = "VERSION")]
        app_version: Option<String>,
    },
    /// Show an application's status and each scaler's, with reasons.
    Status {
        /// Application name.
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// List an application's stored versions.
    Versions {
        /// Application name.
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Delete one version, or (without one) every version; deleting the deployed one undeploys.
    Delete {
        /// Application name.
        name: String,
        /// Version (default: all of them).
        #[arg(value_name = "VERSION")]
        app_version: Option<String>,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

pub(crate) fn run(cmd: AppCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    if let AppCommand::Validate { files, output } = cmd {
        return validate(&files, output);
    }
    let client = connection.client();
    crate::block_on(async move {
        match cmd {
            AppCommand::Validate { .. } => unreachable!("handled above"),
            AppCommand::Put { file, output } => put(&client, &file, output).await,
            AppCommand::Deploy { app, app_version, wait, timeout, output } => deploy(&client, &app, app_version, wait, timeout, output).await,
            AppCommand::Undeploy { name, output } => {
                let reply: trellis_types::wadm::DeployReply = client.model("undeploy", Some(&name), Vec::new(), b"{}".to_vec()).await?;
                finish(output, &json!(reply), reply.result == trellis_types::wadm::DeployResult::Acknowledged, &reply.message)
            }
            AppCommand::List { output } => list(&client, output).await,
            AppCommand::Get { name, app_version: version } => {
                let reply: GetReply = client.model("get", Some(&name), Vec::new(), serde_json::to_vec(&json!({"version": version}))?).await?;
                match (reply.result, reply.manifest) {
                    (GetResult::Success, Some(m)) => {
                        print_json(&m);
                        Ok(ExitCode::SUCCESS)
                    }
                    _ => bail!("{}", reply.message),
                }
            }
            AppCommand::Status { name, output } => status(&client, &name, output).await,
            AppCommand::Versions { name, output } => {
                let reply: VersionsReply = client.model("versions", Some(&name), Vec::new(), Vec::new()).await?;
                if reply.result != GetResult::Success {
                    bail!("{}", reply.message);
                }
                if output == Format::Json {
                    print_json(&json!(reply.versions));
                } else {
                    let rows = reply.versions.iter().map(|v| vec![v.version.clone(), if v.deployed { "yes".into() } else { String::new() }]).collect();
                    table(&["VERSION", "DEPLOYED"], rows);
                }
                Ok(ExitCode::SUCCESS)
            }
            AppCommand::Delete { name, app_version: version, output } => {
                let reply: DeleteReply = client.model("del", Some(&name), Vec::new(), serde_json::to_vec(&json!({"version": version}))?).await?;
                finish(output, &json!(reply), reply.result == DeleteResult::Deleted, &reply.message)
            }
        }
    })
}

/// Prints `reply` (JSON) or `message` (text); exit 0 only if `ok`.
fn finish(output: Format, reply: &serde_json::Value, ok: bool, message: &str) -> anyhow::Result<ExitCode> {
    match (output, ok) {
        (Format::Json, _) => print_json(reply),
        (Format::Text, true) => println!("{message}"),
        (Format::Text, false) => eprintln!("error: {message}"),
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn put(client: &Client, file: &Path, output: Format) -> anyhow::Result<ExitCode> {
    let (name, version) = client::put_file(client, file, false).await?;
    finish(output, &json!({"name": name, "version": version}), true, &format!("put {name} {version}"))
}

fn looks_like_file(app: &str) -> bool {
    Path::new(app).is_file() || [".yaml", ".yml", ".json"].iter().any(|ext| app.ends_with(ext))
}

async fn deploy(client: &Client, app: &str, version: Option<String>, wait: bool, timeout: u64, output: Format) -> anyhow::Result<ExitCode> {
    let (name, version) = if looks_like_file(app) {
        if version.is_some() {
            bail!("give a version only with an application name; a file's version is its `version` annotation");
        }
        let (name, version) = client::put_file(client, Path::new(app), true).await?;
        (name, Some(version))
    } else {
        (app.to_owned(), version)
    };
    let reply = client::deploy(client, &name, version.as_deref()).await?;
    let deployed = reply.version.clone().unwrap_or_default();
    if !wait {
        return finish(output, &json!(reply), true, &format!("deploying {name} {deployed}"));
    }
    let status = client::wait_for_status(client, &name, Duration::from_secs(timeout)).await?;
    let ok = status.info.status_type == StatusType::Deployed;
    let message = match ok {
        true => format!("deployed {name} {deployed}"),
        false => format!("{name} {deployed} is {}: {}", status.info.status_type.as_str(), status.info.message),
    };
    finish(output, &json!({"name": name, "version": deployed, "status": status}), ok, &message)
}

async fn list(client: &Client, output: Format) -> anyhow::Result<ExitCode> {
    let reply: ListReply = client.model("get", None, Vec::new(), Vec::new()).await?;
    if output == Format::Json {
        print_json(&json!(reply.models));
        return Ok(ExitCode::SUCCESS);
    }
    let rows = reply
        .models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.version.clone(),
                m.deployed_version.clone().unwrap_or_default(),
                m.detailed_status.info.status_type.as_str().to_owned(),
                m.detailed_status.info.message.clone(),
            ]
        })
        .collect();
    table(&["NAME", "LATEST", "DEPLOYED", "STATUS", "MESSAGE"], rows);
    Ok(ExitCode::SUCCESS)
}

async fn status(client: &Client, name: &str, output: Format) -> anyhow::Result<ExitCode> {
    let reply: StatusReply = client.model("status", Some(name), Vec::new(), Vec::new()).await?;
    if reply.result != StatusResult::Ok {
        bail!("{}", reply.message);
    }
    let status = reply.status.context("the status reply has no status")?;
    if output == Format::Json {
        print_json(&json!(status));
        return Ok(ExitCode::SUCCESS);
    }
    let info = &status.info;
    match info.message.is_empty() {
        true => println!("{name}: {}", info.status_type.as_str()),
        false => println!("{name}: {}: {}", info.status_type.as_str(), info.message),
    }
    if !status.scalers.is_empty() {
        println!();
        let rows =
            status.scalers.iter().map(|s| vec![s.kind.clone(), s.name.clone(), s.info.status_type.as_str().to_owned(), s.info.message.clone()]).collect();
        table(&["KIND", "NAME", "STATUS", "MESSAGE"], rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(files: &[PathBuf], output: Format) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let result = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}")).map(|text| Manifest::parse_with_warnings(&name, &text));
        match (result, output) {
            (Err(read), Format::Text) => {
                failed = true;
                eprintln!("{read}");
            }
            (Err(read), Format::Json) => {
                failed = true;
                reports.push(json!({"file": name, "valid": false, "errors": [{"line": null, "path": "", "message": read}]}));
            }
            (Ok(Ok((m, ignored))), Format::Text) => {
                crate::client::print_warnings(&ignored);
                println!("{name}: valid ({} {})", m.name(), m.version().unwrap_or("unversioned"));
            }
            (Ok(Ok((m, ignored))), Format::Json) => {
                let warnings: Vec<_> = ignored.warnings.iter().map(|w| json!({"line": w.line, "path": w.path, "message": w.message})).collect();
                reports.push(json!({"file": name, "valid": true, "name": m.name(), "version": m.version(), "warnings": warnings}));
            }
            (Ok(Err(errors)), Format::Text) => {
                failed = true;
                eprintln!("{errors}");
            }
            (Ok(Err(errors)), Format::Json) => {
                failed = true;
                let list: Vec<_> = errors.errors.iter().map(|e| json!({"line": e.line, "path": e.path, "message": e.message})).collect();
                reports.push(json!({"file": name, "valid": false, "errors": list}));
            }
        }
    }
    if output == Format::Json {
        print_json(&json!(reports));
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
