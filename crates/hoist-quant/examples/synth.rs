//! Writes the synthetic inputs of the golden tests into a directory
//! (`SynthModel::write_golden_inputs`: small, odd, MoE, Falcon and split models, and
//! importance matrices for them).
//!
//! `cargo run -p hoist-quant --example synth -- DIR` (used by scripts/llama-quantize-goldens.sh);
//! `... --example synth -- --f16-bytes N FILE` writes an F16 model of about N bytes
//! instead (bench/quantize.sh).

use std::path::PathBuf;

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
    SynthModel::write_golden_inputs(&dir)?;
    Ok(())
}
