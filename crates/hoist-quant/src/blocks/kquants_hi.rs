//! Q4_K, Q5_K (eight 32-value sub-blocks with six-bit scales and mins) and Q6_K
//! (sixteen 16-value sub-blocks with eight-bit scales).

use super::kquants::{QK_K, get_f16, put_f16, sum_squares};
use super::search::{QkxSearch, make_qkx_quants, make_qp_quants, make_qx_quants, nearest_int};

/// Stores six-bit scale and min `j` of a Q4_K/Q5_K block in its 12 scale bytes.
fn set_scale_min_k4(sc: &mut [u8], j: usize, ls: u8, lm: u8) {
    if j < 4 {
        sc[j] = ls;
        sc[j + 4] = lm;
    } else {
        sc[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
        sc[j - 4] |= (ls >> 4) << 6;
        sc[j] |= (lm >> 4) << 6;
    }
}

/// Scale and min `j` as stored by [`set_scale_min_k4`].
fn scale_min_k4(q: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Scales, mins and levels of one Q4_K (`nmax` 15) or Q5_K (`nmax` 31) super-block;
/// writes d, dmin and the scale bytes (`y[0..16]`) and returns the final levels.
fn affine_k(x: &[f32], qw: Option<&[f32]>, nmax: i32, y: &mut [u8]) -> [u8; QK_K] {
    let mut l = [0u8; QK_K];
    let mut weights = [0.0f32; 32];
    let mut mins = [0.0f32; 8];
    let mut scales = [0.0f32; 8];
    y[4..16].fill(0);
    match qw {
        None => {
            let search = if nmax == 15 {
                QkxSearch { rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false }
            } else {
                QkxSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false }
            };
            let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
            for j in 0..8 {
                let xs = &x[32 * j..32 * j + 32];
                let av_x = (sum_squares(xs) / 32.0).sqrt();
                for (w, v) in weights.iter_mut().zip(xs) {
                    *w = av_x + v.abs();
                }
                scales[j] = make_qkx_quants(nmax, xs, &weights, &mut l[32 * j..], &mut mins[j], &search);
                if scales[j] > max_scale {
                    max_scale = scales[j];
                }
                if mins[j] > max_min {
                    max_min = mins[j];
                }
            }
            let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
            let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
            for j in 0..8 {
                let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
                let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
                set_scale_min_k4(&mut y[4..16], j, ls, lm);
            }
            put_f16(y, 0, max_scale / 63.0);
            put_f16(y, 2, max_min / 63.0);
        }
        Some(qw) => {
            let search = QkxSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };
            let sigma2 = 2.0 * sum_squares(x) / QK_K as f32;
            let mut sw = [0.0f32; 8];
            for j in 0..8 {
                let xs = &x[32 * j..32 * j + 32];
                for i in 0..32 {
                    weights[i] = qw[32 * j + i] * (sigma2 + xs[i] * xs[i]).sqrt();
                }
                let mut sumw = 0.0f32;
                for &w in &weights {
                    sumw += w;
                }
                sw[j] = sumw;
                scales[j] = make_qkx_quants(nmax, xs, &weights, &mut l[32 * j..], &mut mins[j], &search);
            }
            let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
            let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
            let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
            // Q5_K caps the levels at 63 here, Q4_K stores them as they are.
            let cap = if nmax == 31 { 63 } else { u8::MAX };
            for j in 0..8 {
                set_scale_min_k4(&mut y[4..16], j, ls[j].min(cap), lm[j].min(cap));
            }
            put_f16(y, 0, d_block);
            put_f16(y, 2, m_block);
        }
    }
    let (d_all, m_all) = (get_f16(y, 0), get_f16(y, 2));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(&y[4..16], j);
        let d = d_all * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        let dm = m_all * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax) as u8;
        }
    }
    l
}

// ---------------------------------------------------------------- Q4_K
// Layout: d, dmin, scales[12], qs[128] (values j and j+32 of each 64 share a byte).

pub(crate) fn quantize_q4_k(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(144)).enumerate() {
        let l = affine_k(xb, qw.map(|w| &w[ib * QK_K..(ib + 1) * QK_K]), 15, y);
        for (j, q) in (0..QK_K).step_by(64).zip(y[16..].chunks_exact_mut(32)) {
            for i in 0..32 {
                q[i] = l[j + i] | (l[j + i + 32] << 4);
            }
        }
    }
}

