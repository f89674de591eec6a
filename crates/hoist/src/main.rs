//! The `hoist` command: thin argument parsing and output around the hoist
//! libraries. Each command lives in its own file under `commands/`.

mod cli;
mod commands;
mod help;
mod output;
mod progress;

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    commands::complete_if_asked();
    let matches = help::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let verbose = cli.global.verbose;
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error_line(&error, verbose));
            ExitCode::FAILURE
        }
    }
}

/// One line: the error and its causes, outermost first. The network stack's
/// own account of a failed request (a `TransportDetail` and what is under it)
/// is left out unless `verbose`: "cannot reach registry r.io (connection
/// refused)" says it.
fn error_line(error: &anyhow::Error, verbose: bool) -> String {
    let mut parts = Vec::new();
    for cause in error.chain() {
        if !verbose && cause.downcast_ref::<hoist_registry::TransportDetail>().is_some() {
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}
