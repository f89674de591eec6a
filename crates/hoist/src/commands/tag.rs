use std::process::ExitCode;

use anyhow::{Result, bail};
use hoist_oci::Reference;
use hoist_store::Store;

use crate::cli::TagArgs;

pub fn run(store: &Store, args: TagArgs) -> Result<ExitCode> {
    let target: Reference = args.target.parse()?;
    if target.digest().is_some() {
        bail!("invalid reference {:?}: a name to tag cannot hold a digest", args.target);
    }
    let resolved = store.resolve(&args.source)?;
    let session = store.write_session()?;
    let replaced = session.tag(&resolved.descriptor, &target)?;
    if args.json {
        let object = serde_json::json!({
            "reference": target.to_string(),
            "digest": resolved.descriptor.digest.to_string(),
            "replaced": replaced.map(|old| old.digest.to_string()).filter(|old| *old != resolved.descriptor.digest.to_string()),
        });
        println!("{object:#}");
    }
    Ok(ExitCode::SUCCESS)
}
