//! `hoist weights lock` and `hoist weights gen`: weights.lock files for Cog-style
//! bundles (FORMATS.md §3).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use hoist_model::Compression;
use hoist_model::cog::{self, LockOptions, WeightsLock};
use hoist_model::format_size;
use hoist_store::Store;

#[derive(Debug, Args)]
pub struct WeightsArgs {
    #[command(subcommand)]
    pub command: WeightsCommand,
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Hash weight files once, store their layer blobs and write weights.lock
    Lock(LockArgs),
    /// Write random weight files and their weights.lock (for tests and demos)
    Gen(GenArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compress {
    /// The layer is the file itself
    None,
    Gzip,
    Zstd,
}

impl From<Compress> for Compression {
    fn from(value: Compress) -> Compression {
        match value {
            Compress::None => Compression::None,
            Compress::Gzip => Compression::Gzip,
            Compress::Zstd => Compression::Zstd,
        }
    }
}

/// What `lock` and `gen` share.
#[derive(Debug, Args)]
pub struct LayerArgs {
    /// Directory the files go to in the container (dest = PREFIX/FILE_NAME)
    #[arg(long, default_value = cog::DEFAULT_DEST_PREFIX, value_name = "DIR")]
    pub dest_prefix: String,
    /// How to compress each layer
    #[arg(long, value_enum, default_value_t = Compress::None)]
    pub compress: Compress,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Weight files: NAME=PATH, NAME an identifier (a handle, not a file name)
    #[arg(required = true, value_name = "NAME=PATH")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Where to write the lock
    #[arg(short, long, default_value = "weights.lock", value_name = "FILE")]
    pub output: PathBuf,
    /// Print the lock's files and totals as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of files
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub count: usize,
    /// Smallest file size (bytes, or with kB, MB, GB, KiB, MiB, GiB)
    #[arg(long, default_value = "25MB", value_name = "SIZE")]
    pub min_size: String,
    /// Largest file size
    #[arg(long, default_value = "50MB", value_name = "SIZE")]
    pub max_size: String,
    /// Directory to write the files and weights.lock into
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Seed for the random sizes and bytes (the same seed writes the same files)
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub layers: LayerArgs,
}

pub fn run(store: &Store, args: WeightsArgs) -> Result<ExitCode> {
    match args.command {
        WeightsCommand::Lock(args) => lock(store, args),
        WeightsCommand::Gen(args) => generate(store, args),
    }
}

fn lock(store: &Store, args: LockArgs) -> Result<ExitCode> {
    let mut files = Vec::with_capacity(args.files.len());
    for text in &args.files {
        let (name, path) = text.split_once('=').with_context(|| format!("{text:?}: expected NAME=PATH"))?;
        files.push((name.to_string(), PathBuf::from(path)));
    }
    let lock = write_lock(store, &files, &args.layers, &args.output)?;
    if args.json {
        let object = serde_json::json!({
            "output": args.output.display().to_string(),
            "files": lock.files.iter().map(|file| serde_json::json!({
                "name": file.name, "dest": file.dest, "digest": file.digest.to_string(),
                "digest_original": file.digest_original.to_string(), "size": file.size,
            })).collect::<Vec<_>>(),
            "total_bytes": lock.files.iter().map(|f| f.size).sum::<u64>(),
        });
        println!("{object:#}");
    } else {
        print_lock(&lock, &args.output);
    }
    Ok(ExitCode::SUCCESS)
}

fn write_lock(store: &Store, files: &[(String, PathBuf)], layers: &LayerArgs, output: &Path) -> Result<WeightsLock> {
    let options = LockOptions {
        dest_prefix: layers.dest_prefix.clone(),
        compression: layers.compress.into(),
        created: creation_time()?,
    };
    let lock = cog::lock_weights(store, files, &options)?;
    std::fs::write(output, lock.to_json()).with_context(|| format!("writing {}", output.display()))?;
    Ok(lock)
}

/// A line per file and the total.
fn print_lock(lock: &WeightsLock, output: &Path) {
    for file in &lock.files {
        println!("{} {} {} ({})", file.name, file.dest, file.digest, format_size(file.size));
    }
    let total: u64 = lock.files.iter().map(|f| f.size).sum();
    println!("Locked {} files ({}) into {}", lock.files.len(), format_size(total), output.display());
}

fn generate(store: &Store, args: GenArgs) -> Result<ExitCode> {
    let min = parse_size(&args.min_size).with_context(|| format!("invalid --min-size {:?}", args.min_size))?;
    let max = parse_size(&args.max_size).with_context(|| format!("invalid --max-size {:?}", args.max_size))?;
    if min > max {
        bail!("--min-size {} is larger than --max-size {}", args.min_size, args.max_size);
    }
    let seed = args.seed.unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    std::fs::create_dir_all(&args.output_dir).with_context(|| format!("creating {}", args.output_dir.display()))?;
    let mut rng = SplitMix(seed);
    let mut files = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let size = min + rng.next() % (max - min + 1);
        let path = args.output_dir.join(format!("weights-{i:03}.bin"));
        write_random(&path, size, &mut rng).with_context(|| format!("writing {}", path.display()))?;
        files.push((format!("weights-{i:03}"), path));
    }
    let output = args.output_dir.join("weights.lock");
    let lock = write_lock(store, &files, &args.layers, &output)?;
    print_lock(&lock, &output);
    Ok(ExitCode::SUCCESS)
}

fn write_random(path: &Path, size: u64, rng: &mut SplitMix) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut left = size;
    let mut buffer = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buffer.len() as u64) as usize;
        for word in buffer[..n].chunks_mut(8) {
            let bytes = rng.next().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        out.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    out.flush()
}

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// "25MB", "100kB", "1MiB", "4096": decimal and binary units, case-insensitive.
fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().context("expected a number with an optional unit, e.g. 25MB")?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000 * 1000,
        "g" | "gb" => 1000 * 1000 * 1000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => bail!("unknown unit {other:?} (use B, kB, MB, GB, KiB, MiB or GiB)"),
    };
    Ok((number * factor as f64).round() as u64)
}

/// The lock's `created`: `$SOURCE_DATE_EPOCH` if set, else now (whole seconds).
fn creation_time() -> Result<SystemTime> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.is_empty() => {
            let seconds: u64 =
                text.trim().parse().with_context(|| format!("invalid SOURCE_DATE_EPOCH {text:?}: expected seconds"))?;
            Ok(UNIX_EPOCH + Duration::from_secs(seconds))
        }
        _ => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            Ok(UNIX_EPOCH + Duration::from_secs(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_size("25MB").unwrap(), 25_000_000);
        assert_eq!(parse_size("100kB").unwrap(), 100_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert!(parse_size("12 parsecs").is_err());
    }
}
