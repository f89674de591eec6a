use std::process::ExitCode;

use anyhow::Result;
use hoist_model::format_size;
use hoist_store::{Store, VerifyReport};

use crate::cli::VerifyArgs;
use crate::progress::Drawer;

pub fn run(store: &Store, args: VerifyArgs) -> Result<ExitCode> {
    let drawer = Drawer::new(args.progress, store.blobs_size()?);
    let report = store.verify(&drawer)?;
    drawer.finish();
    if args.json {
        print_json(&report);
    } else {
        print_text(&report);
    }
    if report.is_ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: the store has {} corrupt and {} missing blobs", report.corrupt.len(), report.missing.len());
        Ok(ExitCode::FAILURE)
    }
}

fn print_text(report: &VerifyReport) {
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
}

fn print_json(report: &VerifyReport) {
    let digests = |list: &[hoist_oci::Digest]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let corrupt: Vec<_> = report
        .corrupt
        .iter()
        .map(|(digest, problem)| serde_json::json!({"digest": digest.to_string(), "problem": problem}))
        .collect();
    let object = serde_json::json!({
        "ok": report.is_ok(),
        "blobs_checked": report.blobs_checked,
        "bytes_checked": report.bytes_checked,
        "corrupt": corrupt,
        "missing": digests(&report.missing),
        "not_pulled": digests(&report.not_pulled),
    });
    println!("{object:#}");
}
