//! Synthetic llama-architecture models with varied F32 weights, and importance
//! matrices for them: the inputs of the byte-identity tests against llama-quantize and
//! of the benchmark. Same recipe, same bytes.
//!
//! Weight rows mix the cases that steer the quantizers' searches down different paths:
//! all-zero rows, rows of one sign, a single large outlier, values near the "all zero"
//! threshold, constant rows, and ordinary rows at magnitudes from 1e-3 to 10.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use hoist_gguf::{Array, GgmlType, GgufWriter, Value};

use crate::QuantError;
use crate::float16::{f32_to_bf16, f32_to_f16};

/// A model's recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthModel {
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

    /// A model of about `bytes` bytes of F16 weights (widths 2048/5632, as many layers
    /// as fit), for benchmarks.
    pub fn sized_f16(bytes: u64) -> Self {
        let per_layer = 2 * (2048 * 2048 * 2 + 2048 * 512 * 2 + 3 * 2048 * 5632);
        SynthModel {
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

    /// (name, dims) of every tensor, in the order written.
    pub fn tensors(&self) -> Vec<(String, Vec<u64>)> {
        let kv = self.n_embd / self.n_head * self.n_head_kv;
        let mut out = vec![("token_embd.weight".to_string(), vec![self.n_embd, self.n_vocab])];
        for l in 0..self.n_layer {
            let blk = |n: &str| format!("blk.{l}.{n}.weight");
            out.push((blk("attn_norm"), vec![self.n_embd]));
            out.push((blk("attn_q"), vec![self.n_embd, self.n_embd]));
            out.push((blk("attn_k"), vec![self.n_embd, kv]));
            out.push((blk("attn_v"), vec![self.n_embd, kv]));
            out.push((blk("attn_output"), vec![self.n_embd, self.n_embd]));
            out.push((blk("ffn_norm"), vec![self.n_embd]));
            out.push((blk("ffn_gate"), vec![self.n_embd, self.n_ff]));
            out.push((blk("ffn_down"), vec![self.n_ff, self.n_embd]));
            out.push((blk("ffn_up"), vec![self.n_embd, self.n_ff]));
        }
        out.push(("output_norm.weight".into(), vec![self.n_embd]));
        if !self.tied_embeddings {
            out.push(("output.weight".into(), vec![self.n_embd, self.n_vocab]));
        }
        out
    }

    /// Writes the model as a GGUF file.
    pub fn write(&self, path: &Path) -> Result<(), QuantError> {
        let tensors = self.tensors();
        let mut w = GgufWriter::new();
        self.add_metadata(&mut w);
        for (name, dims) in &tensors {
            let ty = if dims.len() == 1 { GgmlType::F32 } else { self.weight_type };
            w.add_tensor(name.clone(), dims, ty)?;
        }
        let io = |source| QuantError::Io { path: path.to_path_buf(), source };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        w.write_file(&mut out, |i, t, buf| {
            let row = t.dims[0] as usize;
            let values = weights(self.seed, i as u64, row, t.element_count().unwrap_or(0) as usize / row.max(1));
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
        let entries: Vec<(String, Vec<f32>)> = self
            .tensors()
            .into_iter()
            .enumerate()
            .filter(|(_, (_, dims))| dims.len() == 2)
            .map(|(i, (name, dims))| {
                let mut x = splitmix(self.seed ^ 0x1a7 ^ splitmix(i as u64)) | 1;
                let sums = (0..dims[0]).map(|_| 0.05 + 40.0 * unit(&mut x) * unit(&mut x)).collect();
                (name, sums)
            })
            .collect();
        let io = |source| QuantError::Io { path: path.to_path_buf(), source };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        let ncall = 12u32;
        if legacy {
            let mut b = Vec::new();
            b.extend_from_slice(&(entries.len() as i32).to_le_bytes());
            for (name, sums) in &entries {
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
            for (name, sums) in &entries {
                w.add_tensor(format!("{name}.in_sum2"), &[sums.len() as u64, 1], GgmlType::F32)?;
                w.add_tensor(format!("{name}.counts"), &[1, 1], GgmlType::F32)?;
            }
            let counts = [(ncall * 512) as f32];
            w.write_file(&mut out, |i, _, buf| {
                let sums = &entries[i / 2].1;
                let data: Vec<f32> =
                    if i % 2 == 0 { sums.iter().map(|s| s * counts[0]).collect() } else { counts.to_vec() };
                encode(GgmlType::F32, &data, buf);
            })
            .map_err(io)?;
        }
        out.flush().map_err(io)
    }

    fn add_metadata(&self, w: &mut GgufWriter) {
        let u32v = |v: u64| Value::U32(v as u32);
        w.add_metadata("general.architecture", Value::String("llama".into()));
        w.add_metadata("general.name", Value::String("synth".into()));
        w.add_metadata("general.file_type", Value::U32(if self.weight_type == GgmlType::F16 { 1 } else { 0 }));
        w.add_metadata("llama.context_length", u32v(2048));
        w.add_metadata("llama.embedding_length", u32v(self.n_embd));
        w.add_metadata("llama.block_count", u32v(self.n_layer));
        w.add_metadata("llama.feed_forward_length", u32v(self.n_ff));
        w.add_metadata("llama.attention.head_count", u32v(self.n_head));
        w.add_metadata("llama.attention.head_count_kv", u32v(self.n_head_kv));
        w.add_metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5));
        w.add_metadata("llama.rope.dimension_count", u32v(self.n_embd / self.n_head));
        w.add_metadata("llama.vocab_size", u32v(self.n_vocab));
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
