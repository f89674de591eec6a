//! Synthetic llama-architecture models with varied F32 weights, and importance
//! matrices for them: the inputs of the byte-identity tests against llama-quantize and
//! of the benchmark. Same recipe, same bytes.
//!
//! Weight rows mix the cases that steer the quantizers' searches down different paths:
//! all-zero rows, rows of one sign, a single large outlier, values near the "all zero"
//! threshold, constant rows, and ordinary rows at magnitudes from 1e-3 to 10.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use hoist_gguf::{Array, GgmlType, GgufWriter, Value};

use crate::QuantError;
use crate::float16::{f32_to_bf16, f32_to_f16};

/// The architectures a synthetic model can have: the ones llama.cpp's per-tensor rules
/// treat differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthArch {
    /// Separate Q, K, V; gated FFN (dense, or experts when `n_expert > 0`).
    Llama,
    /// Fused QKV, ungated FFN, layer norms with biases; llama.cpp has its own rules
    /// for it (output, attention output, FFN down).
    Falcon,
}

impl SynthArch {
    fn name(self) -> &'static str {
        match self {
            SynthArch::Llama => "llama",
            SynthArch::Falcon => "falcon",
        }
    }
}

/// A model's recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthModel {
    pub arch: SynthArch,
    /// Experts per layer (`ffn_*_exps` tensors); 0 for a dense FFN. Llama only.
    pub n_expert: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_layer: u64,
    pub n_vocab: u64,
    /// No `output.weight`: llama.cpp then treats `token_embd` as the output matrix.
    pub tied_embeddings: bool,
    /// Type of the 2-D weights: F32, F16 or BF16 (norms are always F32).
    pub weight_type: GgmlType,
    pub seed: u64,
}

impl SynthModel {
    /// Eight layers (so llama.cpp's first/last-eighth layer rules apply), rows of 256
    /// and 512 values (every block size divides them), grouped-query attention (4:1).
    pub fn small() -> Self {
        SynthModel {
            arch: SynthArch::Llama,
            n_expert: 0,
            n_embd: 256,
            n_ff: 512,
            n_head: 4,
            n_head_kv: 1,
            n_layer: 8,
            n_vocab: 288,
            tied_embeddings: false,
            weight_type: GgmlType::F32,
            seed: 7,
        }
    }

    /// Shapes that force llama.cpp's fallbacks: rows of 144 values (not a multiple of
    /// 32: F16) and 320 (a multiple of 32, not of 256), with tied embeddings.
    pub fn odd() -> Self {
        SynthModel {
            arch: SynthArch::Llama,
            n_expert: 0,
            n_embd: 144,
            n_ff: 320,
            n_head: 9,
            n_head_kv: 3,
            n_layer: 2,
            n_vocab: 288,
            tied_embeddings: true,
            weight_type: GgmlType::F32,
            seed: 11,
        }
    }

    /// [`SynthModel::small`] with eight experts per layer (llama.cpp's rules single out
    /// eight) and expert FFNs of 256.
    pub fn moe() -> Self {
        SynthModel { n_expert: 8, n_ff: 256, n_layer: 4, seed: 13, ..SynthModel::small() }
    }

    /// [`SynthModel::small`] as a Falcon: fused QKV, ungated FFN.
    pub fn falcon() -> Self {
        SynthModel { arch: SynthArch::Falcon, seed: 17, ..SynthModel::small() }
    }

    /// A model of about `bytes` bytes of F16 weights (widths 2048/5632, as many layers
    /// as fit), for benchmarks.
    pub fn sized_f16(bytes: u64) -> Self {
        let per_layer = 2 * (2048 * 2048 * 2 + 2048 * 512 * 2 + 3 * 2048 * 5632);
        SynthModel {
            arch: SynthArch::Llama,
            n_expert: 0,
            n_embd: 2048,
            n_ff: 5632,
            n_head: 16,
            n_head_kv: 4,
            n_layer: (bytes / per_layer).max(1),
            n_vocab: 8192,
            tied_embeddings: false,
            weight_type: GgmlType::F16,
            seed: 3,
        }
    }

