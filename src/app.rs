//! `trellis app`: application manifests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use trellis_types::manifest::Manifest;

use crate::output::{Format, print_json};

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
}

pub(crate) fn run(cmd: AppCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AppCommand::Validate { files, output } => validate(&files, output),
    }
}

/// Reads and parses a manifest file; the error lists every problem, located.
pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Manifest::parse(&path.display().to_string(), &text)?)
}

fn validate(files: &[PathBuf], output: Format) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let result = std::fs::read_to_string(path)
            .map_err(|e| format!("{name}: {e}"))
            .map(|text| Manifest::parse(&name, &text));
        match (result, output) {
            (Err(read), Format::Text) => {
                failed = true;
                eprintln!("{read}");
            }
            (Err(read), Format::Json) => {
                failed = true;
                reports.push(json!({"file": name, "valid": false, "errors": [{"line": null, "path": "", "message": read}]}));
            }
            (Ok(Ok(m)), Format::Text) => println!("{name}: valid ({} {})", m.name(), m.version().unwrap_or("unversioned")),
            (Ok(Ok(m)), Format::Json) => reports.push(json!({"file": name, "valid": true, "name": m.name(), "version": m.version()})),
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
