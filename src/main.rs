//! The `trellis` command: the embedded lattice (`up`) and the client commands.
//!
//! This crate holds only the command line: parsing flags, printing for people and for
//! scripts (`-o json`), and exit codes. The work is done by the library crates.

mod app;
mod output;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Trellis: a WebAssembly component orchestrator that speaks wasmCloud's formats.
#[derive(Parser)]
#[command(name = "trellis", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start Trellis in embedded mode: a host and its HTTP server in this process.
    Up(up::UpArgs),
    /// Work with application manifests.
    #[command(subcommand)]
    App(app::AppCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::App(cmd) => app::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
