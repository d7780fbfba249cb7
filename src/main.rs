//! The `trellis` command: the embedded lattice (`up`) and the client commands.
//!
//! This crate holds only the command line: parsing flags, printing for people and for
//! scripts (`-o json`), and exit codes. The work is done by the library crates.

mod app;
mod call_cmd;
mod capabilities;
mod client;
mod component_cmds;
mod devloop;
mod fleet;
mod lattice_cmds;
mod link_cmds;
mod node;
mod oci_cmds;
mod operator_cmd;
mod output;
mod secret_cmds;
mod ui_cmd;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Trellis: a WebAssembly component orchestrator that speaks wasmCloud's formats.
#[derive(Parser)]
#[command(name = "trellis", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: app::Connection,
}

#[derive(Subcommand)]
enum Command {
    /// Start Trellis in embedded mode: hosts, the deployment manager and the API in this process.
    Up(up::UpArgs),
    /// Run one host joined to a NATS lattice (`--nats URL`), with labels.
    Host(node::HostCmd),
    /// Run the deployment manager alone, joined to a NATS lattice (`--nats URL`).
    Manager(node::ManagerCmd),
    /// Run the Kubernetes operator (WasmCloudHostConfig → hosts, Application → deployed apps);
    /// `trellis operator crds` prints its custom resource definitions.
    Operator(operator_cmd::OperatorCmd),
    /// Work with applications: put, deploy, status, versions, ...
    #[command(subcommand)]
    App(app::AppCommand),
    /// Named config that manifests reference by name.
    #[command(subcommand)]
    Config(lattice_cmds::ConfigCommand),
    /// The local encrypted secret store that manifests' secret references read.
    #[command(subcommand)]
    Secret(secret_cmds::SecretCommand),
    /// Links outside manifests: `trellis link put|del|get`, as `wash link` takes them.
    #[command(subcommand)]
    Link(link_cmds::LinkCommand),
    /// Read lattice state.
    #[command(subcommand)]
    Get(lattice_cmds::GetCommand),
    /// Set or remove a host label: `trellis label HOST KEY=VALUE`, `trellis label HOST KEY --delete`.
    Label {
        /// Host id.
        host: String,
        /// `KEY=VALUE`, or `KEY` with `--delete`.
        label: String,
        /// Remove the label.
        #[arg(long)]
        delete: bool,
    },
    /// Stop parts of the lattice.
    #[command(subcommand)]
    Stop(lattice_cmds::StopCommand),
    /// Start a component (or provider) outside any manifest.
    #[command(subcommand)]
    Start(component_cmds::StartCommand),
    /// Scale a component outside any manifest on one host: `trellis scale component HOST ID IMAGE --count N`.
    #[command(subcommand)]
    Scale(component_cmds::ScaleCommand),
    /// Call an exported function of a running component: `trellis call ID iface.func ARGS...`.
    Call(call_cmd::CallArgs),
    /// Push a component to an OCI registry: `trellis push REGISTRY/REPO:TAG FILE`.
    Push(oci_cmds::PushArgs),
    /// Pull a component from an OCI registry: `trellis pull REGISTRY/REPO:TAG [-o FILE]`.
    Pull(oci_cmds::PullArgs),
    /// Serve the web dashboard of a NATS lattice: `trellis ui --nats nats://HOST:4222`
    /// (`trellis up` serves its own at its API address).
    Ui(ui_cmd::UiArgs),
    /// Make a project from a template: `trellis new my-app --template rust-hello`; `--list` shows them.
    New(devloop::NewArgs),
    /// Build the component of the project here (its `wasmcloud.toml`, or detected), into the path its manifest names.
    Build(devloop::BuildArgs),
    /// Build, serve and rebuild on every save: the project's manifest in embedded Trellis, hot-swapped.
    Dev(devloop::DevArgs),
    /// Print a shell completion script: `trellis completions bash > /etc/bash_completion.d/trellis`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs a client command's async body on a small runtime.
pub(crate) fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime starts").block_on(future)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let connection = cli.connection;
    let result = match cli.command {
        Command::Up(args) => up::run(args, &connection),
        Command::Host(cmd) => node::host(cmd, &connection),
        Command::Manager(cmd) => node::manager(cmd, &connection),
        Command::Operator(cmd) => operator_cmd::operator(cmd, &connection),
        Command::App(cmd) => app::run(cmd, &connection),
        Command::Config(cmd) => lattice_cmds::config(cmd, &connection),
        Command::Secret(cmd) => secret_cmds::run(cmd, &connection),
        Command::Push(args) => oci_cmds::push(args),
        Command::Pull(args) => oci_cmds::pull(args),
        Command::Get(cmd) => lattice_cmds::get(cmd, &connection),
        Command::Link(cmd) => link_cmds::run(cmd, &connection),
        Command::Label { host, label, delete } => lattice_cmds::label(&host, &label, delete, &connection),
        Command::Stop(cmd) => lattice_cmds::stop(cmd, &connection),
        Command::Start(cmd) => component_cmds::start(cmd, &connection),
        Command::Scale(cmd) => component_cmds::scale(cmd, &connection),
        Command::Call(args) => call_cmd::call(args, &connection),
        Command::Ui(args) => ui_cmd::ui(args, &connection),
        Command::New(args) => devloop::new(args),
        Command::Build(args) => devloop::build(args),
        Command::Dev(args) => devloop::dev(args, &connection),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "trellis", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
