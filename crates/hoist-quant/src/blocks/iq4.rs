//! IQ4_NL (32-value blocks, one f16 scale) and IQ4_XS (256-value super-blocks with
//! six-bit sub-block scales): four-bit indices into a fixed non-linear table.
//!
//! ggml quantizes both through one routine; from `ggml_quantize_chunk` (what
//! llama-quantize calls) it always searches 7 scale steps either side, with or without
//! an importance matrix (the `_ref` row function's `ntry = -1` is not used there).

use super::kquants::{get_f16, put_f16};
use super::search::{GROUP_MAX_EPS, best_index_int8, nearest_int};

/// The non-linear levels.
pub(crate) const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const NTRY: i32 = 7;

/// One super-block of `x.len()` values (32 for IQ4_NL, 256 for IQ4_XS) in 32-value
/// blocks. Returns the f16 scale bits, the 6-bit block scales (IQ4_XS only) and fills
/// the packed nibbles `q4`.
fn quantize_superblock(x: &[f32], qw: Option<&[f32]>, q4: &mut [u8], scale_bits: &mut [u8]) -> f32 {
    let values = &KVALUES_IQ4NL;
    let v0 = f32::from(values[0]);
    let n = x.len();
    let nblocks = n / 32;
    let mut sigma2 = 0.0f32;
    for &v in x {
        sigma2 += v * v;
    }
    sigma2 *= 2.0 / n as f32;

    let mut l = [0u8; 256];
    let mut scales = [0.0f32; 8];
    let mut weight = [0.0f32; 32];
    let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
    for ib in 0..nblocks {
        let xb = &x[32 * ib..32 * ib + 32];
        let lb = &mut l[32 * ib..32 * ib + 32];
        match qw {
            Some(qw) => {
                for j in 0..32 {
                    weight[j] = qw[32 * ib + j] * (sigma2 + xb[j] * xb[j]).sqrt();
                }
            }
            None => {
                for j in 0..32 {
                    weight[j] = xb[j] * xb[j];
                }
            }
        }
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let mut d = -max / v0;
        let mut id = 1.0 / d;
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for j in 0..32 {
            let k = best_index_int8(values, id * xb[j]);
            lb[j] = k as u8;
            let q = f32::from(values[k]);
            sumqx += weight[j] * q * xb[j];
            sumq2 += weight[j] * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for itry in -NTRY..=NTRY {
            id = (itry + i32::from(values[0])) as f32 / max;
            sumqx = 0.0;
            sumq2 = 0.0;
            for j in 0..32 {
                let q = f32::from(values[best_index_int8(values, id * xb[j])]);
                sumqx += weight[j] * q * xb[j];
                sumq2 += weight[j] * q * q;
            }
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if d.abs() > amax_scale {
            amax_scale = d.abs();
            max_scale = d;
        }
    }

    let dh = if nblocks > 1 {
        // IQ4_XS: quantize the block scales to six bits around one f16 scale.
        scale_bits.fill(0);
        let d = -max_scale / 32.0;
        let dh = d;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..nblocks {
            let ls = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * ls as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            for j in 0..32 {
                l[32 * ib + j] = best_index_int8(values, idl * x[32 * ib + j]) as u8;
            }
            let ls = (ls + 32) as u16;
            // scales_h (u16) occupies bytes 0..2, scales_l bytes 2..6.
            let h = u16::from_le_bytes([scale_bits[0], scale_bits[1]]) | ((ls >> 4) << (2 * (ib % 8)));
            scale_bits[0..2].copy_from_slice(&h.to_le_bytes());
            let low = (ls & 0x0f) as u8;
            if ib % 2 == 0 {
                scale_bits[2 + ib / 2] = low;
            } else {
                scale_bits[2 + ib / 2] |= low << 4;
            }
        }
        dh
    } else {
        let id = if scales[0] != 0.0 { 1.0 / scales[0] } else { 0.0 };
        for j in 0..n {
            l[j] = best_index_int8(values, id * x[j]) as u8;
        }
        scales[0]
    };
    for (i, q) in q4.chunks_exact_mut(16).enumerate() {
        for j in 0..16 {
            q[j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
        }
    }
    dh
}

/// IQ4_NL block: f16 d, 16 bytes of indices.
pub(crate) fn quantize_iq4_nl(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(32).zip(out.chunks_exact_mut(18)).enumerate() {
        let (d, q4) = y.split_at_mut(2);
        let dh = quantize_superblock(xb, qw.map(|w| &w[32 * ib..32 * ib + 32]), q4, &mut []);
        put_f16(d, 0, dh);
    }
}

/// IQ4_XS block: f16 d, u16 scales_h, scales_l[4], 128 bytes of indices.
pub(crate) fn quantize_iq4_xs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(256).zip(out.chunks_exact_mut(136)).enumerate() {
        let (head, q4) = y.split_at_mut(8);
        let (d, scale_bits) = head.split_at_mut(2);
        let dh = quantize_superblock(xb, qw.map(|w| &w[256 * ib..256 * ib + 256]), q4, scale_bits);
        put_f16(d, 0, dh);
    }
}

pub(crate) fn dequantize_iq4_nl(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(18).zip(out.chunks_exact_mut(32)) {
        let d = get_f16(blk, 0);
        for j in 0..16 {
            y[j] = d * f32::from(KVALUES_IQ4NL[usize::from(blk[2 + j] & 0x0f)]);
            y[j + 16] = d * f32::from(KVALUES_IQ4NL[usize::from(blk[2 + j] >> 4)]);
        }
    }
}

pub(crate) fn dequantize_iq4_xs(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(136).zip(out.chunks_exact_mut(256)) {
        let d = get_f16(blk, 0);
        let scales_h = u16::from_le_bytes([blk[2], blk[3]]);
        for ib in 0..8 {
            let ls =
                i32::from((blk[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f) | (i32::from((scales_h >> (2 * ib)) & 3) << 4);
            let dl = d * (ls - 32) as f32;
            let qs = &blk[8 + 16 * ib..8 + 16 * ib + 16];
            for j in 0..16 {
                y[32 * ib + j] = dl * f32::from(KVALUES_IQ4NL[usize::from(qs[j] & 0x0f)]);
                y[32 * ib + j + 16] = dl * f32::from(KVALUES_IQ4NL[usize::from(qs[j] >> 4)]);
            }
        }
    }
}
