//! The conversion driver: plan, metadata, then tensor data, converted a few tensors at a
//! time in parallel and written in order into a temporary file renamed at the end.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use hoist_gguf::{GgufWriter, file_type_id};
use rayon::prelude::*;

use crate::arch::{self, Kv};
use crate::config::Config;
use crate::metadata::General;
use crate::plan::{self, Planned};
use crate::safetensors::Checkpoint;
use crate::{ConvertError, Options, Reporter, Summary, tensor};

/// Bytes of converted tensors held at once beyond the one being written (besides a single
/// tensor larger than this, which is converted alone).
const IN_FLIGHT_BYTES: u64 = 64 << 20;

pub fn convert(dir: &Path, out: &Path, opts: &Options, reporter: &dyn Reporter) -> Result<Summary, ConvertError> {
    let mut cfg = Config::load(dir)?;
    let arch = arch::detect(&mut cfg)?;
    let ck = Checkpoint::open(dir)?;
    let ftype = plan::out_ggml_type(opts.out_type, &ck);
    let planned = plan::plan(arch.as_ref(), &cfg, &ck, ftype)?;
    let parameters: u64 = planned.iter().map(Planned::elements).sum();
    let file_type = file_type_id(ftype).unwrap_or(0);

    let mut w = GgufWriter::new();
    let source = cfg.path().to_path_buf();
    let mut kv = Kv { arch: arch.gguf_name(), w: &mut w, source: &source };
    kv.string("general.architecture", arch.gguf_name());
    arch.early_metadata(&cfg, &mut kv)?;
    kv.string("general.type", "model");
    General::load(dir, dir, i64::try_from(parameters).unwrap_or(i64::MAX))?.write(&mut kv)?;
    arch.set_parameters(&cfg, &mut kv, file_type)?;
    kv.u32("general.quantization_version", 2)?;
    arch.set_vocab(dir, &cfg, &mut kv)?;
    for p in &planned {
        w.add_tensor(&p.name, &p.dims, p.ggml_type).map_err(|e| ConvertError::Tensor {
            path: out.to_path_buf(),
            tensor: p.name.clone(),
            reason: e.to_string(),
        })?;
    }

    let bytes = write_file(&w, &ck, &planned, out, opts, reporter)?;
    Ok(Summary {
        architecture: arch.gguf_name().to_string(),
        file_type: ftype.name(),
        tensors: planned.len(),
        parameters,
        bytes,
    })
}

pub(crate) fn write_file(
    w: &GgufWriter,
    ck: &Checkpoint,
    planned: &[Planned],
    out: &Path,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<u64, ConvertError> {
    let io = |e| ConvertError::Io { path: out.to_path_buf(), source: e };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Written beside the destination, renamed over it only when complete: a failed or
    // interrupted conversion leaves no partial file behind (the temp file is removed on drop).
    let tmp = tempfile::Builder::new().prefix(".hoist-convert-").suffix(".tmp").tempfile_in(parent).map_err(io)?;
    let file: &File = tmp.as_file();
    let mut sink = BufWriter::with_capacity(4 << 20, file);
    let data_start = w.write_header(&mut sink).map_err(io)?;
    let infos = w.tensors();
    let total: u64 = infos.iter().filter_map(|t| t.byte_size()).sum();
    reporter.begin(planned.len(), total);

    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build().map_err(|e| io(std::io::Error::other(e)))?;
    let mut written = 0u64; // relative to the data section
    let mut i = 0;
    while i < planned.len() {
        // A batch: as many tensors as fit in IN_FLIGHT_BYTES (at least one).
        let mut end = i;
        let mut batch_bytes = 0u64;
        while end < planned.len() {
            let size = infos.get(end).and_then(|t| t.byte_size()).unwrap_or(0);
            if end > i && batch_bytes + size > IN_FLIGHT_BYTES {
                break;
            }
            batch_bytes += size;
            end += 1;
        }
        let batch = planned.get(i..end).unwrap_or_default();
        let produced: Vec<Result<Vec<u8>, String>> =
            pool.install(|| batch.par_iter().map(|p| tensor::produce(ck, p)).collect());
        for (k, bytes) in produced.into_iter().enumerate() {
            let (Some(info), Some(p)) = (infos.get(i + k), batch.get(k)) else { continue };
            let bytes = bytes.map_err(|reason| ConvertError::Tensor {
                path: out.to_path_buf(),
                tensor: p.name.clone(),
                reason,
            })?;
            if Some(bytes.len() as u64) != info.byte_size() {
                return Err(ConvertError::Tensor {
                    path: out.to_path_buf(),
                    tensor: p.name.clone(),
                    reason: format!("produced {} bytes, expected {:?}", bytes.len(), info.byte_size()),
                });
            }
            zeros(&mut sink, info.offset - written).map_err(io)?;
            sink.write_all(&bytes).map_err(io)?;
            written = info.offset + bytes.len() as u64;
            reporter.tensor_written(&p.name, bytes.len() as u64);
        }
        i = end;
    }
    let end = written.div_ceil(32) * 32;
    zeros(&mut sink, end - written).map_err(io)?;
    sink.flush().map_err(io)?;
    drop(sink);
    file.sync_all().map_err(io)?;
    tmp.persist(out).map_err(|e| io(e.error))?;
    Ok(data_start + end)
}

fn zeros(w: &mut impl Write, n: u64) -> std::io::Result<()> {
    std::io::copy(&mut std::io::repeat(0).take(n), w).map(drop)
}
