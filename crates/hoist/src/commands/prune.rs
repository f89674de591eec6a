use std::process::ExitCode;

use anyhow::Result;
use hoist_model::format_size;
use hoist_store::Store;

use crate::cli::PruneArgs;

pub fn run(store: &Store, args: PruneArgs) -> Result<ExitCode> {
    let report = store.prune()?;
    if args.json {
        let object = serde_json::json!({
            "blobs_removed": report.blobs_removed,
            "bytes_freed": report.bytes_freed,
            "partial_files_removed": report.ingest_files_removed,
        });
        println!("{object:#}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Removed {} blobs ({} freed) and {} partial files",
        report.blobs_removed,
        format_size(report.bytes_freed),
        report.ingest_files_removed
    );
    Ok(ExitCode::SUCCESS)
}
