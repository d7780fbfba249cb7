//! `trellis secret`: the local encrypted secret store that manifests' secret references read
//! in embedded mode. Values go in; nothing prints them.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;

use crate::app::Connection;
use crate::output::{Format, print_json, table};

#[derive(Subcommand)]
pub(crate) enum SecretCommand {
    /// Store a secret. The value is read from standard input (a trailing newline dropped), or
    /// from `--file` or `--env`; never from the command line, where `ps` and history would see it.
    Put {
        /// The key a manifest's secret reference names (`properties.key`).
        key: String,
        /// Read the value from this file, as it is.
        #[arg(long, conflicts_with = "env")]
        file: Option<PathBuf>,
        /// Read the value from this environment variable.
        #[arg(long)]
        env: Option<String>,
        /// Store the value as bytes (`secret-value::bytes`) rather than text.
        #[arg(long)]
        binary: bool,
    },
    /// Delete a secret.
    Del {
        /// Its key.
        key: String,
    },
    /// List the stored secrets: keys, versions and kinds, never values.
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

pub(crate) fn run(cmd: SecretCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    let (op, body) = match cmd {
        SecretCommand::Put { key, file, env, binary } => ("put", put_body(&key, file, env, binary)?),
        SecretCommand::Del { key } => ("del", json!({"key": key})),
        SecretCommand::List { output } => {
            return crate::block_on(async move {
                let reply = client.secrets("list", Vec::new()).await?;
                let listed = reply["response"].as_array().cloned().unwrap_or_default();
                match output {
                    Format::Json => print_json(&json!(listed)),
                    Format::Text => table(
                        &["KEY", "VERSION", "KIND"],
                        listed
                            .iter()
                            .map(|s| vec![s["key"].as_str().unwrap_or_default().to_owned(), s["version"].to_string(), s["kind"].as_str().unwrap_or_default().to_owned()])
                            .collect(),
                    ),
                }
                Ok(ExitCode::SUCCESS)
            });
        }
    };
    crate::block_on(async move {
        let reply = client.secrets(op, serde_json::to_vec(&body)?).await?;
        println!("{}", reply["message"].as_str().unwrap_or("ok"));
        Ok(ExitCode::SUCCESS)
    })
}

/// The `put` body: the value read from `file`, `env` or standard input.
fn put_body(key: &str, file: Option<PathBuf>, env: Option<String>, binary: bool) -> anyhow::Result<serde_json::Value> {
    let value: Vec<u8> = match (file, env) {
        (Some(path), _) => std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        (None, Some(var)) => std::env::var(&var).with_context(|| format!("reading environment variable {var}"))?.into_bytes(),
        (None, None) => {
            let mut text = Vec::new();
            std::io::stdin().read_to_end(&mut text).context("reading the value from standard input")?;
            if text.ends_with(b"\n") {
                text.pop();
                if text.ends_with(b"\r") {
                    text.pop();
                }
            }
            text
        }
    };
    Ok(match binary {
        true => json!({"key": key, "binary_secret": value}),
        false => match String::from_utf8(value) {
            Ok(text) => json!({"key": key, "string_secret": text}),
            Err(_) => bail!("the value of `{key}` is not UTF-8 text; pass --binary to store it as bytes"),
        },
    })
}
