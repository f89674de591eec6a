use std::process::ExitCode;

use anyhow::Result;
use hoist_model::format_size;
use hoist_store::Store;

pub fn run(store: &Store) -> Result<ExitCode> {
    let report = store.prune()?;
    println!(
        "Removed {} blobs ({} freed) and {} partial files",
        report.blobs_removed,
        format_size(report.bytes_freed),
        report.ingest_files_removed
    );
    Ok(ExitCode::SUCCESS)
}
