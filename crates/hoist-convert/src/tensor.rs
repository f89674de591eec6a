//! Producing one output tensor's bytes: read (mmap), permute, convert.

use half::f16;
use hoist_gguf::GgmlType;

use crate::arch::Transform;
use crate::numeric::{f32_to_bf16, to_f16, to_f32};
use crate::plan::{Planned, Source};
use crate::safetensors::{Checkpoint, Dtype};

/// The bytes of `p` as it is stored in the GGUF file.
pub fn produce(ck: &Checkpoint, p: &Planned) -> Vec<u8> {
    match &p.source {
        Source::Generated(values) => encode_f32(values, p.ggml_type),
        Source::Checkpoint { index, transform } => {
            let Some(t) = ck.tensors().get(*index) else { return Vec::new() };
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
                return encode_f32(&add_one(t.dtype, bytes), p.ggml_type);
            }
            match (t.dtype, p.ggml_type) {
                // torch keeps F16 tensors in F16; numpy's astype(float16) is then a copy.
                (Dtype::F16, GgmlType::F16) | (Dtype::F32, GgmlType::F32) => bytes.to_vec(),
                (Dtype::F16, GgmlType::F32) => to_f16(bytes).iter().flat_map(|h| h.to_f32().to_le_bytes()).collect(),
                (dtype, ty) => encode_f32(&to_f32(dtype, bytes), ty),
            }
        }
    }
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