pub(crate) fn dequantize_q4_k(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(144).zip(out.chunks_exact_mut(QK_K)) {
        let (d, min) = (get_f16(blk, 0), get_f16(blk, 2));
        for (n, q) in blk[16..].chunks_exact(32).enumerate() {
            let (s1, m1) = scale_min_k4(&blk[4..16], 2 * n);
            let (s2, m2) = scale_min_k4(&blk[4..16], 2 * n + 1);
            let (d1, m1) = (d * f32::from(s1), min * f32::from(m1));
            let (d2, m2) = (d * f32::from(s2), min * f32::from(m2));
            for l in 0..32 {
                y[64 * n + l] = d1 * f32::from(q[l] & 0x0f) - m1;
                y[64 * n + 32 + l] = d2 * f32::from(q[l] >> 4) - m2;
            }
        }
    }
}

// ---------------------------------------------------------------- Q5_K
// Layout: d, dmin, scales[12], qh[32], qs[128].

pub(crate) fn quantize_q5_k(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(176)).enumerate() {
        let l = affine_k(xb, qw.map(|w| &w[ib * QK_K..(ib + 1) * QK_K]), 31, y);
        let (qh, ql) = y[16..].split_at_mut(32);
        qh.fill(0);
        let (mut m1, mut m2) = (1u8, 2u8);
        for (n, ql) in (0..QK_K).step_by(64).zip(ql.chunks_exact_mut(32)) {
            for j in 0..32 {
                let mut l1 = l[n + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l[n + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = l1 | (l2 << 4);
            }
            m1 = m1.wrapping_shl(2);
            m2 = m2.wrapping_shl(2);
        }
    }
}

pub(crate) fn dequantize_q5_k(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(176).zip(out.chunks_exact_mut(QK_K)) {
        let (d, min) = (get_f16(blk, 0), get_f16(blk, 2));
        let qh = &blk[16..48];
        let (mut u1, mut u2) = (1u8, 2u8);
        for (n, ql) in blk[48..].chunks_exact(32).enumerate() {
            let (s1, m1) = scale_min_k4(&blk[4..16], 2 * n);
            let (s2, m2) = scale_min_k4(&blk[4..16], 2 * n + 1);
            let (d1, m1) = (d * f32::from(s1), min * f32::from(m1));
            let (d2, m2) = (d * f32::from(s2), min * f32::from(m2));
            for l in 0..32 {
                let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                y[64 * n + l] = d1 * f32::from((ql[l] & 0x0f) + h1) - m1;
                y[64 * n + 32 + l] = d2 * f32::from((ql[l] >> 4) + h2) - m2;
            }
            u1 = u1.wrapping_shl(2);
            u2 = u2.wrapping_shl(2);
        }
    }
}

// ---------------------------------------------------------------- Q6_K
// Layout: ql[128], qh[64], scales[16] (i8), d.

pub(crate) fn quantize_q6_k(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) {
    for (ib, (xb, y)) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(210)).enumerate() {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for j in 0..16 {
            let w = qw.map(|w| &w[ib * QK_K + 16 * j..ib * QK_K + 16 * j + 16]);
            scales[j] = make_qx_quants(32, &xb[16 * j..16 * j + 16], &mut l[16 * j..], w);
            if scales[j].abs() > max_abs_scale {
                max_abs_scale = scales[j].abs();
                max_scale = scales[j];
            }
        }
        if max_abs_scale < super::search::GROUP_MAX_EPS {
            y.fill(0);
            continue;
        }
        let iscale = -128.0 / max_scale;
        let d_all = put_f16(y, 208, 1.0 / iscale);
        for j in 0..16 {
            y[192 + j] = nearest_int(iscale * scales[j]).min(127) as i8 as u8;
        }
        for j in 0..16 {
            let d = d_all * f32::from(y[192 + j] as i8);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        let (ql, qh) = y[..192].split_at_mut(128);
        for (half, (ql, qh)) in ql.chunks_exact_mut(64).zip(qh.chunks_exact_mut(32)).enumerate() {
            let j = 128 * half;
            for i in 0..32 {
                let q = |k: usize| l[j + i + 32 * k] as u8;
                ql[i] = (q(0) & 0x0f) | ((q(2) & 0x0f) << 4);
                ql[i + 32] = (q(1) & 0x0f) | ((q(3) & 0x0f) << 4);
                qh[i] = (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
            }
        }
    }
}

pub(crate) fn dequantize_q6_k(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(210).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(blk, 208);
        for half in 0..2 {
            let ql = &blk[64 * half..64 * half + 64];
            let qh = &blk[128 + 32 * half..160 + 32 * half];
            let sc = &blk[192 + 8 * half..200 + 8 * half];
            let y = &mut y[128 * half..128 * half + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = i32::from((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
                let q2 = i32::from((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                let s = |k: usize| f32::from(sc[is + k] as i8);
                y[l] = d * s(0) * q1 as f32;
                y[l + 32] = d * s(2) * q2 as f32;
                y[l + 64] = d * s(4) * q3 as f32;
                y[l + 96] = d * s(6) * q4 as f32;
            }
        }
    }
}