    /// Writes the golden tests' inputs into `dir`: `small.gguf` (and F16
    /// `small-f16.gguf`), `odd.gguf`, `moe.gguf`, `falcon.gguf`, `small` split in three
    /// (`split-0000i-of-00003.gguf`), and importance matrices (`small.imatrix.gguf`,
    /// `small.imatrix.dat`, `odd.imatrix.gguf`, `moe.imatrix.gguf`).
    pub fn write_golden_inputs(dir: &Path) -> Result<(), QuantError> {
        let small = SynthModel::small();
        small.write(&dir.join("small.gguf"))?;
        small.write_imatrix(&dir.join("small.imatrix.gguf"), false)?;
        small.write_imatrix(&dir.join("small.imatrix.dat"), true)?;
        SynthModel { weight_type: GgmlType::F16, ..small.clone() }.write(&dir.join("small-f16.gguf"))?;
        small.write_split(dir, "split", 3)?;
        let odd = SynthModel::odd();
        odd.write(&dir.join("odd.gguf"))?;
        odd.write_imatrix(&dir.join("odd.imatrix.gguf"), false)?;
        let moe = SynthModel::moe();
        moe.write(&dir.join("moe.gguf"))?;
        moe.write_imatrix(&dir.join("moe.imatrix.gguf"), false)?;
        SynthModel::falcon().write(&dir.join("falcon.gguf"))
    }

    /// (name, dims) of every tensor, in the order written.
    pub fn tensors(&self) -> Vec<(String, Vec<u64>)> {
        let kv = self.n_embd / self.n_head * self.n_head_kv;
        let (e, f) = (self.n_embd, self.n_ff);
        let mut out = vec![("token_embd.weight".to_string(), vec![e, self.n_vocab])];
        for l in 0..self.n_layer {
            let mut add = |n: &str, dims: Vec<u64>| out.push((format!("blk.{l}.{n}"), dims));
            match self.arch {
                SynthArch::Llama => {
                    add("attn_norm.weight", vec![e]);
                    add("attn_q.weight", vec![e, e]);
                    add("attn_k.weight", vec![e, kv]);
                    add("attn_v.weight", vec![e, kv]);
                    add("attn_output.weight", vec![e, e]);
                    add("ffn_norm.weight", vec![e]);
                    if self.n_expert > 0 {
                        let x = self.n_expert;
                        add("ffn_gate_inp.weight", vec![e, x]);
                        add("ffn_gate_exps.weight", vec![e, f, x]);
                        add("ffn_down_exps.weight", vec![f, e, x]);
                        add("ffn_up_exps.weight", vec![e, f, x]);
                    } else {
                        add("ffn_gate.weight", vec![e, f]);
                        add("ffn_down.weight", vec![f, e]);
                        add("ffn_up.weight", vec![e, f]);
                    }
                }
                SynthArch::Falcon => {
                    add("attn_norm.weight", vec![e]);
                    add("attn_norm.bias", vec![e]);
                    add("attn_qkv.weight", vec![e, e + 2 * kv]);
                    add("attn_output.weight", vec![e, e]);
                    add("ffn_up.weight", vec![e, f]);
                    add("ffn_down.weight", vec![f, e]);
                }
            }
        }
        out.push(("output_norm.weight".into(), vec![e]));
        if self.arch == SynthArch::Falcon {
            out.push(("output_norm.bias".into(), vec![e]));
        }
        if !self.tied_embeddings {
            out.push(("output.weight".into(), vec![e, self.n_vocab]));
        }
        out
    }

    /// Writes the model as a GGUF file.
    pub fn write(&self, path: &Path) -> Result<(), QuantError> {
        self.write_tensors(path, 0..self.tensors().len(), |w| self.add_metadata(w))
    }

