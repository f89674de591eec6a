//! The K-quants: 256-element super-blocks of 16 or 8 sub-blocks, each sub-block with
//! its own quantized scale (and for Q2_K/Q4_K/Q5_K a quantized minimum).
//!
//! Without an importance matrix Q2_K and Q3_K use ggml's reference search per
//! sub-block and Q4_K/Q5_K/Q6_K theirs; with one, every type uses the `_impl` search,
//! weighting each value by `qw * sqrt(sigma2 + x^2)` (Q6_K: by `qw` alone).

use super::search::{QkxSearch, make_q3_quants, make_qkx_quants, make_qp_quants, make_qx_quants, nearest_int};
use crate::float16::{f16_to_f32, f32_to_f16};

pub(crate) const QK_K: usize = 256;

pub(crate) fn put_f16(out: &mut [u8], at: usize, v: f32) -> f32 {
    let h = f32_to_f16(v);
    out[at..at + 2].copy_from_slice(&h.to_le_bytes());
    f16_to_f32(h)
}

pub(crate) fn get_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

pub(crate) fn sum_squares(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// Two-bit levels of 128 values into 32 bytes: byte l holds levels l, l+32, l+64, l+96.
fn pack_2bit(l: &[u8], qs: &mut [u8]) {
    for (j, q) in (0..QK_K).step_by(128).zip(qs.chunks_exact_mut(32)) {
        for i in 0..32 {
            q[i] = l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
}

// ---------------------------------------------------------------- Q2_K
// Layout: scales[16] (scale low nibble, min high nibble), qs[64], d, dmin.

pub(crate) fn quantize_q2_k(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(84)).enumerate() {
        match qw {
            Some(qw) => q2_k_weighted(xb, &qw[ib * QK_K..(ib + 1) * QK_K], y),
            None => q2_k_ref(xb, y),
        }
    }
}

fn q2_k_ref(x: &[f32], y: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut weights = [0.0f32; 16];
    let mut mins = [0.0f32; 16];
    let mut scales = [0.0f32; 16];
    let q4scale = 15.0f32;
    let search = QkxSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        scales[j] = make_qkx_quants(3, xs, &weights, &mut l[16 * j..], &mut mins[j], &search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let sc = &mut y[0..16];
    if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for j in 0..16 {
            sc[j] = nearest_int(iscale * scales[j]) as u8;
        }
    } else {
        sc.fill(0);
    }
    if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for j in 0..16 {
            sc[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
        }
    }
    let d = put_f16(y, 80, if max_scale > 0.0 { max_scale / q4scale } else { 0.0 });
    let dmin = put_f16(y, 82, if max_min > 0.0 { max_min / q4scale } else { 0.0 });
    q2_k_requantize(x, y, d, dmin, &mut l);
    pack_2bit(&l, &mut y[16..80]);
}

/// Final levels from the stored (rounded) scales and mins.
fn q2_k_requantize(x: &[f32], y: &[u8], dm: f32, mm: f32, l: &mut [u8; QK_K]) {
    for j in 0..16 {
        let d = dm * f32::from(y[j] & 0x0f);
        if d == 0.0 {
            continue;
        }
        let m = mm * f32::from(y[j] >> 4);
        for ii in 0..16 {
            l[16 * j + ii] = nearest_int((x[16 * j + ii] + m) / d).clamp(0, 3) as u8;
        }
    }
}

fn q2_k_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut mins = [0.0f32; 16];
    let mut scales = [0.0f32; 16];
    let mut sw = [0.0f32; 16];
    let mut weight = [0.0f32; 16];
    let (mut ls, mut lm) = ([0u8; 16], [0u8; 16]);
    let search = QkxSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };
    let sigma2 = sum_squares(x) / QK_K as f32;
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        for i in 0..16 {
            weight[i] = qw[16 * j + i] * (sigma2 + xs[i] * xs[i]).sqrt();
        }
        for &w in &weight {
            sw[j] += w;
        }
        scales[j] = make_qkx_quants(3, xs, &weight, &mut l[16 * j..], &mut mins[j], &search);
    }
    let dm = make_qp_quants(15, &scales, &mut ls, &sw);
    let mm = make_qp_quants(15, &mins, &mut lm, &sw);
    let dm = put_f16(y, 80, dm);
    let mm = put_f16(y, 82, mm);
    for j in 0..16 {
        y[j] = ls[j] | (lm[j] << 4);
    }
    q2_k_requantize(x, y, dm, mm, &mut l);
    pack_2bit(&l, &mut y[16..80]);
}

