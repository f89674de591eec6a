use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hoist_model::PlatformSpec;

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
    /// Show every cause of an error (the network stack's own words included)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack model files (GGUF, safetensors directory, DDUF) into a model artifact
    Pack(Box<PackArgs>),
    /// Build a model image from a GGUFPackerfile or Dockerfile (gguf-packer's language), without Docker
    Build(crate::commands::build::BuildArgs),
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
    Prune(PruneArgs),
    /// Re-hash every blob in the store and report corruption
    Verify(VerifyArgs),
    /// Save credentials for a registry (in the Docker config, ~/.docker/config.json)
    Login(LoginArgs),
    /// Remove saved credentials for a registry
    Logout(LogoutArgs),
    /// Push a model from the store to a registry
    Push(PushArgs),
    /// Pull a model from a registry into the store
    Pull(PullArgs),
    /// Copy an artifact between registries and image-layout directories (oci:PATH[:TAG])
    Copy(CopyArgs),
    /// Estimate the memory a model needs to run in llama.cpp (RAM and VRAM)
    Estimate(Box<EstimateArgs>),
    /// Write weights.lock files for Cog-style bundles (weights beside a runnable image)
    Weights(crate::commands::weights::WeightsArgs),
    /// Bundle a runnable image and its weights into one OCI index (Cog's bundle format)
    Bundle(crate::commands::bundle::BundleArgs),
    /// Run a model in its server (llama-server for GGUF, vLLM for safetensors)
    Run(crate::commands::run::RunArgs),
    /// Chat with a model: start its runtime, send a prompt (or chat on a terminal), print the answers as they stream
    Chat(crate::commands::chat::ChatArgs),
    /// Unpack a model into a runtime directory (hardlinks to the store; tar layers extracted)
    Unpack(crate::commands::unpack::UnpackArgs),
    /// Quantize a GGUF file (or, with -t, a model in the store) as llama.cpp's llama-quantize does, byte for byte
    Quantize(Box<QuantizeArgs>),
    /// Convert a Hugging Face safetensors model (a directory, or with -t one in the store) to GGUF (no Python)
    Convert(ConvertArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell) that also completes model names
    Completion(crate::commands::completion::CompletionArgs),
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
    /// NAME[:TAG], NAME@DIGEST, or a unique ID prefix; with --remote, REGISTRY/REPO[:TAG|@DIGEST]
    pub reference: String,
    /// Read the model from its registry instead of the store (nothing is downloaded but the manifest and config)
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print the manifest and config as JSON
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// Print the manifest bytes exactly as stored
    #[arg(long)]
    pub raw: bool,
    /// Show the GGUF files: metadata, tensors, types, tokenizer (remote: reads only the header bytes)
    #[arg(long, conflicts_with_all = ["json", "raw"])]
    pub gguf: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The model: NAME[:TAG], NAME@DIGEST or a unique ID prefix
    pub source: String,
    /// The new name: NAME[:TAG] or REGISTRY/REPO[:TAG]
    pub target: String,
    /// Print the name, the digest it names and what it named before as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Models to remove: NAME[:TAG], NAME@DIGEST or ID
    #[arg(required = true)]
    pub references: Vec<String>,
    /// Remove every name of a model given by ID or digest
    #[arg(short, long)]
    pub force: bool,
    /// Print the names removed and the blobs freed as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what was removed as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Print the counts and every corrupt or missing blob as JSON (the exit code still says)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(override_usage = "hoist convert [OPTIONS] HF_DIR OUT.gguf\n       \
                            hoist convert [OPTIONS] MODEL -t REF")]
