//! The conversion driver: plan, metadata, then tensor data. The header fixes every
//! tensor's offset, so the data is cut into pieces (slices of a tensor, or a whole tensor
//! that needs its rows reordered) that the threads convert and write in place, in any
//! order, into a temporary file renamed at the end.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hoist_gguf::{GgufWriter, file_type_id};
use rayon::prelude::*;

use crate::arch::{self, Kv};
use crate::config::Config;
use crate::metadata::General;
use crate::numeric::element_size;
use crate::plan::{self, Planned};
use crate::safetensors::Checkpoint;
use crate::{ConvertError, Options, Reporter, Summary, tensor};

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
    add_tensors(&mut w, &planned, out)?;

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
    let mut header = Vec::new();
    let data_start = w.write_header(&mut header).map_err(io)?;
    let infos = w.tensors();
    let data_end = infos.iter().filter_map(|t| Some(t.offset + t.byte_size()?)).max().unwrap_or(0);
    let file_len = data_start + data_end.div_ceil(32) * 32;
    // The padding between tensors and at the end stays as set_len leaves it: zeros.
    file.set_len(file_len).map_err(io)?;
    file.write_all_at(&header, 0).map_err(io)?;
    let total: u64 = infos.iter().filter_map(|t| t.byte_size()).sum();
    reporter.begin(planned.len(), total);

    let mut pieces = Vec::new();
    for (i, (p, info)) in planned.iter().zip(infos).enumerate() {
        let expected = info.byte_size().unwrap_or(0);
        let at = data_start + info.offset;
        match tensor::direct_source(ck, p) {
            // Converted a slice at a time straight into the file: no tensor-sized buffer.
            Some((dtype, src)) => {
                let in_size = element_size(dtype);
                let produced =
                    tensor::output_len(dtype, p.ggml_type, src.len()).map_err(|r| tensor_error(out, p, r))?;
                if produced as u64 != expected {
                    return Err(tensor_error(out, p, format!("converts to {produced} bytes, expected {expected}")));
                }
                let n = src.len() / in_size;
                for start in (0..n.max(1)).step_by(SLICE) {
                    pieces.push(Piece { tensor: i, elements: start..(start + SLICE).min(n), at });
                }
            }
            None => pieces.push(Piece { tensor: i, elements: 0..0, at }),
        }
    }
    let mut remaining: Vec<AtomicUsize> = (0..planned.len()).map(|_| AtomicUsize::new(0)).collect();
    for piece in &pieces {
        if let Some(r) = remaining.get_mut(piece.tensor) {
            *r.get_mut() += 1;
        }
    }

    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build().map_err(|e| io(std::io::Error::other(e)))?;
    pool.install(|| {
        pieces.par_iter().try_for_each_init(Vec::new, |buf: &mut Vec<u8>, piece| {
            let (Some(p), Some(info)) = (planned.get(piece.tensor), infos.get(piece.tensor)) else { return Ok(()) };
            match tensor::direct_source(ck, p) {
                Some((dtype, src)) => {
                    let size = element_size(dtype);
                    let src = src.get(piece.elements.start * size..piece.elements.end * size).unwrap_or_default();
                    let len = tensor::output_len(dtype, p.ggml_type, src.len()).map_err(|r| tensor_error(out, p, r))?;
                    let dst_start = tensor::output_len(dtype, p.ggml_type, piece.elements.start * size)
                        .map_err(|r| tensor_error(out, p, r))?;
                    buf.resize(len, 0);
                    tensor::convert_into(dtype, p.ggml_type, src, buf).map_err(|r| tensor_error(out, p, r))?;
                    write_behind(file, buf, piece.at + dst_start as u64).map_err(io)?;
                }
                None => {
                    let bytes = tensor::produce(ck, p).map_err(|r| tensor_error(out, p, r))?;
                    if Some(bytes.len() as u64) != info.byte_size() {
                        let reason = format!("produced {} bytes, expected {:?}", bytes.len(), info.byte_size());
                        return Err(tensor_error(out, p, reason));
                    }
                    write_behind(file, &bytes, piece.at).map_err(io)?;
                }
            }
            if remaining.get(piece.tensor).is_some_and(|r| r.fetch_sub(1, Ordering::AcqRel) == 1) {
                reporter.tensor_written(&p.name, info.byte_size().unwrap_or(0));
            }
            Ok(())
        })
    })?;
    file.sync_all().map_err(io)?;
    tmp.persist(out).map_err(|e| io(e.error))?;
    Ok(file_len)
}

/// Elements of a tensor converted and written as one piece: a whole number of Q8_0 blocks,
/// a few MB of output, so that both cores share even one large tensor.
const SLICE: usize = 1 << 20;

/// A slice of one tensor's elements (or, when empty, the whole tensor made at once) and
/// where the tensor starts in the file.
struct Piece {
    tensor: usize,
    elements: Range<usize>,
    at: u64,
}

/// Declares the planned tensors in the writer's header, in order.
pub(crate) fn add_tensors(w: &mut GgufWriter, planned: &[Planned], out: &Path) -> Result<(), ConvertError> {
    for p in planned {
        w.add_tensor(&p.name, &p.dims, p.ggml_type).map_err(|e| tensor_error(out, p, e.to_string()))?;
    }
    Ok(())
}

fn tensor_error(out: &Path, p: &Planned, reason: String) -> ConvertError {
    ConvertError::Tensor { path: out.to_path_buf(), tensor: p.name.clone(), reason }
}

/// Writes `bytes` at `offset` and asks the kernel to start writing them to disk now, so
/// that the final fsync finds little left to do (Linux; elsewhere a plain write).
fn write_behind(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    file.write_all_at(bytes, offset)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor with a range inside the file; it
        // only starts writeback and touches no memory of ours. Advisory: a filesystem
        // that refuses it still gets the fsync at the end, so its result is not an error.
        let _ = unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                bytes.len() as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
    }
    Ok(())
}
