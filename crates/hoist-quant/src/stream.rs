//! GGUF -> GGUF, streaming: the header first, then each tensor read, converted and
//! written in slabs of rows, a slab converted while the one before it is written and
//! the one after it read, so memory holds a few slabs, never the model.
//!
//! The output is laid out as llama-quantize writes it: tensors in llama.cpp's loader
//! order (by layer, then by name), the input's metadata in its order with
//! `general.quantization_version` and `general.file_type` moved to the end, split keys
//! removed, `quantize.imatrix.*` appended when an importance matrix is used, dims
//! without trailing 1s, data aligned to 32 bytes and zero padded after every tensor.
//! With `keep_split`, each input shard's tensors (in stored order) go to a shard of
//! their own, the metadata to the first, and the split keys to each.
//! Every file is written to a temporary name next to it and renamed at the end, so an
//! error leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tempfile::NamedTempFile;

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
/// Bytes copied at a time for a tensor that keeps its type.
const COPY_BYTES: u64 = 8 << 20;

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
    /// `--keep-split`: one output shard per input shard, named and tagged as
    /// llama-quantize names them (see [`split_output_paths`]).
    pub keep_split: bool,
}

impl QuantizeOptions {
    pub fn new(rules: RuleOptions) -> QuantizeOptions {
        QuantizeOptions { rules, allow_requantize: false, imatrix: None, threads: 0, keep_split: false }
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
    /// The files written: the output, or its shards with `keep_split`.
    pub outputs: Vec<PathBuf>,
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
    /// Index of the output file it goes to.
    output: usize,
}

/// Quantizes `input` (a GGUF file, or the first shard of a split model) into `output`
/// (with `keep_split`, into shards named after it).
pub fn quantize_file(
    input: &Path,
    output: &Path,
    opts: &QuantizeOptions,
    reporter: &dyn Reporter,
) -> Result<QuantizeSummary, QuantError> {
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| QuantError::Threads { reason: e.to_string() })?;
    let (headers, paths) = read_shards(input)?;
    let (jobs, fallbacks) = plan(&headers, opts, reporter)?;
    let outputs = output_files(output, &headers, &jobs, opts)?;
    for o in &outputs {
        if paths.iter().any(|p| same_file(p, &o.path)) {
            return Err(QuantError::SameFile { path: o.path.clone() });
        }
    }
    let files = paths
        .iter()
        .map(|p| File::open(p).map_err(|source| QuantError::Io { path: p.clone(), source }))
        .collect::<Result<Vec<_>, _>>()?;
    let inputs: Vec<(File, &Path)> = files.into_iter().zip(paths.iter().map(PathBuf::as_path)).collect();

    let total: u64 = jobs.iter().map(|j| j.info.byte_size().unwrap_or(0)).sum();
    reporter.start(total, jobs.len());
    let mut sink = Sink::new(outputs, reporter)?;
    let pieces = pieces(&jobs)?;
    pool.install(|| run_pipeline(&jobs, &pieces, &inputs, &mut sink))?;
    let (written, outputs) = sink.finish()?;

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
        outputs,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a))
}

/// The shard files `--keep-split` writes for `output` and `count` shards, as
/// llama-quantize names them: `.gguf` dropped from the name, then
/// `-0000i-of-0000n.gguf` added (also for an input of one file).
pub fn split_output_paths(output: &Path, count: usize) -> Vec<PathBuf> {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = name.strip_suffix(".gguf").unwrap_or(&name);
    (1..=count).map(|i| output.with_file_name(format!("{prefix}-{i:05}-of-{count:05}.gguf"))).collect()
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
                output: if opts.keep_split { shard } else { 0 },
            });
        }
    }
    if opts.keep_split {
        // As stored, shard by shard: each output shard holds its input shard's tensors.
        jobs.sort_by_key(|j| (j.shard, j.at));
    } else {
        // llama.cpp's loader order: by layer (tensors outside blk.N. first), then by
        // name, bytewise.
        jobs.sort_by(|a, b| {
            let layer = |j: &Job| parse_block_index(&j.info.name).unwrap_or(-1);
            layer(a).cmp(&layer(b)).then_with(|| a.info.name.as_bytes().cmp(b.info.name.as_bytes()))
        });
    }

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

/// One output file: where it goes and its header.
struct OutputFile {
    path: PathBuf,
    header: GgufWriter,
}

