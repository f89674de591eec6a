//! Element conversions, bit-exact with what llama.cpp's converter gets from torch and numpy.
//!
//! - Source BF16 and F16 widen to F32 exactly.
//! - F32 -> F16 is numpy's `astype(float16)`: IEEE round to nearest even, subnormals kept,
//!   which `half::f16::from_f32` implements.
//! - F32 -> BF16 is ggml's `ggml_compute_fp32_to_bf16` (gguf-py's BF16 quantizer): NaN
//!   forced quiet, then round to nearest even on the upper 16 bits.

use half::f16;

use crate::safetensors::Dtype;

/// One element of a source tensor, widened to f32. `bytes` holds exactly one element.
pub fn widen(dtype: Dtype, b: &[u8]) -> f32 {
    match (dtype, b) {
        (Dtype::F32, [a, b, c, d]) => f32::from_le_bytes([*a, *b, *c, *d]),
        (Dtype::F16, [a, b]) => f16::from_le_bytes([*a, *b]).to_f32(),
        (Dtype::Bf16, [a, b]) => f32::from_bits(u32::from(u16::from_le_bytes([*a, *b])) << 16),
        _ => 0.0,
    }
}

/// Source bytes to f32 values.
pub fn to_f32(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    let width = element_size(dtype);
    bytes.chunks_exact(width).map(|c| widen(dtype, c)).collect()
}

/// Source F16 bytes as f16 values (kept in F16: torch does not widen F16 tensors).
pub fn to_f16(bytes: &[u8]) -> Vec<f16> {
    bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()
}

pub fn element_size(dtype: Dtype) -> usize {
    match dtype {
        Dtype::F32 => 4,
        _ => 2,
    }
}

pub fn f32_to_bf16(x: f32) -> u16 {
    let mut n = x.to_bits();
    if n & 0x7fff_ffff > 0x7f80_0000 {
        n = (n & 0xffff_0000) | (64 << 16);
    }
    ((u64::from(n) + (0x7fff + u64::from((n >> 16) & 1))) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nan() {
        // 1 + 2^-8 is halfway between two bf16 values; ties go to the even mantissa (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3 * 2^-8 is halfway too; the even neighbour is above.
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(f32_to_bf16(f32::from_bits(0x7f80_0001)), 0x7fc0);
        assert_eq!(f32_to_bf16(f32::INFINITY), 0x7f80);
    }

    #[test]
    fn widening_is_exact() {
        assert_eq!(to_f32(Dtype::Bf16, &[0x80, 0x3f, 0xc0, 0xbf]), vec![1.0, -1.5]);
        assert_eq!(to_f32(Dtype::F16, &[0x00, 0x3c, 0x01, 0x00]), vec![1.0, 2f32.powi(-24)]);
    }
}
