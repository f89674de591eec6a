//! The 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//!
//! Without an importance matrix ggml uses its `quantize_row_*_ref` rounding; with one,
//! Q4_0/Q5_0 use the weighted `make_qx_quants` search and Q4_1/Q5_1 the weighted
//! min/scale search, with weights `qw * sqrt(sigma2 + x^2)` where `sigma2` is the mean
//! square of the whole row. Q8_0 ignores the matrix.

use super::search::{QkxSearch, make_qkx_quants, make_qx_quants, signed_absmax};
use crate::float16::{f16_to_f32, f32_to_f16};

const QK: usize = 32;

fn put_f16(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

fn get_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Mean square of the row: the `sigma2` of the weighted paths.
fn row_sigma2(x: &[f32]) -> f32 {
    let mut sum_x2 = 0.0f32;
    for &v in x {
        sum_x2 += v * v;
    }
    sum_x2 / x.len() as f32
}

fn weights(xb: &[f32], qw: &[f32], sigma2: f32, out: &mut [f32; QK]) {
    for j in 0..QK {
        out[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
    }
}

fn min_max(xb: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in xb {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Q4_0 block: f16 d, 16 bytes of nibbles (low nibble j, high nibble j + 16).
pub(crate) fn quantize_q4_0(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    const BS: usize = 18;
    let sigma2 = qw.map(|_| row_sigma2(x));
    for (ib, (xb, y)) in x.chunks_exact(QK).zip(out.chunks_exact_mut(BS)).enumerate() {
        match (qw, sigma2) {
            (Some(qw), Some(sigma2)) => {
                let mut w = [0.0f32; QK];
                weights(xb, &qw[ib * QK..], sigma2, &mut w);
                let mut l = [0i8; QK];
                let d = make_qx_quants(8, xb, &mut l, Some(&w));
                put_f16(y, 0, d);
                for j in 0..16 {
                    y[2 + j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
                }
            }
            _ => {
                let d = signed_absmax(xb) / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                put_f16(y, 0, d);
                for j in 0..16 {
                    // C converts to int8_t (truncating) before taking the minimum.
                    let q0 = 15.min(((xb[j] * id + 8.5) as i32 as i8) as u8);
                    let q1 = 15.min(((xb[j + 16] * id + 8.5) as i32 as i8) as u8);
                    y[2 + j] = q0 | (q1 << 4);
                }
            }
        }
    }
}

/// Q4_1 block: f16 d, f16 m, 16 bytes of nibbles.
pub(crate) fn quantize_q4_1(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    quantize_affine(x, qw, out, 15);
}

/// Q5_1 block: f16 d, f16 m, u32 high bits, 16 bytes of nibbles.
pub(crate) fn quantize_q5_1(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    quantize_affine(x, qw, out, 31);
}

/// Q4_1 (`nmax` 15) and Q5_1 (`nmax` 31): `x ~ d*q + m`.
fn quantize_affine(x: &[f32], qw: Option<&[f32]>, out: &mut [u8], nmax: i32) {
    let five_bit = nmax == 31;
    let bs = if five_bit { 24 } else { 20 };
    let sigma2 = qw.map(|_| row_sigma2(x));
    for (ib, (xb, y)) in x.chunks_exact(QK).zip(out.chunks_exact_mut(bs)).enumerate() {
        let mut l = [0u8; QK];
        match (qw, sigma2) {
            (Some(qw), Some(sigma2)) => {
                let mut w = [0.0f32; QK];
                weights(xb, &qw[ib * QK..], sigma2, &mut w);
                let mut min = 0.0f32;
                let search = QkxSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };
                let d = make_qkx_quants(nmax, xb, &w, &mut l, &mut min, &search);
                put_f16(y, 0, d);
                put_f16(y, 2, -min);
            }
            _ => {
                let (min, max) = min_max(xb);
                let d = (max - min) / nmax as f32;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                put_f16(y, 0, d);
                put_f16(y, 2, min);
                for j in 0..QK {
                    let v = (xb[j] - min) * id + 0.5;
                    // Q4_1 clamps through int8_t; Q5_1 converts straight to uint8_t.
                    l[j] = if five_bit { v as i32 as u8 } else { 15.min((v as i32 as i8) as u8) };
                }
            }
        }
        pack_nibbles(&l, &mut y[bs - 16..]);
        if five_bit {
            y[4..8].copy_from_slice(&high_bits(&l).to_le_bytes());
        }
    }
}

/// Q5_0 block: f16 d, u32 high bits, 16 bytes of nibbles.
pub(crate) fn quantize_q5_0(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    const BS: usize = 22;
    let sigma2 = qw.map(|_| row_sigma2(x));
    for (ib, (xb, y)) in x.chunks_exact(QK).zip(out.chunks_exact_mut(BS)).enumerate() {
        let mut l = [0u8; QK];
        match (qw, sigma2) {
            (Some(qw), Some(sigma2)) => {
                let mut w = [0.0f32; QK];
                weights(xb, &qw[ib * QK..], sigma2, &mut w);
                let mut li = [0i8; QK];
                let d = make_qx_quants(16, xb, &mut li, Some(&w));
                put_f16(y, 0, d);
                for j in 0..QK {
                    l[j] = li[j] as u8;
                }
            }
            _ => {
                let d = signed_absmax(xb) / -16.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                put_f16(y, 0, d);
                for j in 0..QK {
                    l[j] = 31.min(((xb[j] * id + 16.5) as i32 as i8) as u8);
                }
            }
        }
        y[2..6].copy_from_slice(&high_bits(&l).to_le_bytes());
        pack_nibbles(&l, &mut y[6..]);
    }
}

/// Q8_0 block: f16 d, 32 signed bytes.
pub(crate) fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    for (xb, y) in x.chunks_exact(QK).zip(out.chunks_exact_mut(34)) {
        let mut amax = 0.0f32;
        for &v in xb {
            amax = if amax > v.abs() { amax } else { v.abs() };
        }
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(y, 0, d);
        for j in 0..QK {
            y[2 + j] = ((xb[j] * id).round() as i32 as i8) as u8;
        }
    }
}

/// Low nibbles of levels j and j + 16 into byte j.
fn pack_nibbles(l: &[u8; QK], qs: &mut [u8]) {
    for j in 0..16 {
        qs[j] = (l[j] & 0x0f) | ((l[j + 16] & 0x0f) << 4);
    }
}

/// Bit 4 of each of the 32 levels, level j in bit j.
fn high_bits(l: &[u8; QK]) -> u32 {
    let mut qh = 0u32;
    for (j, &v) in l.iter().enumerate() {
        qh |= u32::from((v & 0x10) >> 4) << j;
    }
    qh
}

pub(crate) fn dequantize_q4_0(b: &[u8], y: &mut [f32]) {
    for (blk, y) in b.chunks_exact(18).zip(y.chunks_exact_mut(QK)) {
        let d = get_f16(blk, 0);
        for j in 0..16 {
            let q = blk[2 + j];
            y[j] = (i32::from(q & 0x0f) - 8) as f32 * d;
            y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
        }
    }
}

pub(crate) fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    for (blk, y) in b.chunks_exact(20).zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (get_f16(blk, 0), get_f16(blk, 2));
        for j in 0..16 {
            let q = blk[4 + j];
            y[j] = f32::from(q & 0x0f) * d + m;
            y[j + 16] = f32::from(q >> 4) * d + m;
        }
    }
}

fn five_bit_levels(qh: u32, qs: &[u8], j: usize) -> (i32, i32) {
    let h0 = ((qh >> j) << 4) & 0x10;
    let h1 = (qh >> (j + 12)) & 0x10;
    (i32::from(qs[j] & 0x0f) | h0 as i32, i32::from(qs[j] >> 4) | h1 as i32)
}

pub(crate) fn dequantize_q5_0(b: &[u8], y: &mut [f32]) {
    for (blk, y) in b.chunks_exact(22).zip(y.chunks_exact_mut(QK)) {
        let d = get_f16(blk, 0);
        let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
        for j in 0..16 {
            let (x0, x1) = five_bit_levels(qh, &blk[6..], j);
            y[j] = (x0 - 16) as f32 * d;
            y[j + 16] = (x1 - 16) as f32 * d;
        }
    }
}

pub(crate) fn dequantize_q5_1(b: &[u8], y: &mut [f32]) {
    for (blk, y) in b.chunks_exact(24).zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (get_f16(blk, 0), get_f16(blk, 2));
        let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
        for j in 0..16 {
            let (x0, x1) = five_bit_levels(qh, &blk[8..], j);
            y[j] = x0 as f32 * d + m;
            y[j + 16] = x1 as f32 * d + m;
        }
    }
}

pub(crate) fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    for (blk, y) in b.chunks_exact(34).zip(y.chunks_exact_mut(QK)) {
        let d = get_f16(blk, 0);
        for j in 0..QK {
            y[j] = f32::from(blk[2 + j] as i8) * d;
        }
    }
}
