//! `trellis call COMPONENT FUNCTION [ARGS]...`: calls an exported function of a running
//! component, wherever it runs, with its arguments as JSON.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};
use trellis_rpc::CallRequest;

use crate::app::Connection;
use crate::output::{Format, print_json};

#[derive(Args)]
pub(crate) struct CallArgs {
    /// The component's id, as `trellis get inventory` shows it (e.g. `hello-greeter`).
    component: String,
    /// `ns:pkg/iface@version.func`, `ns:pkg/iface.func` (the version it exports), or a root `func`.
    function: String,
    /// One argument per parameter, as JSON (`3`, `true`, `"text"`, `{"field": 1}`, `[1, 2]`);
    /// anything that is not JSON is taken as a string. Negative numbers need no `--`.
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    #[arg(short, long, value_enum, default_value_t)]
    output: Format,
}

pub(crate) fn call(args: CallArgs, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client();
    let request = CallRequest {
        function: args.function.clone(),
        args: args.args.iter().map(|a| serde_json::from_str(a).unwrap_or_else(|_| Value::String(a.clone()))).collect(),
    };
    let subject = CallRequest::subject(&connection.lattice, &args.component);
    crate::block_on(async move {
        let reply = client
            .checked(subject, serde_json::to_vec(&request)?)
            .await
            .with_context(|| format!("calling `{}` of `{}`", args.function, args.component))?;
        let results = reply["response"].as_array().cloned().unwrap_or_default();
        match args.output {
            Format::Json => print_json(&json!({"component": args.component, "function": args.function, "results": results})),
            Format::Text => {
                for r in &results {
                    match r {
                        Value::String(s) => println!("{s}"),
                        other => println!("{other}"),
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
