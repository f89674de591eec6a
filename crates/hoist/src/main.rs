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
            if let Some(hint) = hint(&error) {
                eprintln!("hint: {hint}");
            }
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

/// What the user can do about an error whose cause is on this machine.
/// A full disk: the store may hold what it can give back (blobs no model uses,
/// the partial files an interrupted pull keeps to resume from).
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let disk_full = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::StorageFull);
    disk_full.then_some(
        "the disk is full. `hoist prune` frees the blobs no model uses and the partial files \
         of interrupted pulls (a pull resumes from them otherwise); `hoist list` and `hoist rm` \
         show and remove models.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_anywhere_in_the_chain_gets_a_hint() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let error = anyhow::Error::from(full).context("could not write ingest/x.partial").context("store s");
        assert!(hint(&error).is_some_and(|hint| hint.contains("hoist prune")));
        let denied = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(hint(&denied), None);
        assert_eq!(hint(&anyhow::anyhow!("no model named m:1")), None);
    }
}