    /// Writes the model as a split GGUF of `count` shards, `DIR/<prefix>-0000i-of-0000n.gguf`,
    /// as llama.cpp's gguf-split lays them out: consecutive runs of tensors, the model's
    /// metadata in the first shard, `split.no`/`split.count`/`split.tensors.count` in each.
    /// Returns the shards' paths.
    pub fn write_split(&self, dir: &Path, prefix: &str, count: usize) -> Result<Vec<PathBuf>, QuantError> {
        let n = self.tensors().len();
        let mut paths = Vec::new();
        for i in 0..count {
            let path = dir.join(format!("{prefix}-{:05}-of-{count:05}.gguf", i + 1));
            let split_keys = |w: &mut GgufWriter| {
                w.add_metadata("split.no", Value::U16(i as u16));
                w.add_metadata("split.count", Value::U16(count as u16));
                w.add_metadata("split.tensors.count", Value::I32(n as i32));
            };
            self.write_tensors(&path, n * i / count..n * (i + 1) / count, |w| {
                if i == 0 {
                    self.add_metadata(w);
                }
                split_keys(w);
            })?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Writes tensors `range` (of [`SynthModel::tensors`]) after the metadata `meta` adds.
    fn write_tensors(
        &self,
        path: &Path,
        range: Range<usize>,
        meta: impl FnOnce(&mut GgufWriter),
    ) -> Result<(), QuantError> {
        let tensors = self.tensors();
        let mut w = GgufWriter::new();
        meta(&mut w);
        for (name, dims) in &tensors[range.clone()] {
            let ty = if dims.len() == 1 { GgmlType::F32 } else { self.weight_type };
            w.add_tensor(name.clone(), dims, ty)?;
        }
        let io = |source| QuantError::Io { path: path.to_path_buf(), source };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        w.write_file(&mut out, |i, t, buf| {
            let row = t.dims[0] as usize;
            let rows = t.element_count().unwrap_or(0) as usize / row.max(1);
            let values = weights(self.seed, (range.start + i) as u64, row, rows);
            encode(t.ggml_type, &values, buf);
        })
        .map_err(io)?;
        out.flush().map_err(io)
    }

    /// The values of tensor `index` (in [`SynthModel::tensors`] order), as written
    /// before any rounding to the weight type.
    pub fn values(&self, index: usize) -> Vec<f32> {
        let tensors = self.tensors();
        let dims = &tensors[index].1;
        let rows = dims[1..].iter().product::<u64>() as usize;
        weights(self.seed, index as u64, dims[0] as usize, rows)
    }

    /// Writes an importance matrix for the model's 2-D weights: the GGUF format
    /// (`<name>.in_sum2`, `<name>.counts`, `imatrix.*` keys) or, with `legacy`, the old
    /// `.dat` layout.
    pub fn write_imatrix(&self, path: &Path, legacy: bool) -> Result<(), QuantError> {
        let entries: Vec<(String, u64, Vec<f32>)> = self
            .tensors()
            .into_iter()
            .enumerate()
            .filter(|(_, (_, dims))| dims.len() >= 2)
            .map(|(i, (name, dims))| {
                let mut x = splitmix(self.seed ^ 0x1a7 ^ splitmix(i as u64)) | 1;
                // One row of weights per expert for 3-D tensors.
                let n = dims[0] * dims.get(2).copied().unwrap_or(1);
                let sums = (0..n).map(|_| 0.05 + 40.0 * unit(&mut x) * unit(&mut x)).collect();
                (name, dims.get(2).copied().unwrap_or(1), sums)
            })
            .collect();
        let io = |source| QuantError::Io { path: path.to_path_buf(), source };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        let ncall = 12u32;
        if legacy {
            let mut b = Vec::new();
            b.extend_from_slice(&(entries.len() as i32).to_le_bytes());
            for (name, _, sums) in &entries {
                b.extend_from_slice(&(name.len() as i32).to_le_bytes());
                b.extend_from_slice(name.as_bytes());
                b.extend_from_slice(&(ncall as i32).to_le_bytes());
                b.extend_from_slice(&(sums.len() as i32).to_le_bytes());
                for s in sums {
                    // Legacy files store the mean times the call count.
                    b.extend_from_slice(&(s * ncall as f32).to_le_bytes());
                }
            }
            b.extend_from_slice(&(ncall as i32).to_le_bytes());
            let dataset = b"synthetic.txt";
            b.extend_from_slice(&(dataset.len() as i32).to_le_bytes());
            b.extend_from_slice(dataset);
            out.write_all(&b).map_err(io)?;
        } else {
            let mut w = GgufWriter::new();
            w.add_metadata("general.type", Value::String("imatrix".into()));
            let datasets = Array::from_values(hoist_gguf::ValueType::String, [Value::String("synthetic.txt".into())])?;
            w.add_metadata("imatrix.datasets", Value::Array(datasets));
            w.add_metadata("imatrix.chunk_count", Value::U32(ncall));
            w.add_metadata("imatrix.chunk_size", Value::U32(512));
            for (name, mats, sums) in &entries {
                w.add_tensor(format!("{name}.in_sum2"), &[sums.len() as u64 / mats, *mats], GgmlType::F32)?;
                w.add_tensor(format!("{name}.counts"), &[1, *mats], GgmlType::F32)?;
            }
            let count = (ncall * 512) as f32;
            w.write_file(&mut out, |i, _, buf| {
                let (_, mats, sums) = &entries[i / 2];
                let data: Vec<f32> =
                    if i % 2 == 0 { sums.iter().map(|s| s * count).collect() } else { vec![count; *mats as usize] };
                encode(GgmlType::F32, &data, buf);
            })
            .map_err(io)?;
        }
        out.flush().map_err(io)
    }

    fn add_metadata(&self, w: &mut GgufWriter) {
        let u32v = |v: u64| Value::U32(v as u32);
        let arch = self.arch.name();
        w.add_metadata("general.architecture", Value::String(arch.into()));
        w.add_metadata("general.name", Value::String("synth".into()));
        w.add_metadata("general.file_type", Value::U32(if self.weight_type == GgmlType::F16 { 1 } else { 0 }));
        let mut add = |key: &str, v: Value| w.add_metadata(format!("{arch}.{key}"), v);
        add("context_length", u32v(2048));
        add("embedding_length", u32v(self.n_embd));
        add("block_count", u32v(self.n_layer));
        add("feed_forward_length", u32v(self.n_ff));
        add("attention.head_count", u32v(self.n_head));
        add("attention.head_count_kv", u32v(self.n_head_kv));
        match self.arch {
            SynthArch::Llama => add("attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            SynthArch::Falcon => add("attention.layer_norm_epsilon", Value::F32(1e-5)),
        }
        add("rope.dimension_count", u32v(self.n_embd / self.n_head));
        add("vocab_size", u32v(self.n_vocab));
        if self.n_expert > 0 {
            add("expert_count", u32v(self.n_expert));
            add("expert_used_count", u32v(2));
        }
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2i32, 3, 3];
        tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        types.extend([6; 256]);
        while (tokens.len() as u64) < self.n_vocab {
            tokens.push(format!("\u{2581}w{}", tokens.len()));
            types.push(1);
        }
        let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
        w.add_metadata("tokenizer.ggml.model", Value::String("llama".into()));
        w.add_metadata("tokenizer.ggml.tokens", Value::Array(Array::String(tokens.into_iter().collect())));
        w.add_metadata("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
        w.add_metadata("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
        w.add_metadata("tokenizer.ggml.bos_token_id", Value::U32(1));
        w.add_metadata("tokenizer.ggml.eos_token_id", Value::U32(2));
    }
}

fn encode(ty: GgmlType, values: &[f32], buf: &mut [u8]) {
    match ty {
        GgmlType::F16 => {
            for (o, &v) in buf.chunks_exact_mut(2).zip(values) {
                o.copy_from_slice(&f32_to_f16(v).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for (o, &v) in buf.chunks_exact_mut(2).zip(values) {
                o.copy_from_slice(&f32_to_bf16(v).to_le_bytes());
            }
        }
        _ => {
            for (o, v) in buf.chunks_exact_mut(4).zip(values) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Uniform in [0, 1) from a xorshift state.
fn unit(x: &mut u64) -> f32 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x >> 40) as f32 / (1u64 << 24) as f32
}

/// Roughly normal: the sum of four uniforms, centred.
fn normalish(x: &mut u64) -> f32 {
    (unit(x) + unit(x) + unit(x) + unit(x) - 2.0) * 1.7
}

/// `rows` rows of `n` values for tensor `index`.
fn weights(seed: u64, index: u64, n: usize, rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * rows);
    for r in 0..rows {
        let mut x = splitmix(seed ^ splitmix(index << 32 | r as u64)) | 1;
        let kind = splitmix(x) % 16;
        let scale = 10f32.powf(unit(&mut x) * 4.0 - 3.0);
        let outlier = (splitmix(x ^ 5) % n as u64) as usize;
        for i in 0..n {
            let g = normalish(&mut x);
            let v = match kind {
                0 => 0.0,
                1 => -g.abs() * scale,
                2 => g.abs() * scale,
                3 if i == outlier => g.signum() * 1000.0 * scale,
                4 => g * 1e-16,
                5 => 0.75 * scale,
                _ if n == 1 || rows == 1 => 1.0 + 0.1 * g,
                _ => g * scale,
            };
            out.push(v);
        }
    }
    out
}
