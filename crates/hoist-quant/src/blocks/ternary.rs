//! TQ1_0 and TQ2_0: ternary weights (-1, 0, 1 times one f16 scale per 256 values).
//! TQ1_0 packs five trits per byte (as a fixed-point fraction of 243), TQ2_0 four
//! two-bit codes per byte. Neither uses an importance matrix.

use super::kquants::{get_f16, put_f16};

const QK_K: usize = 256;

/// Scale (max |x|), its inverse, and the trit (0, 1, 2) of each value.
fn trits(x: &[f32]) -> (f32, [u8; QK_K]) {
    let mut amax = 0.0f32;
    for &v in x {
        amax = if amax > v.abs() { amax } else { v.abs() };
    }
    let id = if amax != 0.0 { 1.0 / amax } else { 0.0 };
    let mut t = [0u8; QK_K];
    for (t, &v) in t.iter_mut().zip(x) {
        // lroundf: halves away from zero, as f32::round.
        *t = ((v * id).round() as i32 + 1) as u8;
    }
    (amax, t)
}

/// Trits most significant first, then scaled to a byte: ceil(q * 256 / 243).
fn pack_trits(ts: impl Iterator<Item = u8>) -> u8 {
    let q = ts.fold(0u8, |q, t| q.wrapping_mul(3).wrapping_add(t));
    (u16::from(q) * 256).div_ceil(243) as u8
}

/// TQ1_0 block: qs[48] (5 trits each), qh[4] (4 trits each), f16 d.
pub(crate) fn quantize_tq1_0(x: &[f32], out: &mut [u8]) {
    for (xb, y) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(54)) {
        let (d, t) = trits(xb);
        put_f16(y, 52, d);
        // Bytes 0..32 take values 0..160 (value m + 32n in byte m), bytes 32..48
        // values 160..240 (m + 16n), bytes 48..52 the last 16 (j + 4m, plus a zero trit).
        for m in 0..32 {
            y[m] = pack_trits((0..5).map(|n| t[m + 32 * n]));
        }
        for m in 0..16 {
            y[32 + m] = pack_trits((0..5).map(|n| t[160 + m + 16 * n]));
        }
        for j in 0..4 {
            y[48 + j] = pack_trits((0..4).map(|m| t[240 + j + 4 * m]).chain([0]));
        }
    }
}

/// TQ2_0 block: qs[64] (value m + 32n of each 128 in bits 2n of byte m), f16 d.
pub(crate) fn quantize_tq2_0(x: &[f32], out: &mut [u8]) {
    for (xb, y) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(66)) {
        let (d, t) = trits(xb);
        put_f16(y, 64, d);
        for j in 0..2 {
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..4 {
                    q = q.wrapping_add((t[128 * j + m + 32 * n] & 3) << (2 * n));
                }
                y[32 * j + m] = q;
            }
        }
    }
}

/// The trit in the most significant position of `q * 3^n`.
fn trit(q: u8, n: usize) -> f32 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let q = q.wrapping_mul(POW3[n]);
    f32::from(((u16::from(q) * 3) >> 8) as i16 - 1)
}

pub(crate) fn dequantize_tq1_0(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(54).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(blk, 52);
        let mut k = 0;
        for (start, width) in [(0, 32), (32, 16)] {
            for n in 0..5 {
                for m in 0..width {
                    y[k] = trit(blk[start + m], n) * d;
                    k += 1;
                }
            }
        }
        for n in 0..4 {
            for j in 0..4 {
                y[k] = trit(blk[48 + j], n) * d;
                k += 1;
            }
        }
    }
}

pub(crate) fn dequantize_tq2_0(b: &[u8], out: &mut [f32]) {
    for (blk, y) in b.chunks_exact(66).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(blk, 64);
        let mut k = 0;
        for j in 0..2 {
            for l in 0..4 {
                for m in 0..32 {
                    y[k] = f32::from(i16::from((blk[32 * j + m] >> (2 * l)) & 3) - 1) * d;
                    k += 1;
                }
            }
        }
    }
}
