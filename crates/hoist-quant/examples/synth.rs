//! Writes the synthetic inputs of the golden tests into a directory:
//! `small.gguf`, `small-f16.gguf`, `odd.gguf` and importance matrices for them
//! (`small.imatrix.gguf`, `small.imatrix.dat`, `odd.imatrix.gguf`).
//!
//! `cargo run -p hoist-quant --example synth -- DIR` (used by scripts/llama-quantize-goldens.sh);
//! `... --example synth -- --f16-bytes N FILE` writes an F16 model of about N bytes
//! instead (bench/quantize.sh).

use std::path::PathBuf;

use hoist_gguf::GgmlType;
use hoist_quant::synth::SynthModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, bytes, file] = args.as_slice()
        && flag == "--f16-bytes"
    {
        SynthModel::sized_f16(bytes.parse()?).write(&PathBuf::from(file))?;
        return Ok(());
    }
    let dir = PathBuf::from(args.first().ok_or("usage: synth DIR | synth --f16-bytes N FILE")?);
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
