//! config.json handling, through a whole conversion: the input is the config.json of a
//! model directory with a real SentencePiece tokenizer.model and a checkpoint without
//! tensors (so every architecture's hyperparameters reach the metadata). No input may
//! panic; an accepted one writes a GGUF that reads back with its architecture.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hoist_convert::{NoReport, Options, OutType, convert};
use hoist_gguf::read_header_from_path;
use libfuzzer_sys::fuzz_target;

/// tmpfs when there is one: every conversion ends with an fsync, which would otherwise
/// make the disk the bottleneck of the run.
fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() { shm } else { std::env::temp_dir() }
}

fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_root().join(format!("hoist-convert-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut empty = 8u64.to_le_bytes().to_vec();
        empty.extend(b"{}      ");
        std::fs::write(dir.join("model.safetensors"), empty).unwrap();
        let spm = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/spm/tokenizer.model");
        std::fs::copy(spm, dir.join("tokenizer.model")).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = model_dir();
    std::fs::write(dir.join("config.json"), data).unwrap();
    let out = dir.join("out.gguf");
    let opts = Options { out_type: OutType::Auto, threads: 1 };
    let Ok(summary) = convert(dir, &out, &opts, &NoReport) else {
        assert!(!out.exists());
        return;
    };
    let header = read_header_from_path(&out).unwrap();
    assert_eq!(header.get("general.architecture").and_then(|v| v.as_str()), Some(summary.architecture.as_str()));
    std::fs::remove_file(&out).unwrap();
});
