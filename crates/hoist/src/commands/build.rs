//! `hoist build`: a GGUFPackerfile (or a Dockerfile in gguf-packer's language) into
//! an OCI image in the store, tagged with every `-t` (and pushed to each with
//! `--push`). A base the store lacks is pulled as `hoist pull` pulls it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use hoist_build::exec::{ExecOptions, Fetcher, Output, execute};
use hoist_build::parse::parse;
use hoist_build::plan::{PlanOptions, PlanReporter, plan};
use hoist_model::{LayerSelection, PackFormat, PlatformSpec};
use hoist_oci::Reference;
use hoist_registry::Repository;
use hoist_store::Store;

use super::remote::{block_on, client, print_transfer, remote_reference, transfer};
use crate::cli::TransferArgs;
use crate::progress::Drawer;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The build context: the directory COPY and ADD read from
    pub context: PathBuf,
    /// The build file [default: CONTEXT/GGUFPackerfile, else CONTEXT/Dockerfile]
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A name for the image (repeatable)
    #[arg(short, long = "tag", value_name = "REF", required = true)]
    pub tags: Vec<String>,
    /// Set a build-time variable declared by ARG (repeatable)
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Build this stage instead of the last one
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// The image's platform: recorded in its config, and the one taken from a multi-platform base
    /// [default: linux and this machine's architecture]
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// What to make of the target stage: an OCI image, or a model artifact of its
    /// files (Docker's model format or CNCF ModelPack, as `hoist pack` makes them)
    #[arg(long, value_enum, default_value_t = BuildFormat::Image)]
    pub format: BuildFormat,
    /// Build every step, using no cached layer
    #[arg(long)]
    pub no_cache: bool,
    /// Push every tag to its registry once the image is built
    #[arg(long)]
    pub push: bool,
    /// Print only the manifest digest
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildFormat {
    Image,
    Docker,
    Modelpack,
}

/// Pulls a base the store lacks, the platform the build is for.
struct Pull<'a> {
    store: &'a Store,
    transfer: &'a TransferArgs,
}

impl Fetcher for Pull<'_> {
    fn fetch(&self, reference: &str, os: &str, architecture: &str) -> Result<(), String> {
        let platform: PlatformSpec = format!("{os}/{architecture}").parse().map_err(|e| format!("{e}"))?;
        let everything = LayerSelection::new(Vec::new(), Vec::new());
        super::pull::pull(self.store, reference, Some(&platform), &everything, 8, self.transfer)
            .map(drop)
            .map_err(|e| format!("pulling it: {e:#}"))
    }
}

/// Warnings go to stderr as they come.
struct Stderr;

impl PlanReporter for Stderr {
    fn warning(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

pub fn run(store: &Store, args: BuildArgs) -> Result<ExitCode> {
    let references: Vec<Reference> = args
        .tags
        .iter()
        .map(|t| {
            // Pushed tags name a registry; checked before anything is built.
            let r: Reference = if args.push { remote_reference(None, t)? } else { t.parse()? };
            if r.digest().is_some() {
                bail!("invalid reference {t:?}: a name to tag cannot hold a digest");
            }
            Ok(r)
        })
        .collect::<Result<_>>()?;
    let mut build_args = BTreeMap::new();
    for kv in &args.build_args {
        let (k, v) = kv.split_once('=').with_context(|| format!("--build-arg {kv:?}: expected NAME=VALUE"))?;
        build_args.insert(k.to_string(), v.to_string());
    }
    let (os, architecture) = platform(args.platform.as_deref())?;
    let file = build_file(&args.context, args.file.as_deref())?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let parsed = parse(&file.display().to_string(), &text)?;
    let plan = plan(&parsed, &PlanOptions { build_args, target: args.target }, &Stderr)?;
    let first = references.first().cloned().context("a build needs a tag (-t)")?;
    let output = match args.format {
        BuildFormat::Image => Output::Image,
        BuildFormat::Docker => Output::Artifact { format: PackFormat::Docker, reference: first },
        BuildFormat::Modelpack => Output::Artifact { format: PackFormat::ModelPack, reference: first },
    };
    let epoch = source_date_epoch()?;
    let (context, no_cache, build_file) = (args.context, args.no_cache, Some(file));
    let options = ExecOptions { context, epoch, os, architecture, no_cache, output, build_file };
    let session = store.write_session()?;
    let drawer = Drawer::new(args.transfer.progress, 0);
    let built = execute(&plan, &options, &session, &Pull { store, transfer: &args.transfer }, &drawer);
    drawer.finish();
    let built = built?;
    // Tags only once everything is written: a failed build tags nothing.
    for reference in &references {
        session.tag(&built.manifest, reference)?;
    }
    if args.quiet {
        println!("{}", built.manifest.digest);
    } else {
        let layers = match built.layers.len() {
            1 => "1 layer".to_string(),
            n => format!("{n} layers"),
        };
        let layers = match built.stats.steps_cached {
            1 => format!("{layers}, 1 step cached"),
            n => format!("{layers}, {n} steps cached"),
        };
        for reference in &references {
            println!("{reference} {} ({layers})", built.manifest.digest);
        }
    }
    drop(session);
    if args.push {
        let client = client(&args.transfer.connect, None)?;
        for reference in &references {
            let repository = Repository::from_reference(&client, reference)?;
            let started = std::time::Instant::now();
            let report =
                block_on(transfer(store, &repository, &built.manifest, reference.tag(), &args.transfer, None))??;
            if !args.quiet {
                print_transfer("Pushed", &reference.to_string(), &built.manifest, &report, started.elapsed(), false);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `-f`, else `GGUFPackerfile`, else `Dockerfile` in the context.
fn build_file(context: &Path, file: Option<&Path>) -> Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f.to_path_buf());
    }
    for name in ["GGUFPackerfile", "Dockerfile"] {
        let p = context.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{} has neither a GGUFPackerfile nor a Dockerfile (use -f FILE)", context.display())
}

/// Times in the image: `SOURCE_DATE_EPOCH`, else 0, so builds are reproducible.
fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => {
            v.parse().with_context(|| format!("SOURCE_DATE_EPOCH={v:?}: expected seconds since the epoch"))
        }
        _ => Ok(0),
    }
}

fn platform(flag: Option<&str>) -> Result<(String, String)> {
    match flag {
        Some(p) => match p.split_once('/') {
            Some((os, arch)) if !os.is_empty() && !arch.is_empty() => Ok((os.to_string(), arch.to_string())),
            _ => bail!("--platform {p:?}: expected OS/ARCH, like linux/amd64"),
        },
        None => {
            let arch = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            };
            Ok(("linux".to_string(), arch.to_string()))
        }
    }
}
