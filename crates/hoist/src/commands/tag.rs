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
    session.tag(&resolved.descriptor, &target)?;
    Ok(ExitCode::SUCCESS)
}