/// The output files and their headers: metadata in llama-quantize's order, tensors with
/// their new types; with `keep_split`, one per input shard, the metadata in the first,
/// the split keys in each (when there are several).
fn output_files(
    output: &Path,
    headers: &[GgufHeader],
    jobs: &[Job],
    opts: &QuantizeOptions,
) -> Result<Vec<OutputFile>, QuantError> {
    let first = &headers[0];
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
    kv.retain(|(k, _)| !is_split_key(k));
    let count = if opts.keep_split { headers.len() } else { 1 };
    let paths = if opts.keep_split { split_output_paths(output, count) } else { vec![output.to_path_buf()] };
    let mut files: Vec<OutputFile> =
        paths.into_iter().map(|path| OutputFile { path, header: GgufWriter::new() }).collect();
    for (k, v) in kv {
        files[0].header.add_metadata(k, v);
    }
    if count > 1 {
        for (i, f) in files.iter_mut().enumerate() {
            f.header.add_metadata("split.no", Value::U16(i as u16));
            f.header.add_metadata("split.count", Value::U16(count as u16));
            f.header.add_metadata("split.tensors.count", Value::I32(jobs.len() as i32));
        }
    }
    let mut tensors = vec![0usize; count];
    for j in jobs {
        files[j.output].header.add_tensor(j.info.name.clone(), &j.ne, j.target)?;
        tensors[j.output] += 1;
    }
    if let Some(i) = tensors.iter().position(|&n| n == 0) {
        // llama-quantize has nothing to open such a shard with and aborts.
        return Err(QuantError::EmptyShard { path: files[i].path.clone(), shard: i + 1, count });
    }
    Ok(files)
}

fn is_split_key(k: &str) -> bool {
    matches!(k, "split.no" | "split.count" | "split.tensors.count")
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

/// A share of one tensor's work: `rows` rows converted, or `bytes` bytes copied as
/// they are; `last` ends the tensor (its padding follows).
struct Piece {
    job: usize,
    rows: Range<usize>,
    bytes: Range<u64>,
    copy: bool,
    last: bool,
}

/// Every tensor cut into pieces, in output order: slabs of rows that never cross an
/// expert (each expert has its own importance weights), or 8 MiB of bytes to copy.
fn pieces(jobs: &[Job]) -> Result<Vec<Piece>, QuantError> {
    let mut out = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let in_size = job.info.byte_size().unwrap_or(0);
        if job.target == job.info.ggml_type {
            let mut off = 0;
            loop {
                let end = (off + COPY_BYTES).min(in_size);
                out.push(Piece { job: i, rows: 0..0, bytes: off..end, copy: true, last: end == in_size });
                off = end;
                if off == in_size {
                    break;
                }
            }
            continue;
        }
        let ne0 = job.ne[0] as usize;
        let rows_per_expert = (job.ne.get(1).copied().unwrap_or(1) as usize).max(1);
        let rows = (job.info.element_count().unwrap_or(0) as usize).checked_div(ne0).unwrap_or(0);
        let rb_in = row_bytes(job.info.ggml_type, ne0)?;
        row_bytes(job.target, ne0)?;
        let slab_rows = (SLAB_VALUES / ne0.max(1)).max(1);
        let mut row = 0;
        loop {
            let n = slab_rows.min(rows - row).min(rows_per_expert - row % rows_per_expert);
            let bytes = (row * rb_in) as u64..((row + n) * rb_in) as u64;
            out.push(Piece { job: i, rows: row..row + n, bytes, copy: false, last: row + n == rows });
            row += n;
            if row == rows {
                break;
            }
        }
    }
    Ok(out)
}

/// Runs the pieces in order, each converted while the one before it is written and the
/// one after it read, so the pool's threads never wait on the disk (rayon runs the I/O
/// as one more task of the same pool: `threads` stays the number of busy threads).
fn run_pipeline(jobs: &[Job], pieces: &[Piece], inputs: &[(File, &Path)], sink: &mut Sink) -> Result<(), QuantError> {
    let read = |piece: &Piece, buf: &mut Vec<u8>| {
        let job = &jobs[piece.job];
        let (file, path) = &inputs[job.shard];
        buf.resize((piece.bytes.end - piece.bytes.start) as usize, 0);
        read_at(file, path, buf, job.at + piece.bytes.start)
    };
    let Some(first) = pieces.first() else { return Ok(()) };
    // Buffers are reused from piece to piece: two inputs, two outputs, one of values.
    let mut raw = Vec::new();
    read(first, &mut raw)?;
    let mut spare_raw = Vec::new();
    let mut spare_out = Vec::new();
    let mut values = Vec::new();
    let mut pending: Option<(&Piece, Vec<u8>)> = None;
    for (k, piece) in pieces.iter().enumerate() {
        let mut converted = std::mem::take(&mut spare_out);
        let (done, io) = rayon::join(
            || convert(&jobs[piece.job], piece, &raw, &mut values, &mut converted),
            || -> Result<(Vec<u8>, Vec<u8>), QuantError> {
                let freed = match pending.take() {
                    Some((p, bytes)) => {
                        sink.write(&jobs[p.job], p, &bytes)?;
                        bytes
                    }
                    None => Vec::new(),
                };
                let mut next = std::mem::take(&mut spare_raw);
                if let Some(p) = pieces.get(k + 1) {
                    read(p, &mut next)?;
                }
                Ok((freed, next))
            },
        );
        done?;
        let (freed, next) = io?;
        spare_raw = std::mem::replace(&mut raw, next);
        spare_out = freed;
        pending = Some((piece, converted));
    }
    if let Some((p, bytes)) = pending {
        sink.write(&jobs[p.job], p, &bytes)?;
    }
    Ok(())
}

