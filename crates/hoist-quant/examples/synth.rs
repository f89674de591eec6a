//! Writes the synthetic inputs of the golden tests into a directory:
//! `small.gguf`, `small-f16.gguf`, `odd.gguf` and importance matrices for them
//! (`small.imatrix.gguf`, `small.imatrix.dat`, `odd.imatrix.gguf`).
//!
//! `cargo run -p hoist-quant --example synth -- DIR` (used by scripts/llama-quantize-goldens.sh).

use std::path::PathBuf;

use hoist_gguf::GgmlType;
use hoist_quant::synth::SynthModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: synth DIR")?);
    std::fs::create_dir_all(&dir)?;
    let small = SynthModel::small();
    small.write(&dir.join("small.gguf"))?;
    small.write_imatrix(&dir.join("small.imatrix.gguf"), false)?;
    small.write_imatrix(&dir.join("small.imatrix.dat"), true)?;
    SynthModel { weight_type: GgmlType::F16, ..small }.write(&dir.join("small-f16.gguf"))?;
    let odd = SynthModel::odd();
    odd.write(&dir.join("odd.gguf"))?;
    odd.write_imatrix(&dir.join("odd.imatrix.gguf"), false)?;
    Ok(())
}