pub struct ConvertArgs {
    /// The Hugging Face model directory (config.json, *.safetensors, tokenizer files); with -t,
    /// a safetensors model in the store (NAME[:TAG], NAME@DIGEST, ID) or REGISTRY/REPO[:TAG], pulled first
    #[arg(value_name = "HF_DIR|MODEL")]
    pub model_dir: PathBuf,
    /// The GGUF file to write (written to a temporary name, renamed when complete)
    #[arg(value_name = "OUT.gguf", required_unless_present = "tag")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store_form: StoreFormArgs,
    /// What matrices are stored as: f32, f16, bf16, q8_0, or auto (the checkpoint's 16-bit
    /// type); 1-D tensors and norms stay F32
    #[arg(long = "type", value_name = "TYPE", default_value = "auto")]
    pub out_type: hoist_convert::OutType,
    /// Threads converting tensors [default: one per core]
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// What the directory holds: a model, or a PEFT LoRA adapter (then --base is needed,
    /// and auto means f32, the reference's default for adapters)
    #[arg(long, value_enum, default_value_t = ConvertClass::Model, requires_if("lora", "base"))]
    pub class: ConvertClass,
    /// The adapter's base model directory (its config.json is read)
    #[arg(long, value_name = "BASE_DIR")]
    pub base: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Print a JSON summary
    #[arg(long)]
    pub json: bool,
}