pub(crate) fn dequantize_q2_k(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(84).zip(out.chunks_exact_mut(QK_K)) {
        let (d, min) = (get_f16(blk, 80), get_f16(blk, 82));
        let mut k = 0;
        let mut is = 0;
        for half in 0..2 {
            let q = &blk[16 + 32 * half..16 + 32 * half + 32];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let sc = blk[is];
                    is += 1;
                    let (dl, ml) = (d * f32::from(sc & 0x0f), min * f32::from(sc >> 4));
                    for l in 0..16 {
                        y[k] = dl * f32::from((q[l + 16 * part] >> shift) & 3) - ml;
                        k += 1;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- Q3_K
// Layout: hmask[32], qs[64], scales[12] (16 six-bit values), d.

pub(crate) fn quantize_q3_k(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(110)).enumerate() {
        let mut l = [0i8; QK_K];
        let scales_at = 96;
        y[scales_at..scales_at + 12].fill(0);
        match qw {
            None => {
                let mut scales = [0.0f32; 16];
                let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
                for j in 0..16 {
                    scales[j] = make_q3_quants(4, &xb[16 * j..16 * j + 16], &mut l[16 * j..]);
                    if scales[j].abs() > amax {
                        amax = scales[j].abs();
                        max_scale = scales[j];
                    }
                }
                if max_scale != 0.0 {
                    let iscale = -32.0 / max_scale;
                    for j in 0..16 {
                        let q = nearest_int(iscale * scales[j]) as i8;
                        set_q3_scale(&mut y[scales_at..], j, (q.clamp(-32, 31) + 32) as u8);
                    }
                    put_f16(y, 108, 1.0 / iscale);
                } else {
                    put_f16(y, 108, 0.0);
                }
            }
            Some(qw) => {
                let qw = &qw[ib * QK_K..(ib + 1) * QK_K];
                let sigma2 = 2.0 * sum_squares(xb) / QK_K as f32;
                let mut scales = [0.0f32; 16];
                let mut sw = [0.0f32; 16];
                let mut weight = [0.0f32; 16];
                for j in 0..16 {
                    let xs = &xb[16 * j..16 * j + 16];
                    for i in 0..16 {
                        weight[i] = qw[16 * j + i] * (sigma2 + xs[i] * xs[i]).sqrt();
                    }
                    let mut sumw = 0.0f32;
                    for &w in &weight {
                        sumw += w;
                    }
                    sw[j] = sumw;
                    scales[j] = make_qx_quants(4, xs, &mut l[16 * j..], Some(&weight));
                }
                let mut ls = [0i8; 16];
                let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
                for j in 0..16 {
                    set_q3_scale(&mut y[scales_at..], j, ls[j] as u8);
                }
                put_f16(y, 108, d_block);
            }
        }
        let d_all = get_f16(y, 108);
        for j in 0..16 {
            let d = d_all * f32::from(q3_scale(&y[scales_at..], j));
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        // High bit of level j goes to hmask[j % 32], bit j / 32.
        let mut lu = [0u8; QK_K];
        y[0..32].fill(0);
        for j in 0..QK_K {
            let mut v = l[j] as u8;
            if v > 3 {
                y[j % 32] |= 1 << (j / 32);
                v -= 4;
            }
            lu[j] = v;
        }
        pack_2bit(&lu, &mut y[32..96]);
    }
}

/// Stores six-bit scale `j`: low nibble in bytes 0..8, top two bits in bytes 8..12.
fn set_q3_scale(sc: &mut [u8], j: usize, l: u8) {
    if j < 8 {
        sc[j] = l & 0x0f;
    } else {
        sc[j - 8] |= (l & 0x0f) << 4;
    }
    sc[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
}

/// Signed scale `j` (-32..=31) as stored by [`set_q3_scale`].
fn q3_scale(sc: &[u8], j: usize) -> i8 {
    let low = if j < 8 { sc[j] & 0x0f } else { sc[j - 8] >> 4 };
    ((low | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i8) - 32
}

pub(crate) fn dequantize_q3_k(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(110).zip(out.chunks_exact_mut(QK_K)) {
        let d_all = get_f16(blk, 108);
        let hm = &blk[0..32];
        let mut k = 0;
        let mut is = 0;
        let mut m = 1u8;
        for half in 0..2 {
            let q = &blk[32 + 32 * half..64 + 32 * half];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let dl = d_all * f32::from(q3_scale(&blk[96..108], is));
                    is += 1;
                    for l in 0..16 {
                        let i = l + 16 * part;
                        let v = i32::from((q[i] >> shift) & 3) - if hm[i] & m != 0 { 0 } else { 4 };
                        y[k] = dl * v as f32;
                        k += 1;
                    }
                }
                m <<= 1;
            }
        }
    }
}
