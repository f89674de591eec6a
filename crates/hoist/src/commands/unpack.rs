//! `hoist unpack REF [DIR]`: a model from the store as a runtime directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use hoist_model::{PlatformSpec, UnpackOptions, unpack};
use hoist_store::Store;
use serde_json::json;

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The model: a name, a digest or an ID prefix
    pub reference: String,
    /// Where to write the runtime directory (new or empty) [default: <store>/bundles/<manifest digest>]
    pub dir: Option<PathBuf>,
    /// From an index, the image for this platform (OS/ARCH[/VARIANT]) [default: this machine's, or the only one]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformSpec>,
    /// Print the runtime directory's fields as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(store: &Store, args: UnpackArgs) -> Result<ExitCode> {
    let resolved = store.resolve(&args.reference)?;
    let options = UnpackOptions { dir: args.dir, platform: args.platform };
    let dir = unpack(store, &resolved.descriptor, &options)?;
    if args.json {
        let path = |p: &Option<PathBuf>| p.as_deref().map(Path::display).map(|d| d.to_string());
        let out = json!({
            "manifest": resolved.descriptor.digest.to_string(),
            "root": dir.root.display().to_string(),
            "config_path": dir.config_path.display().to_string(),
            "model_dir": dir.model_dir.display().to_string(),
            "format": dir.format,
            "gguf": path(&dir.gguf),
            "mmproj": path(&dir.mmproj),
            "chat_template": path(&dir.chat_template),
            "safetensors_dir": path(&dir.safetensors_dir),
            "dduf": path(&dir.dduf),
            "context_size": dir.context_size,
            "command": dir.command,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", dir.root.display());
    }
    Ok(ExitCode::SUCCESS)
}
