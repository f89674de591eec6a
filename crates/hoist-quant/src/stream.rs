//! GGUF -> GGUF, streaming: the header first, then each tensor read, converted and
//! written in slabs of rows, so memory holds a slab or two, never the model.
//!
//! The output is laid out as llama-quantize writes it: tensors in llama.cpp's loader
//! order (by layer, then by name), the input's metadata in its order with
//! `general.quantization_version` and `general.file_type` moved to the end, split keys
//! removed, `quantize.imatrix.*` appended when an importance matrix is used, dims
//! without trailing 1s, data aligned to 32 bytes and zero padded after every tensor.
//! It is written to a temporary file next to the output and renamed at the end, so an
//! error leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hoist_gguf::{ByteOrder, GgmlType, GgufHeader, GgufWriter, TensorInfo, Value, read_header_from_path};

use crate::imatrix::Imatrix;
use crate::rules::{ModelFacts, Planner, RuleOptions, parse_block_index};
use crate::{QuantError, can_dequantize, can_quantize, dequantize_rows, ftype::is_quantized, quantize_rows, row_bytes};

/// ggml's quantization format version, written as `general.quantization_version`.
const QNT_VERSION: u32 = 2;
/// The data alignment llama-quantize always writes.
const ALIGNMENT: u64 = 32;
/// f32 values converted at a time (16 MiB of f32): with the slab's input and output
/// bytes, what memory holds of a tensor, whatever its size.
const SLAB_VALUES: usize = 4 << 20;

/// Everything `llama-quantize` takes besides the file names.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    pub rules: RuleOptions,
    /// `--allow-requantize`: quantized inputs are dequantized and quantized again.
    pub allow_requantize: bool,
    /// The importance matrix and the file name recorded as `quantize.imatrix.file`.
    pub imatrix: Option<(Imatrix, String)>,
    /// Worker threads; 0 uses every core.
    pub threads: usize,
}

impl QuantizeOptions {
    pub fn new(rules: RuleOptions) -> QuantizeOptions {
        QuantizeOptions { rules, allow_requantize: false, imatrix: None, threads: 0 }
    }

    /// Uses the importance matrix at `path` (kept to the tensors `include` and
    /// `exclude` leave), as `--imatrix` with `--include-weights` and
    /// `--exclude-weights` do; one left empty is not used. `named` is what
    /// `quantize.imatrix.file` records: the name as the user gave it, as
    /// llama-quantize records it.
    pub fn use_imatrix(
        &mut self,
        path: &Path,
        named: &str,
        include: &[String],
        exclude: &[String],
    ) -> Result<(), QuantError> {
        let mut matrix = Imatrix::read(path)?;
        matrix.filter(include, exclude);
        self.imatrix = (!matrix.entries.is_empty()).then(|| (matrix, named.to_string()));
        Ok(())
    }
}

/// Progress callbacks; the library never prints. All methods default to doing nothing.
pub trait Reporter: Sync {
    /// Before the first tensor: the bytes of tensor data to process and the tensor count.
    fn start(&self, _input_bytes: u64, _tensors: usize) {}
    /// After each slab: input bytes consumed so far in total.
    fn progress(&self, _input_bytes_done: u64) {}
    /// A tensor whose row length made llama.cpp's fallback pick another type.
    fn fallback(&self, _tensor: &str, _wanted: GgmlType, _got: GgmlType) {}
}

/// A [`Reporter`] that ignores everything.
pub struct NoReport;
impl Reporter for NoReport {}

/// What a run did (the CLI prints it, `--json` serialises it).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeSummary {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub tensors: usize,
    /// Tensors whose type changed.
    pub converted: usize,
    /// Output tensor count per type name.
    pub types: BTreeMap<String, usize>,
    pub fallbacks: usize,
    pub seconds: f64,
}

/// One input tensor: where its bytes are and what becomes of it.
struct Job {
    info: TensorInfo,
    shard: usize,
    /// Absolute offset of the data in its shard.
    at: u64,
    /// Dims without trailing 1s (at least one).
    ne: Vec<u64>,
    target: GgmlType,
    imatrix: Option<Vec<f32>>,
}

