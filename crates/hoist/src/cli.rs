use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Package AI models as OCI artifacts, keep them in a local store, and move them
/// through any OCI registry.
#[derive(Debug, Parser)]
#[command(name = "hoist", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The local store [default: $XDG_DATA_HOME/hoist, or ~/.local/share/hoist]
    #[arg(long, global = true, env = "HOIST_HOME", value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack model files (GGUF, safetensors directory, DDUF) into a model artifact
    Pack(Box<PackArgs>),
    /// List the models in the store
    #[command(alias = "ls")]
    List(ListArgs),
    /// Show a model's facts, manifest and config
    Inspect(InspectArgs),
    /// Give a model another name
    Tag(TagArgs),
    /// Remove model names; blobs go when nothing references them
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unreferenced blobs and leftover partial writes
    Prune,
    /// Re-hash every blob in the store and report corruption
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Docker model artifact (config v0.1 for GGUF files, v0.2 for directories)
    Docker,
    /// CNCF ModelPack v1
    Modelpack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// Bars on a terminal, plain lines otherwise
    Auto,
    Plain,
    None,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A .gguf file (the first shard of a split model takes all shards), a .dduf, a .safetensors or a directory
    pub path: PathBuf,
    /// The name to give the model: NAME[:TAG] or REGISTRY/REPO[:TAG]
    #[arg(short, long, value_name = "REF")]
    pub tag: String,
    /// The artifact format to write
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    pub format: Format,
    /// A license file to include (repeatable)
    #[arg(long, value_name = "FILE")]
    pub license: Vec<PathBuf>,
    /// A Jinja chat template to include
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// A multimodal projector (GGUF) to include
    #[arg(long, value_name = "FILE")]
    pub mmproj: Option<PathBuf>,
    /// The context size to record (default: from the model's metadata)
    #[arg(long, value_name = "N")]
    pub context_size: Option<u64>,
    /// Creation time to record (RFC 3339 or seconds since the epoch); also makes the output reproducible.
    /// Default: $SOURCE_DATE_EPOCH if set, else now
    #[arg(long, value_name = "TIME")]
    pub created: Option<String>,
    /// Include hidden files and directories (names starting with '.')
    #[arg(long)]
    pub include_hidden: bool,
    /// Leave out files matching GLOB (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Treat files matching GLOB as weights (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub weight: Vec<String>,
    /// Treat files matching GLOB as weight configs (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub config: Vec<String>,
    /// Treat files matching GLOB as documentation (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub doc: Vec<String>,
    /// Treat files matching GLOB as code (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub code: Vec<String>,
    /// Treat files matching GLOB as datasets (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub dataset: Vec<String>,
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Print only the manifest digest
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only model IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// NAME[:TAG], NAME@DIGEST, or a unique ID prefix
    pub reference: String,
    /// Print the manifest and config as JSON
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// Print the manifest bytes exactly as stored
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The model: NAME[:TAG], NAME@DIGEST or a unique ID prefix
    pub source: String,
    /// The new name: NAME[:TAG] or REGISTRY/REPO[:TAG]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Models to remove: NAME[:TAG], NAME@DIGEST or ID
    #[arg(required = true)]
    pub references: Vec<String>,
    /// Remove every name of a model given by ID or digest
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}
