use std::process::ExitCode;

use anyhow::Result;
use hoist_model::format_size;
use hoist_store::Store;

use crate::cli::VerifyArgs;
use crate::progress::Drawer;

pub fn run(store: &Store, args: VerifyArgs) -> Result<ExitCode> {
    let drawer = Drawer::new(args.progress, store.blobs_size()?);
    let report = store.verify(&drawer)?;
    drawer.finish();
    for (digest, problem) in &report.corrupt {
        println!("corrupt: {digest}: {problem}");
    }
    for digest in &report.missing {
        println!("missing: {digest} is referenced but not in the store");
    }
    println!("Checked {} blobs ({})", report.blobs_checked, format_size(report.bytes_checked));
    if !report.not_pulled.is_empty() {
        println!("{} layers of partial models not pulled (pull --include/--exclude)", report.not_pulled.len());
    }
    if report.is_ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: the store has {} corrupt and {} missing blobs", report.corrupt.len(), report.missing.len());
        Ok(ExitCode::FAILURE)
    }
}
