//! Synthetic llama-style models: for the quick-start demo, other crates' tests and benchmarks.
//!
//! The metadata is what llama.cpp needs to load a llama model (hyperparameters, an SPM
//! vocabulary with byte tokens), the tensor bytes are deterministic pseudo-random noise.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Array, GgmlType, GgufError, GgufWriter, Value, file_type_id};

/// A synthetic model's recipe; `write_to_path` / `write_split` produce the files.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyModel {
    /// `general.architecture`, also the prefix of the hyperparameter keys ("llama").
    pub architecture: String,
    pub name: String,
    /// Tensor type of the 2-D weights (norms stay F32).
    pub file_type: GgmlType,
    pub context_length: u64,
    pub chat_template: Option<String>,
    /// Approximate total bytes; 0 = smallest (under 1 MB). Layers and width grow to reach it.
    pub target_size: u64,
    /// Explicit hyperparameters; `None` picks them from `target_size` (see [`TinyModel::shape`]).
    pub shape: Option<Shape>,
    /// Same seed, same bytes.
    pub seed: u64,
}

impl Default for TinyModel {
    fn default() -> Self {
        TinyModel {
            architecture: "llama".into(),
            name: "tiny".into(),
            file_type: GgmlType::Q8_0,
            context_length: 2048,
            chat_template: Some(
                "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}\
                 {% if add_generation_prompt %}<|assistant|>\n{% endif %}"
                    .into(),
            ),
            target_size: 0,
            shape: None,
            seed: 42,
        }
    }
}

/// Width presets: (n_embd, n_ff, n_head, n_head_kv, n_vocab). Widths are multiples of 256
/// so every block-quantized type (K-quants use 256-element blocks) can store the rows.
const RUNGS: [(u64, u64, u64, u64, u64); 5] = [
    (256, 512, 4, 2, 320),
    (512, 1536, 8, 4, 4096),
    (1024, 2816, 16, 8, 16000),
    (2048, 5632, 32, 8, 32000),
    (4096, 11008, 32, 8, 32000),
];
const MAX_LAYERS: u64 = 100_000;

/// A synthetic model's hyperparameters (llama layout: separate Q, K, V, output projections
/// and a gated feed-forward of width `n_ff`; head size `n_embd / n_head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_vocab: u64,
    pub n_layer: u64,
}

impl Shape {
    fn check(&self) -> Result<(), GgufError> {
        let bad = |why: &str| Err(GgufError::InvalidArgument(format!("shape {self:?}: {why}")));
        if [self.n_embd, self.n_ff, self.n_head, self.n_head_kv, self.n_layer].contains(&0) {
            return bad("every size must be at least 1");
        }
        if !self.n_embd.is_multiple_of(self.n_head) || !self.n_head.is_multiple_of(self.n_head_kv) {
            return bad("n_embd must divide into n_head heads, and n_head into n_head_kv groups");
        }
        if self.n_vocab < 259 || self.n_layer > MAX_LAYERS {
            return bad("the vocabulary needs at least 259 tokens (3 special, 256 bytes); at most 100000 layers");
        }
        Ok(())
    }
}

impl TinyModel {
    /// Writes a complete single-file GGUF v3 model.
    pub fn write_to_path(&self, path: &Path) -> Result<(), GgufError> {
        let writer = self.writer(&self.tensor_list()?, 0..usize::MAX, None)?;
        write_with(&writer, path, self.seed, 0)
    }