/// The store forms of `quantize` and `convert`: the result packed into the store.
#[derive(Debug, Args)]
pub struct StoreFormArgs {
    /// Pack the result into the store as REF, with the source's license, chat template,
    /// projector and context size (the arguments are then MODEL, and TYPE for quantize)
    #[arg(short = 't', long = "tag", value_name = "REF")]
    pub tag: Option<String>,
    /// With -t, the artifact format to write [default: the source's]
    #[arg(long, value_enum, requires = "tag")]
    pub format: Option<Format>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `hoist convert --class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConvertClass {
    Model,
    Lora,
}

/// How to reach a registry.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Use plain HTTP (always used for localhost, 127.0.0.1 and [::1])
    #[arg(long)]
    pub plain_http: bool,
    /// Do not verify the registry's TLS certificate
    #[arg(long)]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) for the registry's TLS certificate
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// How to move blobs.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Blobs transferred at once
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry host, e.g. registry.example.com or localhost:5000
    pub registry: String,
    /// User name (asked for when missing and standard input is a terminal)
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Print the registry, user and credentials file as JSON (never the password)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry host
    pub registry: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The model in the store: NAME[:TAG], NAME@DIGEST or ID
    pub source: String,
    /// Where to push: REGISTRY/REPO[:TAG] (default: SOURCE, when it names a registry)
    pub target: Option<String>,
    /// Print what was transferred as JSON (blobs and bytes copied, skipped, mounted, read back)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// REGISTRY/REPO[:TAG|@DIGEST]
    pub reference: String,
    /// From an index, take only the manifest for this platform (OS/ARCH[/VARIANT], e.g. linux/amd64)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformSpec>,
    /// Fetch only the layers whose file path matches this glob (repeatable; `*.gguf`, `q4/**`):
    /// the model is stored as partial, and a later pull without filters fetches the rest
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out the layers whose file path matches this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Ranged requests one large blob may be split into at once when the link is slow (1: never
    /// split; a fast link or a busy machine stays one stream whatever N is)
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parts: usize,
    /// Print what was transferred as JSON (blobs and bytes copied, skipped, mounted, read back)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG]
    pub source: String,
    /// REGISTRY/REPO[:TAG] or oci:DIR[:TAG] (the tag defaults to the source's)
    pub target: String,
    /// From an index, take only the manifest for this platform (OS/ARCH[/VARIANT], e.g. linux/amd64)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformSpec>,
    /// Print what was transferred as JSON (blobs and bytes copied, skipped, mounted, read back)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// A .gguf file, a model in the store, or REGISTRY/REPO[:TAG] (reads only the header bytes).
    /// Options the artifact's stored command sets (-c -b -ub -np -fa -ngl -ctk -ctv -ts --no-mmap -nkvo)
    /// are the defaults; the flags here override them
    pub model: String,
    /// Context size (default: the model's)
    #[arg(long, short = 'c', value_name = "N")]
    pub ctx_size: Option<u64>,
    /// Logical batch size [default: the stored command's, else 2048]
    #[arg(long, short = 'b', value_name = "N")]
    pub batch_size: Option<u64>,
    /// Physical batch size [default: the stored command's, else 512]
    #[arg(long, value_name = "N")]
    pub ubatch_size: Option<u64>,
    /// Sequences decoded in parallel [default: the stored command's, else 1]
    #[arg(long, value_name = "N")]
    pub parallel: Option<u64>,
    /// KV cache type for K (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1) [default: f16]
    #[arg(long, value_name = "TYPE")]
    pub cache_type_k: Option<String>,
    /// KV cache type for V [default: f16]
    #[arg(long, value_name = "TYPE")]
    pub cache_type_v: Option<String>,
    /// Flash attention, as llama.cpp's `-fa`: on, off, or auto (on where the backends support it:
    /// CPU, CUDA, Metal, Vulkan) [default: auto; `--flash-attn` alone: on]
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "on", value_name = "WHEN")]
    pub flash_attn: Option<FlashAttn>,
    /// Load the weights into memory instead of mapping the file
    #[arg(long)]
    pub no_mmap: bool,
    /// Keep the KV cache in RAM
    #[arg(long)]
    pub no_kv_offload: bool,
    /// Layers to offload to the GPU(s) (default: all)
    #[arg(long, value_name = "N")]
    pub gpu_layers: Option<u64>,
    /// How to split the offloaded layers across GPUs, e.g. 3,1
    #[arg(long, value_delimiter = ',', value_name = "A,B,...")]
    pub tensor_split: Vec<f64>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// llama.cpp's `-fa` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlashAttn {
    On,
    Off,
    Auto,
}

/// `hoist quantize IN.gguf OUT.gguf TYPE`: llama-quantize's options, same names.
/// With `-t REF` the arguments are `MODEL TYPE` and the result goes into the store.
#[derive(Debug, Args)]
#[command(override_usage = "hoist quantize [OPTIONS] IN.gguf OUT.gguf TYPE\n       \
                            hoist quantize [OPTIONS] MODEL TYPE -t REF")]
pub struct QuantizeArgs {
    /// The GGUF file to quantize (for a split model, its first shard); with -t, the model:
    /// NAME[:TAG], NAME@DIGEST or ID in the store, or REGISTRY/REPO[:TAG], pulled first
    #[arg(value_name = "IN.gguf|MODEL")]
    pub input: PathBuf,
    /// Where to write the result (written to a temporary name, renamed at the end); with -t, TYPE
    #[arg(value_name = "OUT.gguf|TYPE")]
    pub output: PathBuf,
    /// Q4_K_M, Q8_0, Q6_K, ... (llama-quantize's names, any case, or its numeric ids)
    #[arg(value_name = "TYPE", required_unless_present = "tag")]
    pub ftype: Option<String>,
    #[command(flatten)]
    pub store_form: StoreFormArgs,
    /// Disable the k-quant mixtures: every quantizable tensor gets TYPE
    #[arg(long)]
    pub pure: bool,
    /// Leave output.weight as it is
    #[arg(long)]
    pub leave_output_tensor: bool,
    /// Type of output.weight
    #[arg(long, value_name = "GGML_TYPE")]
    pub output_tensor_type: Option<String>,
    /// Type of the token embeddings
    #[arg(long, value_name = "GGML_TYPE")]
    pub token_embedding_type: Option<String>,
    /// Importance matrix (GGUF or legacy .dat, as written by llama-imatrix)
    #[arg(long, value_name = "FILE")]
    pub imatrix: Option<PathBuf>,
    /// Use the importance matrix only for tensors whose name contains NAME
    #[arg(long, value_name = "NAME", conflicts_with = "exclude_weights")]
    pub include_weights: Vec<String>,
    /// Do not use the importance matrix for tensors whose name contains NAME
    #[arg(long, value_name = "NAME")]
    pub exclude_weights: Vec<String>,
    /// Quantize tensors whose name matches PATTERN (a regular expression) to TYPE
    #[arg(long, value_name = "PATTERN=TYPE")]
    pub tensor_type: Vec<String>,
    /// Allow requantizing tensors that are already quantized (loses quality)
    #[arg(long)]
    pub allow_requantize: bool,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,
    /// Write one shard per input shard, named OUTPUT-0000i-of-0000n.gguf (OUTPUT without .gguf)
    #[arg(long)]
    pub keep_split: bool,
    /// Print a JSON summary instead of the text one
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}
