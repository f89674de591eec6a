//! Producing one output tensor's bytes: read (mmap), permute, convert.

use half::f16;
use half::slice::HalfFloatSliceExt;
use hoist_gguf::GgmlType;

use crate::arch::Transform;
use rayon::prelude::*;

use crate::numeric::{element_size, f32_to_bf16, to_f16, to_f32, widen};
use crate::plan::{Planned, Source};
use crate::safetensors::{Checkpoint, Dtype};

/// The bytes of `p` as it is stored in the GGUF file.
pub fn produce(ck: &Checkpoint, p: &Planned) -> Result<Vec<u8>, String> {
    match &p.source {
        Source::Generated(values) => Ok(encode_f32(values, p.ggml_type)),
        Source::Checkpoint { index, transform } => {
            let Some(t) = ck.tensors().get(*index) else { return Err(format!("no checkpoint tensor {index}")) };
            let raw = ck.bytes(t);
            let rows = t.shape.first().copied().unwrap_or(1).max(1);
            let permuted;
            let bytes = match transform {
                Transform::None | Transform::AddOne => raw,
                Transform::Permute { heads } => {
                    permuted = permute_rows(raw, rows, *heads);
                    &permuted
                }
                Transform::TakeRows(n) => {
                    let row_len = raw.len() / rows as usize;
                    raw.get(..row_len * (*n).min(rows) as usize).unwrap_or_default()
                }
            };
            if *transform == Transform::AddOne {
                return Ok(encode_f32(&add_one(t.dtype, bytes), p.ggml_type));
            }
            if p.ggml_type == GgmlType::Q8_0 {
                return quantize_q8_0(t.dtype, bytes);
            }
            Ok(convert(t.dtype, p.ggml_type, bytes))
        }
    }
}

/// Elements per parallel chunk of one tensor's conversion.
const CHUNK: usize = 1 << 20;

/// Converts source elements straight into output bytes, in parallel chunks and without an
/// intermediate F32 copy (peak memory: the output tensor).
fn convert(dtype: Dtype, ty: GgmlType, bytes: &[u8]) -> Vec<u8> {
    let in_size = element_size(dtype);
    let out_size = if ty == GgmlType::F32 { 4 } else { 2 };
    let n = bytes.len() / in_size;
    let mut out = vec![0u8; n * out_size];
    out.par_chunks_mut(CHUNK * out_size).zip(bytes.par_chunks(CHUNK * in_size)).for_each(|(o, i)| {
        match (dtype, ty) {
            // torch keeps F16 tensors in F16; numpy's astype(float16) is then a copy.
            (Dtype::F16, GgmlType::F16) | (Dtype::F32, GgmlType::F32) => o.copy_from_slice(i),
            (_, GgmlType::F16) => {
                // Blocks through half's slice conversion (F16C where the CPU has it; the
                // same IEEE round-to-nearest-even as the scalar path).
                const BLOCK: usize = 4096;
                let mut wide = [0f32; BLOCK];
                let mut narrow = [f16::ZERO; BLOCK];
                for (o, i) in o.chunks_mut(BLOCK * 2).zip(i.chunks(BLOCK * in_size)) {
                    let n = o.len() / 2;
                    for (w, src) in wide.iter_mut().zip(i.chunks_exact(in_size)) {
                        *w = widen(dtype, src);
                    }
                    narrow[..n].convert_from_f32_slice(&wide[..n]);
                    for (dst, h) in o.chunks_exact_mut(2).zip(&narrow[..n]) {
                        dst.copy_from_slice(&h.to_le_bytes());
                    }
                }
            }
            _ => {
                for (dst, src) in o.chunks_exact_mut(out_size).zip(i.chunks_exact(in_size)) {
                    let v = widen(dtype, src);
                    match ty {
                        GgmlType::BF16 => dst.copy_from_slice(&f32_to_bf16(v).to_le_bytes()),
                        _ => dst.copy_from_slice(&v.to_le_bytes()),
                    }
                }
            }
        }
    });
    out
}

/// Q8_0 as gguf-py quantizes it: its numpy code does the float operations of ggml's
/// `quantize_row_q8_0_ref` (amax / 127, the reciprocal, round half away from zero, the
/// scale rounded to F16 to nearest even), which hoist-quant's kernel ports. Source
/// elements widen exactly to F32 first, as `astype(float32)` does; blocks are independent,
/// so chunks of whole blocks convert in parallel.
fn quantize_q8_0(dtype: Dtype, bytes: &[u8]) -> Result<Vec<u8>, String> {
    const BLOCK: usize = 32;
    const BLOCK_BYTES: usize = 34;
    // Elements widened at a time (on the stack), a whole number of blocks.
    const SLAB: usize = 4096;
    let in_size = element_size(dtype);
    let n = bytes.len() / in_size;
    if n % BLOCK != 0 {
        return Err(format!("{n} elements do not split into Q8_0 blocks of {BLOCK}"));
    }
    let mut out = vec![0u8; n / BLOCK * BLOCK_BYTES];
    out.par_chunks_mut(CHUNK / BLOCK * BLOCK_BYTES).zip(bytes.par_chunks(CHUNK * in_size)).try_for_each(|(o, i)| {
        let mut wide = [0f32; SLAB];
        for (o, i) in o.chunks_mut(SLAB / BLOCK * BLOCK_BYTES).zip(i.chunks(SLAB * in_size)) {
            let n = i.len() / in_size;
            for (w, src) in wide.iter_mut().zip(i.chunks_exact(in_size)) {
                *w = widen(dtype, src);
            }
            hoist_quant::quantize_rows(GgmlType::Q8_0, &wide[..n], BLOCK, None, o).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })?;
    Ok(out)
}

/// `w + 1` as torch computes it: in F16 for an F16 tensor (rounded to F16), else in F32.
fn add_one(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F16 => to_f16(bytes).iter().map(|h| f16::from_f32(h.to_f32() + 1.0).to_f32()).collect(),
        _ => to_f32(dtype, bytes).iter().map(|v| v + 1.0).collect(),
    }
}

fn encode_f32(values: &[f32], ty: GgmlType) -> Vec<u8> {
    match ty {
        GgmlType::F16 => values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
        GgmlType::BF16 => values.iter().flat_map(|&v| f32_to_bf16(v).to_le_bytes()).collect(),
        _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// llama's q/k permutation on whole rows: output row `h*per + 2*i + j` is input row
/// `h*per + j*(per/2) + i` (per = rows / heads). The planner checked that rows split evenly.
fn permute_rows(bytes: &[u8], rows: u64, heads: u64) -> Vec<u8> {
    let rows = rows as usize;
    let heads = heads as usize;
    if rows == 0 || heads == 0 {
        return bytes.to_vec();
    }
    let row_len = bytes.len() / rows;
    let per = rows / heads;
    let half = per / 2;
    let mut out = Vec::with_capacity(bytes.len());
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * per + j * half + i;
                out.extend_from_slice(bytes.get(src * row_len..(src + 1) * row_len).unwrap_or_default());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_interleaves_the_two_rotary_halves_per_head() {
        // 2 heads x 4 rows, one byte per row: [a0 a1 b0 b1 | c0 c1 d0 d1] -> [a0 b0 a1 b1 | ...]
        let rows: Vec<u8> = (0..8).collect();
        assert_eq!(permute_rows(&rows, 8, 2), vec![0, 2, 1, 3, 4, 6, 5, 7]);
        // Two bytes per row move together.
        let wide: Vec<u8> = (0..8).collect();
        assert_eq!(permute_rows(&wide, 4, 1), vec![0, 1, 4, 5, 2, 3, 6, 7]);
    }
}
