//! Writes a synthetic GGUF model.
//!
//! cargo run -p hoist-gguf --example tiny-model -- OUT.gguf [--size-mib N] [--type Q8_0] [--split N] [--seed N]
//!     [--embd N] [--ff N] [--heads N] [--kv-heads N] [--vocab N] [--layers N]
//!
//! With `--split N`, writes N shards `<OUT stem>-0000i-of-0000N.gguf` next to OUT. The shape
//! flags override single hyperparameters of the shape `--size-mib` picks (the smallest
//! without it), e.g. to measure llama.cpp's memory use across shapes (bench/estimate-vs-llama.sh).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hoist_gguf::synth::TinyModel;
use hoist_gguf::{GgmlType, format_parameters, read_header_from_path};

const USAGE: &str = "usage: tiny-model OUT.gguf [--size-mib N] [--type Q8_0] [--split N] [--seed N]\n  \
                     [--embd N] [--ff N] [--heads N] [--kv-heads N] [--vocab N] [--layers N]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tiny-model: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut model = TinyModel::default();
    let mut out: Option<PathBuf> = None;
    let mut split: Option<u16> = None;
    let mut shape_flags: Vec<(String, u64)> = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--size-mib" => {
                model.target_size = value()?.parse::<u64>()?.checked_mul(1 << 20).ok_or("size too large")?
            }
            "--type" => {
                let name = value()?;
                model.file_type = GgmlType::from_name(&name).ok_or_else(|| format!("unknown tensor type {name}"))?;
            }
            "--split" => split = Some(value()?.parse()?),
            "--seed" => model.seed = value()?.parse()?,
            "--embd" | "--ff" | "--heads" | "--kv-heads" | "--vocab" | "--layers" => {
                let n = value()?.parse()?;
                shape_flags.push((arg, n));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}").into()),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg}").into()),
        }
    }
    let out = out.ok_or("missing OUT path")?;
    if !shape_flags.is_empty() {
        let mut shape = model.shape()?;
        for (flag, n) in shape_flags {
            let field = match flag.as_str() {
                "--embd" => &mut shape.n_embd,
                "--ff" => &mut shape.n_ff,
                "--heads" => &mut shape.n_head,
                "--kv-heads" => &mut shape.n_head_kv,
                "--vocab" => &mut shape.n_vocab,
                _ => &mut shape.n_layer,
            };
            *field = n;
        }
        model.shape = Some(shape);
    }
    let paths = match split {
        Some(n) => {
            let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let stem = out.file_stem().ok_or("OUT has no file name")?.to_string_lossy();
            model.write_split(dir, &stem, n)?
        }
        None => {
            model.write_to_path(&out)?;
            vec![out]
        }
    };
    for p in &paths {
        let s = read_header_from_path(p)?.summary()?;
        println!(
            "{}: {} params, {} bytes of tensors, {:.2} bpw, {}",
            p.display(),
            format_parameters(s.parameters),
            s.tensor_bytes,
            s.bits_per_weight,
            s.file_type.unwrap_or_default()
        );
    }
    Ok(())
}