/// Quantizes `input` (a GGUF file, or the first shard of a split model) into `output`.
pub fn quantize_file(
    input: &Path,
    output: &Path,
    opts: &QuantizeOptions,
    reporter: &dyn Reporter,
) -> Result<QuantizeSummary, QuantError> {
    let started = Instant::now();
    if input.canonicalize().ok().is_some_and(|i| output.canonicalize().ok() == Some(i)) {
        return Err(QuantError::SameFile { path: output.to_path_buf() });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| QuantError::Threads { reason: e.to_string() })?;
    let (headers, paths) = read_shards(input)?;
    let first = &headers[0];
    let (jobs, fallbacks) = plan(&headers, opts, reporter)?;
    let writer = output_layout(first, &jobs, opts)?;

    let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io_out = |source| QuantError::Io { path: output.to_path_buf(), source };
    let tmp = tempfile::Builder::new().prefix(".hoist-quant-").suffix(".tmp").tempfile_in(dir).map_err(io_out)?;
    let files = paths
        .iter()
        .map(|p| File::open(p).map_err(|source| QuantError::Io { path: p.clone(), source }))
        .collect::<Result<Vec<_>, _>>()?;

    let total: u64 = jobs.iter().map(|j| j.info.byte_size().unwrap_or(0)).sum();
    reporter.start(total, jobs.len());
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    let mut written = writer.write_header(&mut out).map_err(io_out)?;
    let mut done = 0u64;
    for job in &jobs {
        let src = (&files[job.shard], paths[job.shard].as_path());
        let size = pool.install(|| convert(job, src, (&mut out, output), &mut done, reporter))?;
        let padded = size.next_multiple_of(ALIGNMENT);
        out.write_all(&vec![0u8; (padded - size) as usize]).map_err(io_out)?;
        written += padded;
    }
    out.flush().map_err(io_out)?;
    drop(out);
    tmp.as_file().sync_all().map_err(io_out)?;
    tmp.persist(output).map_err(|e| io_out(e.error))?;

    let mut types = BTreeMap::new();
    for j in &jobs {
        *types.entry(j.target.name()).or_insert(0) += 1;
    }
    let input_bytes = paths.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
    Ok(QuantizeSummary {
        input_bytes,
        output_bytes: written,
        tensors: jobs.len(),
        converted: jobs.iter().filter(|j| j.target != j.info.ggml_type).count(),
        types,
        fallbacks,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The headers and paths of the input's shards (one for a single file). Shards of a
/// split model are found by llama.cpp's naming, `<prefix>-0000i-of-0000n.gguf`.
fn read_shards(input: &Path) -> Result<(Vec<GgufHeader>, Vec<PathBuf>), QuantError> {
    let read =
        |p: &Path| read_header_from_path(p).map_err(|source| QuantError::Input { path: p.to_path_buf(), source });
    let first = read(input)?;
    let count = first.get("split.count").and_then(Value::as_u64).unwrap_or(1);
    let mut headers = vec![first];
    let mut paths = vec![input.to_path_buf()];
    if count > 1 {
        let name = input.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let suffix = format!("-00001-of-{count:05}.gguf");
        let prefix = name
            .strip_suffix(&suffix)
            .ok_or_else(|| QuantError::SplitName { path: input.to_path_buf(), expected: format!("<name>{suffix}") })?;
        for i in 2..=count {
            let p = input.with_file_name(format!("{prefix}-{i:05}-of-{count:05}.gguf"));
            headers.push(read(&p)?);
            paths.push(p);
        }
    }
    for (h, p) in headers.iter().zip(&paths) {
        if h.byte_order != ByteOrder::Little {
            return Err(QuantError::BigEndian { path: p.clone() });
        }
    }
    Ok((headers, paths))
}

/// ggml's dims: trailing 1s dropped, at least one left.
fn trimmed_dims(dims: &[u64]) -> Vec<u64> {
    let n = dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
    let mut ne = dims[..n.min(dims.len())].to_vec();
    if ne.is_empty() {
        ne.push(1);
    }
    ne
}

/// Orders the tensors as llama.cpp's loader does, plans every type, and refuses what
/// llama-quantize refuses (before anything is written). Returns the jobs and how many
/// tensors fell back to another type.
fn plan(
    headers: &[GgufHeader],
    opts: &QuantizeOptions,
    reporter: &dyn Reporter,
) -> Result<(Vec<Job>, usize), QuantError> {
    let mut jobs: Vec<Job> = Vec::new();
    for (shard, h) in headers.iter().enumerate() {
        for t in &h.tensors {
            jobs.push(Job {
                ne: trimmed_dims(&t.dims),
                at: h.data_offset + t.offset,
                info: t.clone(),
                shard,
                target: t.ggml_type,
                imatrix: None,
            });
        }
    }
    // By layer (tensors outside blk.N. first), then by name, bytewise.
    jobs.sort_by(|a, b| {
        let layer = |j: &Job| parse_block_index(&j.info.name).unwrap_or(-1);
        layer(a).cmp(&layer(b)).then_with(|| a.info.name.as_bytes().cmp(b.info.name.as_bytes()))
    });

    let mut rules = opts.rules.clone();
    let imatrix = opts.imatrix.as_ref().map(|(m, _)| m);
    rules.has_imatrix = imatrix.is_some();
    if let Some(m) = imatrix
        && let Some((name, _)) = m.entries.iter().find(|(_, v)| v.iter().any(|x| !x.is_finite()))
    {
        return Err(QuantError::ImatrixNotFinite { tensor: name.clone() });
    }
    let facts = ModelFacts::from_header(&headers[0]);
    let mut planner = Planner::new(&rules, &facts, jobs.iter().map(|j| j.info.name.as_str()));
    let mut fallbacks = Vec::new();
    for job in &mut jobs {
        let p = planner.plan(&job.info.name, &job.ne, job.info.ggml_type)?;
        if p.quantizable && p.requires_imatrix && imatrix.is_none() {
            return Err(QuantError::NeedsImatrix { tensor: job.info.name.clone(), ty: p.target });
        }
        if let Some(wanted) = p.fell_back_from {
            fallbacks.push((job.info.name.clone(), wanted, p.target));
        }
        job.target = p.target;
    }
    for job in &mut jobs {
        let (cur, new) = (job.info.ggml_type, job.target);
        if cur == new {
            continue;
        }
        let name = &job.info.name;
        if is_quantized(cur) && !opts.allow_requantize {
            return Err(QuantError::Requantize { tensor: name.clone(), ty: cur });
        }
        if !can_dequantize(cur) {
            return Err(QuantError::TensorType { tensor: name.clone(), ty: cur, what: "reading" });
        }
        if !can_quantize(new) {
            return Err(QuantError::TensorType { tensor: name.clone(), ty: new, what: "writing" });
        }
        let ne0 = job.ne[0];
        let ne2 = job.ne.get(2).copied().unwrap_or(1);
        let found = imatrix.and_then(|m| m.entries.get(name));
        match found {
            Some(w) if w.len() as u64 == ne0 * ne2 => job.imatrix = Some(w.clone()),
            Some(w) if name != "token_embd.weight" && name != "per_layer_token_embd.weight" => {
                return Err(QuantError::ImatrixSize {
                    tensor: name.clone(),
                    size: w.len() as u64,
                    expected: ne0 * ne2,
                });
            }
            _ => {}
        }
        if job.imatrix.is_none() && crate::rules::requires_imatrix(name, new, rules.ftype) {
            return Err(QuantError::NeedsImatrix { tensor: name.clone(), ty: new });
        }
    }
    // Reported only once nothing is refused, so a refusal is the only output.
    for (name, wanted, got) in &fallbacks {
        reporter.fallback(name, *wanted, *got);
    }
    Ok((jobs, fallbacks.len()))
}

/// The output header: metadata in llama-quantize's order, tensors with their new types.
fn output_layout(first: &GgufHeader, jobs: &[Job], opts: &QuantizeOptions) -> Result<GgufWriter, QuantError> {
    if let Some(a) = first.get("general.alignment")
        && *a != Value::U32(ALIGNMENT as u32)
    {
        // llama-quantize would copy the key but align to 32 anyway: a corrupt file.
        return Err(QuantError::Alignment { value: a.to_display_string() });
    }
    let mut kv: Vec<(String, Value)> = first.metadata.clone();
    let mut set = |key: &str, v: Value| {
        kv.retain(|(k, _)| k != key);
        kv.push((key.to_string(), v));
    };
    set("general.quantization_version", Value::U32(QNT_VERSION));
    set("general.file_type", Value::U32(opts.rules.ftype.id()));
    if let Some((m, file)) = &opts.imatrix {
        // llama-quantize passes these through 128-byte override buffers.
        set("quantize.imatrix.file", Value::String(truncate(file, 127)));
        if let Some(d) = m.datasets.first() {
            set("quantize.imatrix.dataset", Value::String(truncate(d, 127)));
        }
        set("quantize.imatrix.entries_count", Value::U32(m.entries.len() as u32));
        if m.chunk_count > 0 {
            set("quantize.imatrix.chunks_count", Value::U32(m.chunk_count as u32));
        }
    }
    kv.retain(|(k, _)| !matches!(k.as_str(), "split.no" | "split.count" | "split.tensors.count"));
    let mut w = GgufWriter::new();
    for (k, v) in kv {
        w.add_metadata(k, v);
    }
    for j in jobs {
        w.add_tensor(j.info.name.clone(), &j.ne, j.target)?;
    }
    Ok(w)
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, n: usize) -> String {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn read_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<(), QuantError> {
    #[cfg(unix)]
    let r = std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
    #[cfg(windows)]
    let r = {
        let mut done = 0;
        let mut r = Ok(());
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    r = Err(std::io::ErrorKind::UnexpectedEof.into());
                    break;
                }
                Ok(n) => done += n,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        r
    };
    r.map_err(|source| QuantError::Io { path: path.to_path_buf(), source })
}

/// Writes one tensor's data (copied, or converted slab by slab); returns its size.
fn convert(
    job: &Job,
    (file, path): (&File, &Path),
    (out, out_path): (&mut impl Write, &Path),
    done: &mut u64,
    reporter: &dyn Reporter,
) -> Result<u64, QuantError> {
    let io_out = |source| QuantError::Io { path: out_path.to_path_buf(), source };
    let in_size = job.info.byte_size().unwrap_or(0);
    if job.target == job.info.ggml_type {
        let mut buf = vec![0u8; (in_size as usize).min(8 << 20)];
        let mut off = 0u64;
        while off < in_size {
            let n = ((in_size - off) as usize).min(buf.len());
            read_at(file, path, &mut buf[..n], job.at + off)?;
            out.write_all(&buf[..n]).map_err(io_out)?;
            off += n as u64;
            *done += n as u64;
            reporter.progress(*done);
        }
        return Ok(in_size);
    }
    let ne0 = job.ne[0] as usize;
    let rows_per_expert = job.ne.get(1).copied().unwrap_or(1) as usize;
    let rows = (job.info.element_count().unwrap_or(0) as usize).checked_div(ne0).unwrap_or(0);
    let rb_in = row_bytes(job.info.ggml_type, ne0)?;
    let rb_out = row_bytes(job.target, ne0)?;
    let slab_rows = (SLAB_VALUES / ne0.max(1)).max(1);
    let mut raw = Vec::new();
    let mut values = Vec::new();
    let mut q = Vec::new();
    let mut row = 0usize;
    let mut size = 0u64;
    while row < rows {
        // A slab never crosses an expert: each expert has its own importance weights.
        let n = slab_rows.min(rows - row).min(rows_per_expert - row % rows_per_expert);
        raw.resize(n * rb_in, 0);
        read_at(file, path, &mut raw, job.at + (row * rb_in) as u64)?;
        values.resize(n * ne0, 0.0);
        dequantize_rows(job.info.ggml_type, &raw, ne0, &mut values)?;
        q.resize(n * rb_out, 0);
        let expert = row / rows_per_expert;
        let w = job.imatrix.as_deref().map(|w| &w[expert * ne0..(expert + 1) * ne0]);
        quantize_rows(job.target, &values, ne0, w, &mut q)?;
        out.write_all(&q).map_err(io_out)?;
        size += q.len() as u64;
        row += n;
        *done += raw.len() as u64;
        reporter.progress(*done);
    }
    Ok(size)
}
