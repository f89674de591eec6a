//! Producing output tensor bytes: read (mmap), permute, convert. Tensors that convert
//! element by element are converted a slice at a time straight into the writer's buffer;
//! the others (permuted rows, `w + 1`, generated values) whole.

use half::f16;
use half::slice::HalfFloatSliceExt;
use hoist_gguf::GgmlType;

use crate::arch::Transform;

use crate::numeric::{element_size, f32_to_bf16, to_f16, to_f32};
use crate::plan::{Planned, Source};
use crate::safetensors::{Checkpoint, Dtype};

/// The source elements of `p` when it converts element by element (no reordered rows, no
/// arithmetic): their dtype and bytes, in output order.
pub fn direct_source<'a>(ck: &'a Checkpoint, p: &Planned) -> Option<(Dtype, &'a [u8])> {
    let Source::Checkpoint { index, transform } = &p.source else { return None };
    let t = ck.tensors().get(*index)?;
    let raw = ck.bytes(t);
    match transform {
        Transform::None => Some((t.dtype, raw)),
        Transform::TakeRows(n) => {
            let rows = t.shape.first().copied().unwrap_or(1).max(1);
            let row_len = raw.len() / rows as usize;
            Some((t.dtype, raw.get(..row_len * (*n).min(rows) as usize)?))
        }
        Transform::AddOne | Transform::Permute { .. } => None,
    }
}

/// The bytes of `p` as it is stored in the GGUF file, made whole.
pub fn produce(ck: &Checkpoint, p: &Planned) -> Result<Vec<u8>, String> {
    let (dtype, permuted) = match &p.source {
        Source::Generated(values) => return Ok(encode_f32(values, p.ggml_type)),
        Source::Checkpoint { index, transform } => {
            let Some(t) = ck.tensors().get(*index) else { return Err(format!("no checkpoint tensor {index}")) };
            let raw = ck.bytes(t);
            match transform {
                Transform::AddOne => return Ok(encode_f32(&add_one(t.dtype, raw), p.ggml_type)),
                Transform::Permute { heads } => {
                    let rows = t.shape.first().copied().unwrap_or(1).max(1);
                    (t.dtype, permute_rows(raw, rows, *heads))
                }
                Transform::None | Transform::TakeRows(_) => {
                    let (dtype, bytes) = direct_source(ck, p).ok_or("no source bytes")?;
                    (dtype, bytes.to_vec())
                }
            }
        }
    };
    let mut out = vec![0u8; output_len(dtype, p.ggml_type, permuted.len())?];
    convert_into(dtype, p.ggml_type, &permuted, &mut out)?;
    Ok(out)
}

/// Bytes that `src_len` bytes of `dtype` become as `ty`.
pub fn output_len(dtype: Dtype, ty: GgmlType, src_len: usize) -> Result<usize, String> {
    let n = (src_len / element_size(dtype)) as u64;
    ty.row_bytes(n)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{n} elements do not split into {} blocks", ty.name()))
}

/// Elements widened at a time, on the stack: a whole number of Q8_0 blocks.
const SLAB: usize = 4096;

/// Source elements straight into output bytes (`dst` is exactly their size), through an
/// F32 slab on the stack, never a whole F32 copy.
///
/// - F16: half's slice conversion (F16C where the CPU has it), numpy's round to nearest
///   even; an F16 source is copied (torch keeps it F16, `astype(float16)` copies).
/// - BF16: ggml's rounding ([`f32_to_bf16`]).
/// - Q8_0 as gguf-py quantizes it: its numpy code does the float operations of ggml's
///   `quantize_row_q8_0_ref` (amax / 127, the reciprocal, round half away from zero, the
///   scale rounded to F16), which hoist-quant's kernel ports.
pub fn convert_into(dtype: Dtype, ty: GgmlType, src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    let in_size = element_size(dtype);
    if (dtype, ty) == (Dtype::F16, GgmlType::F16) || (dtype, ty) == (Dtype::F32, GgmlType::F32) {
        dst.copy_from_slice(src);
        return Ok(());
    }
    let out_per_slab = output_len(Dtype::F32, ty, SLAB * 4)?;
    let mut wide = [0f32; SLAB];
    let mut narrow = [f16::ZERO; SLAB];
    for (o, i) in dst.chunks_mut(out_per_slab).zip(src.chunks(SLAB * in_size)) {
        let n = i.len() / in_size;
        let wide = &mut wide[..n];
        widen_into(dtype, i, wide);
        match ty {
            GgmlType::F16 => {
                let narrow = &mut narrow[..n];
                narrow.convert_from_f32_slice(wide);
                for (d, h) in o.chunks_exact_mut(2).zip(narrow.iter()) {
                    d.copy_from_slice(&h.to_bits().to_le_bytes());
                }
            }
            GgmlType::BF16 => {
                for (d, v) in o.chunks_exact_mut(2).zip(wide.iter()) {
                    d.copy_from_slice(&f32_to_bf16(*v).to_le_bytes());
                }
            }
            GgmlType::Q8_0 => {
                hoist_quant::quantize_rows(GgmlType::Q8_0, wide, 32, None, o).map_err(|e| e.to_string())?;
            }
            _ => {
                for (d, v) in o.chunks_exact_mut(4).zip(wide.iter()) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    Ok(())
}

/// Little-endian source elements widened (exactly) to f32, one loop per dtype so that
/// each vectorizes.
fn widen_into(dtype: Dtype, src: &[u8], dst: &mut [f32]) {
    match dtype {
        Dtype::Bf16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16);
            }
        }
        Dtype::F16 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        Dtype::F32 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Dtype::Other(_) => dst.fill(0.0),
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