    /// Writes the model as `count` shards `<stem>-0000i-of-0000N.gguf` in `dir`, laid out as
    /// llama.cpp's gguf-split does: full metadata in shard 1, only `general.architecture`
    /// and `split.*` in the others. Returns the paths in order.
    pub fn write_split(&self, dir: &Path, stem: &str, count: u16) -> Result<Vec<PathBuf>, GgufError> {
        let tensors = self.tensor_list()?;
        if count == 0 || usize::from(count) > tensors.len() {
            return Err(GgufError::InvalidArgument(format!(
                "split count {count} must be between 1 and the tensor count {}",
                tensors.len()
            )));
        }
        let ranges = balanced_ranges(&tensors, usize::from(count));
        let mut paths = Vec::with_capacity(ranges.len());
        for (i, range) in ranges.into_iter().enumerate() {
            let path = dir.join(format!("{stem}-{:05}-of-{count:05}.gguf", i + 1));
            let start = range.start;
            let no = u16::try_from(i).map_err(|_| GgufError::InvalidArgument("split index overflows u16".into()))?;
            let writer = self.writer(&tensors, range, Some((no, count)))?;
            write_with(&writer, &path, self.seed, start)?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// The hyperparameters written: `self.shape` if set, else the widest preset that still
    /// needs at least 4 layers to reach `target_size`, with as many layers as fit.
    pub fn shape(&self) -> Result<Shape, GgufError> {
        if let Some(s) = self.shape {
            s.check()?;
            return Ok(s);
        }
        let shape = |rung: (u64, u64, u64, u64, u64), n_layer| Shape {
            n_embd: rung.0,
            n_ff: rung.1,
            n_head: rung.2,
            n_head_kv: rung.3,
            n_vocab: rung.4,
            n_layer,
        };
        let mut chosen = shape(RUNGS[0], 1);
        if self.target_size > 0 {
            // The widest preset that still needs at least 4 layers, then as many layers as fit.
            for rung in RUNGS {
                let one = self.bytes_of(shape(rung, 1))?;
                let per_layer = self.bytes_of(shape(rung, 2))?.saturating_sub(one).max(1);
                let fixed = one.saturating_sub(per_layer);
                if rung == RUNGS[0] || fixed.saturating_add(per_layer.saturating_mul(4)) <= self.target_size {
                    let layers = self.target_size.saturating_sub(fixed).saturating_add(per_layer / 2) / per_layer;
                    chosen = shape(rung, layers.clamp(1, MAX_LAYERS));
                }
            }
        }
        Ok(chosen)
    }

    fn bytes_of(&self, shape: Shape) -> Result<u64, GgufError> {
        let mut w = GgufWriter::new();
        for (name, dims, ty) in self.tensors_for(shape) {
            w.add_tensor(name, &dims, ty)?;
        }
        Ok(w.tensors().last().and_then(|t| t.byte_size().map(|s| t.offset.saturating_add(s))).unwrap_or(0))
    }

    fn tensor_list(&self) -> Result<Vec<(String, Vec<u64>, GgmlType)>, GgufError> {
        Ok(self.tensors_for(self.shape()?))
    }

    fn tensors_for(&self, s: Shape) -> Vec<(String, Vec<u64>, GgmlType)> {
        let (w, f32) = (self.file_type, GgmlType::F32);
        let kv = s.n_embd / s.n_head * s.n_head_kv;
        let mut out = vec![("token_embd.weight".to_string(), vec![s.n_embd, s.n_vocab], w)];
        for l in 0..s.n_layer {
            let blk = |n: &str| format!("blk.{l}.{n}.weight");
            out.push((blk("attn_norm"), vec![s.n_embd], f32));
            out.push((blk("attn_q"), vec![s.n_embd, s.n_embd], w));
            out.push((blk("attn_k"), vec![s.n_embd, kv], w));
            out.push((blk("attn_v"), vec![s.n_embd, kv], w));
            out.push((blk("attn_output"), vec![s.n_embd, s.n_embd], w));
            out.push((blk("ffn_norm"), vec![s.n_embd], f32));
            out.push((blk("ffn_gate"), vec![s.n_embd, s.n_ff], w));
            out.push((blk("ffn_down"), vec![s.n_ff, s.n_embd], w));
            out.push((blk("ffn_up"), vec![s.n_embd, s.n_ff], w));
        }
        out.push(("output_norm.weight".into(), vec![s.n_embd], f32));
        out.push(("output.weight".into(), vec![s.n_embd, s.n_vocab], w));
        out
    }

    /// A writer for the tensors in `range` (clamped); `split` = (index, count) of a shard.
    fn writer(
        &self,
        tensors: &[(String, Vec<u64>, GgmlType)],
        range: std::ops::Range<usize>,
        split: Option<(u16, u16)>,
    ) -> Result<GgufWriter, GgufError> {
        let s = self.shape()?;
        let arch = &self.architecture;
        let mut w = GgufWriter::new();
        w.add_metadata("general.architecture", Value::String(arch.clone()));
        if split.is_none_or(|(no, _)| no == 0) {
            self.add_model_metadata(&mut w, s)?;
        }
        if let Some((no, count)) = split {
            let total = i32::try_from(tensors.len())
                .map_err(|_| GgufError::InvalidArgument("tensor count overflows i32".into()))?;
            w.add_metadata("split.no", Value::U16(no));
            w.add_metadata("split.count", Value::U16(count));
            w.add_metadata("split.tensors.count", Value::I32(total));
        }
        let end = range.end.min(tensors.len());
        for (name, dims, ty) in tensors.get(range.start..end).unwrap_or_default() {
            w.add_tensor(name.clone(), dims, *ty)?;
        }
        Ok(w)
    }

    fn add_model_metadata(&self, w: &mut GgufWriter, s: Shape) -> Result<(), GgufError> {
        let arch = &self.architecture;
        let u32_of = |what: &str, v: u64| {
            u32::try_from(v).map(Value::U32).map_err(|_| GgufError::InvalidArgument(format!("{what} {v} exceeds u32")))
        };
        w.add_metadata("general.name", Value::String(self.name.clone()));
        if let Some(ft) = file_type_id(self.file_type) {
            w.add_metadata("general.file_type", Value::U32(ft));
        }
        w.add_metadata(format!("{arch}.context_length"), u32_of("context_length", self.context_length)?);
        w.add_metadata(format!("{arch}.embedding_length"), u32_of("embedding_length", s.n_embd)?);
        w.add_metadata(format!("{arch}.block_count"), u32_of("block_count", s.n_layer)?);
        w.add_metadata(format!("{arch}.feed_forward_length"), u32_of("feed_forward_length", s.n_ff)?);
        w.add_metadata(format!("{arch}.attention.head_count"), u32_of("head_count", s.n_head)?);
        w.add_metadata(format!("{arch}.attention.head_count_kv"), u32_of("head_count_kv", s.n_head_kv)?);
        w.add_metadata(format!("{arch}.attention.layer_norm_rms_epsilon"), Value::F32(1e-5));
        w.add_metadata(format!("{arch}.rope.dimension_count"), u32_of("rope dims", s.n_embd / s.n_head)?);
        w.add_metadata(format!("{arch}.rope.freq_base"), Value::F32(10000.0));
        w.add_metadata(format!("{arch}.vocab_size"), u32_of("vocab_size", s.n_vocab)?);
        let (tokens, scores, types) = vocab(s.n_vocab);
        w.add_metadata("tokenizer.ggml.model", Value::String("llama".into()));
        w.add_metadata("tokenizer.ggml.tokens", Value::Array(Array::String(tokens.into_iter().collect())));
        w.add_metadata("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
        w.add_metadata("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
        w.add_metadata("tokenizer.ggml.unknown_token_id", Value::U32(0));
        w.add_metadata("tokenizer.ggml.bos_token_id", Value::U32(1));
        w.add_metadata("tokenizer.ggml.eos_token_id", Value::U32(2));
        if let Some(t) = &self.chat_template {
            w.add_metadata("tokenizer.chat_template", Value::String(t.clone()));
        }
        Ok(())
    }
}

/// An SPM-style vocabulary: `<unk> <s> </s>`, the 256 byte tokens llama.cpp looks up
/// (it needs "<0x0A>" for newlines), then made-up word pieces.
fn vocab(n: u64) -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    types.extend([6; 256]);
    let mut i = 0u64;
    while (tokens.len() as u64) < n {
        let mut word = String::from("\u{2581}");
        let mut k = i;
        loop {
            word.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
            if k == 0 {
                break;
            }
        }
        tokens.push(word);
        types.push(1);
        i += 1;
    }
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    (tokens, scores, types)
}

/// Contiguous tensor ranges of roughly equal bytes, each non-empty.
fn balanced_ranges(tensors: &[(String, Vec<u64>, GgmlType)], count: usize) -> Vec<std::ops::Range<usize>> {
    let size = |t: &(String, Vec<u64>, GgmlType)| {
        let (row, rest) = t.1.split_first().map_or((1, &[][..]), |(r, rest)| (*r, rest));
        t.2.row_bytes(row).unwrap_or(0).saturating_mul(rest.iter().product())
    };
    let mut left: u64 = tensors.iter().map(size).fold(0, u64::saturating_add);
    let mut ranges = Vec::with_capacity(count);
    let mut start = 0;
    for shard in 0..count {
        let shards_left = count - shard;
        let share = left / shards_left as u64;
        let mut end = start;
        let mut acc = 0u64;
        // Take at least one tensor, and leave at least one for each later shard.
        while end < tensors.len() - (shards_left - 1) && (end == start || acc < share) {
            acc = acc.saturating_add(tensors.get(end).map_or(0, size));
            end += 1;
        }
        if shards_left == 1 {
            end = tensors.len();
        }
        left = left.saturating_sub(acc);
        ranges.push(start..end);
        start = end;
    }
    ranges
}

fn write_with(writer: &GgufWriter, path: &Path, seed: u64, first_index: usize) -> Result<(), GgufError> {
    let io_err = |source| GgufError::Io { path: path.to_path_buf(), source };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_err)?);
    writer.write_file(&mut out, |i, _, buf| fill(seed, first_index + i, buf)).map_err(io_err)?;
    out.flush().map_err(io_err)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Deterministic noise per (seed, global tensor index), so a tensor's bytes are the
/// same whether it lands in a single file or in a shard.
fn fill(seed: u64, tensor_index: usize, buf: &mut [u8]) {
    let mut x = splitmix64(seed ^ splitmix64(tensor_index as u64)) | 1;
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        word.copy_from_slice(&x.to_le_bytes());
    }
    for (b, r) in words.into_remainder().iter_mut().zip(x.rotate_left(8).to_le_bytes()) {
        *b = r;
    }
}