/// One piece's output bytes: its input as it is, or converted (rows spread over the pool).
fn convert(job: &Job, piece: &Piece, raw: &[u8], values: &mut Vec<f32>, out: &mut Vec<u8>) -> Result<(), QuantError> {
    out.clear();
    if piece.copy {
        out.extend_from_slice(raw);
        return Ok(());
    }
    let ne0 = job.ne[0] as usize;
    let n = piece.rows.len();
    values.resize(n * ne0, 0.0);
    dequantize_rows(job.info.ggml_type, raw, ne0, values)?;
    out.resize(n * row_bytes(job.target, ne0)?, 0);
    let rows_per_expert = (job.ne.get(1).copied().unwrap_or(1) as usize).max(1);
    let expert = piece.rows.start / rows_per_expert;
    let w = job.imatrix.as_deref().map(|w| &w[expert * ne0..(expert + 1) * ne0]);
    quantize_rows(job.target, values, ne0, w, out)
}

/// The output files being written: each a temporary file next to its final name,
/// opened when its first piece arrives, renamed only when every one is complete.
struct Sink<'a> {
    files: Vec<(OutputFile, NamedTempFile)>,
    current: Option<(usize, BufWriter<File>)>,
    /// Bytes written so far (headers, data, padding), all files.
    written: u64,
    /// Bytes of the current tensor written so far.
    tensor_bytes: u64,
    /// Input bytes done, for progress.
    done: u64,
    reporter: &'a dyn Reporter,
}

impl<'a> Sink<'a> {
    fn new(outputs: Vec<OutputFile>, reporter: &'a dyn Reporter) -> Result<Sink<'a>, QuantError> {
        let mut files = Vec::new();
        for o in outputs {
            let dir = o.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".hoist-quant-")
                .suffix(".tmp")
                .tempfile_in(dir)
                .map_err(|source| QuantError::Io { path: o.path.clone(), source })?;
            files.push((o, tmp));
        }
        Ok(Sink { files, current: None, written: 0, tensor_bytes: 0, done: 0, reporter })
    }

    fn io(&self, index: usize) -> impl Fn(std::io::Error) -> QuantError + '_ {
        move |source| QuantError::Io { path: self.files[index].0.path.clone(), source }
    }

    fn write(&mut self, job: &Job, piece: &Piece, bytes: &[u8]) -> Result<(), QuantError> {
        let index = job.output;
        let (_, out) = match self.current.take() {
            Some((i, out)) if i == index => self.current.insert((i, out)),
            other => {
                self.current = other;
                self.close_current()?;
                let file = self.files[index].1.as_file().try_clone().map_err(self.io(index))?;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                self.written += self.files[index].0.header.write_header(&mut out).map_err(self.io(index))?;
                self.current.insert((index, out))
            }
        };
        let io = |source| QuantError::Io { path: self.files[index].0.path.clone(), source };
        out.write_all(bytes).map_err(io)?;
        self.tensor_bytes += bytes.len() as u64;
        if piece.last {
            let padded = self.tensor_bytes.next_multiple_of(ALIGNMENT);
            out.write_all(&[0u8; ALIGNMENT as usize][..(padded - self.tensor_bytes) as usize]).map_err(io)?;
            self.written += padded;
            self.tensor_bytes = 0;
        }
        self.done += piece.bytes.end - piece.bytes.start;
        self.reporter.progress(self.done);
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), QuantError> {
        if let Some((index, mut out)) = self.current.take() {
            out.flush().map_err(self.io(index))?;
            let file = out.into_inner().map_err(|e| e.into_error()).map_err(self.io(index))?;
            file.sync_all().map_err(self.io(index))?;
        }
        Ok(())
    }

    /// Closes the last file and renames every one into place; the total bytes
    /// written and the files' paths.
    fn finish(mut self) -> Result<(u64, Vec<PathBuf>), QuantError> {
        self.close_current()?;
        let mut paths = Vec::new();
        for (o, tmp) in self.files {
            tmp.persist(&o.path).map_err(|e| QuantError::Io { path: o.path.clone(), source: e.error })?;
            paths.push(o.path);
        }
        Ok((self.written, paths))
    }
}
