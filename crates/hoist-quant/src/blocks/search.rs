//! The scale searches ggml's quantizers share (ggml-quants.c): given a group of values,
//! find a scale (and for the "x = d*q - m" formats a minimum) and the integer levels.
//!
//! Byte-identical output depends on doing every float operation in ggml's order: sums
//! accumulate left to right from the same starting value, `w*x*l` is `(w*x)*l`, ints
//! convert to f32 where C converts them, and stores into `u8`/`i8` arrays truncate the
//! way C's conversions do (wrapping), even where that only matters for odd inputs.

/// Values below this count as an all-zero group.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest (ties to even) via the 1.5 * 2^23 trick, for |x| <= 2^22; outside
/// that range the result is what ggml's bit manipulation gives.
#[inline]
pub(crate) fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// Index of the table value nearest `x` in the sorted `values` (ties to the upper one
/// unless strictly closer to the lower).
#[inline]
pub(crate) fn best_index_int8(values: &[i8; 16], x: f32) -> usize {
    let v = |i: usize| f32::from(values[i]);
    if x <= v(0) {
        return 0;
    }
    if x >= v(15) {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < v(mav) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - v(mu - 1) < v(mu) - x { mu - 1 } else { mu }
}

/// The value of largest magnitude (the first one on ties), or 0.
pub(crate) fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// The scales [`make_qx_quants`] tries after its first.
const QX_STEPS: usize = 18;

/// Symmetric levels `L[i] in 0..2*nmax` for `x ~ scale * (L[i] - nmax)`, weighted least
/// squares with weights `qw` (or `x^2`), trying 18 scales around `nmax / max|x|`.
/// This is ggml's `make_qx_quants` with `rmse_type == 1`, the only mode its
/// quantizers for the supported types use.
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [i8], qw: Option<&[f32]>) -> f32 {
    let n = x.len();
    let max = signed_absmax(x);
    if max.abs() < GROUP_MAX_EPS {
        levels[..n].fill(0);
        return 0.0;
    }
    // The weights once, as slices of exactly n: no per-value branch or bounds check.
    let mut squares = [0.0f32; 32];
    let weights: &[f32] = match qw {
        Some(w) => &w[..n],
        None => {
            for (s, v) in squares.iter_mut().zip(x) {
                *s = v * v;
            }
            &squares[..n]
        }
    };
    let levels = &mut levels[..n];
    let weight = |i: usize| weights[i];
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = clamp(nearest_int(iscale * x[i]));
        levels[i] = (l + nmax) as i8;
        let w = weight(i);
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    // The 18 other scales do not depend on each other: all are summed side by side
    // (each in ggml's order), then compared in ggml's order.
    let iscales: [f32; QX_STEPS] = std::array::from_fn(|k| {
        let is = k as i32 - 9 + i32::from(k >= 9);
        -(nmax as f32 + 0.1 * is as f32) / max
    });
    let (nmin_f, nmax_f) = (-(nmax as f32), (nmax - 1) as f32);
    let mut sums_lx = [0.0f32; QX_STEPS];
    let mut sums_l2 = [0.0f32; QX_STEPS];
    for (&xi, &w) in x.iter().zip(weights) {
        for k in 0..QX_STEPS {
            let l = clamped(nearest_int(iscales[k] * xi), nmin_f, nmax_f);
            sums_lx[k] += w * xi * l;
            sums_l2[k] += w * l * l;
        }
    }
    let mut chosen = None;
    for k in 0..QX_STEPS {
        let (sumlx, suml2) = (sums_lx[k], sums_l2[k]);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            chosen = Some(iscales[k]);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    if let Some(iscale) = chosen {
        for i in 0..n {
            levels[i] = (nmax + clamp(nearest_int(iscale * x[i]))) as i8;
        }
    }
    scale
}

/// Q3_K's reference search: symmetric levels in `-nmax..nmax`, then up to five rounds
/// of moving single levels while that improves the `x^2`-weighted fit. Levels come
/// back offset by `nmax`.
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let n = x.len();
    let max = signed_absmax(x);
    if max.abs() < GROUP_MAX_EPS {
        levels[..n].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        levels[i] = l as i8;
        let w = x[i] * x[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = x[i] * x[i];
            let li = f32::from(levels[i]);
            let mut slx = sumlx - w * x[i] * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != i32::from(levels[i]) {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        levels[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for l in &mut levels[..n] {
        *l += nmax as i8;
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// Search parameters of [`make_qkx_quants`]: scales `(rmin + rdelta*is + nmax) / range`
/// for `is` in `0..=nstep`, error measured as absolute (`use_mad`) or squared.
pub(crate) struct QkxSearch {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
}

/// Asymmetric levels `L[i] in 0..=nmax` for `x ~ scale * L[i] - min` (min >= 0 returned
/// through `the_min`), weighted by `weights`. ggml has two copies of this search,
/// `make_qkx2_quants` and `make_qkx3_quants`; with weights given (as all callers here
/// give them) they compute the same thing, so one function serves both.
pub(crate) fn make_qkx_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    the_min: &mut f32,
    search: &QkxSearch,
) -> f32 {
    let n = x.len();
    // Slices of exactly n let the compiler drop the bounds checks in the hot loops.
    let (weights, levels) = (&weights[..n], &mut levels[..n]);
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels[..n].fill(0);
        *the_min = -min;
        return 0.0;
    }
    let err = |d: f32| if search.use_mad { d.abs() } else { d * d };
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        let diff = scale * f32::from(levels[i]) + min - x[i];
        best_error += weights[i] * err(diff);
    }
    if search.nstep < 1 {
        *the_min = -min;
        return scale;
    }
    // The steps are tried in order, and an improvement moves `min`, which every later
    // step's scale and levels depend on. So LANES steps run side by side with the
    // current `min` (each lane summing in ggml's order, so each lane's floats are the
    // scalar ones); the lanes are then taken in order, and after an improvement the
    // steps that followed it are run again with the new `min`.
    let mut is = 0;
    while is <= search.nstep {
        let mut iscales = [0.0f32; LANES];
        for (k, s) in iscales.iter_mut().enumerate() {
            *s = (search.rmin + search.rdelta * (is + k as i32) as f32 + nmax as f32) / (max - min);
        }
        let lanes = qkx_lanes(nmax, x, weights, min, &iscales, search.use_mad, sum_w, sum_x);
        let live = ((search.nstep - is + 1) as usize).min(LANES);
        let mut next = is + live as i32;
        for k in 0..live {
            let Some((this_scale, this_min, cur_error)) = lanes[k] else { continue };
            if cur_error < best_error {
                let iscale = iscales[k];
                for i in 0..n {
                    levels[i] = nearest_int(iscale * (x[i] - min)).clamp(0, nmax) as u8;
                }
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
                next = is + k as i32 + 1;
                break;
            }
        }
        is = next;
    }
    *the_min = -min;
    scale
}

/// `l.clamp(lo, hi) as f32`, clamped after the conversion (exact: the conversion is
/// monotonic and exact in range), which vector units do in two instructions.
#[inline(always)]
fn clamped(l: i32, lo: f32, hi: f32) -> f32 {
    let l = l as f32;
    let l = if l > hi { hi } else { l };
    if l < lo { lo } else { l }
}

/// Steps of [`make_qkx_quants`] run side by side: 8 measured faster than 4 (more
/// groups rerun after improvements) and 16 (registers spill) on x86-64's SSE2.
const LANES: usize = 8;

/// One [`make_qkx_quants`] step per lane (scale `iscales[k]`, the same `min`): each
/// lane's fit `(scale, min, error)`, or `None` where the fit is degenerate (ggml skips
/// the step). Each lane does the scalar step's float operations in its order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn qkx_lanes(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    min: f32,
    iscales: &[f32; LANES],
    use_mad: bool,
    sum_w: f32,
    sum_x: f32,
) -> [Option<(f32, f32, f32)>; LANES] {
    let level = |iscale: f32, xi: f32| clamped(nearest_int(iscale * (xi - min)), 0.0, nmax as f32);
    let mut sum_l = [0.0f32; LANES];
    let mut sum_l2 = [0.0f32; LANES];
    let mut sum_xl = [0.0f32; LANES];
    for (&xi, &w) in x.iter().zip(weights) {
        for k in 0..LANES {
            let l = level(iscales[k], xi);
            let wl = w * l;
            sum_l[k] += wl;
            sum_l2[k] += wl * l;
            sum_xl[k] += wl * xi;
        }
    }
    let mut scales = [0.0f32; LANES];
    let mut mins = [0.0f32; LANES];
    let mut ok = [false; LANES];
    for k in 0..LANES {
        let d = sum_w * sum_l2[k] - sum_l[k] * sum_l[k];
        ok[k] = d > 0.0;
        scales[k] = (sum_w * sum_xl[k] - sum_x * sum_l[k]) / d;
        mins[k] = (sum_l2[k] * sum_x - sum_l[k] * sum_xl[k]) / d;
        if mins[k] > 0.0 {
            mins[k] = 0.0;
            scales[k] = sum_xl[k] / sum_l2[k];
        }
    }
    let mut errors = [0.0f32; LANES];
    for (&xi, &w) in x.iter().zip(weights) {
        for k in 0..LANES {
            let diff = scales[k] * level(iscales[k], xi) + mins[k] - xi;
            errors[k] += w * if use_mad { diff.abs() } else { diff * diff };
        }
    }
    std::array::from_fn(|k| ok[k].then_some((scales[k], mins[k], errors[k])))
}

/// Levels `0..=nmax` for non-negative values (the sub-block scales and mins of the
/// K-quants), weighted by `qw`: ggml's `make_qp_quants`.
pub(crate) fn make_qp_quants(nmax: i32, x: &[f32], levels: &mut [u8], qw: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    for &xi in x {
        max = if max > xi { max } else { xi };
    }
    if max < GROUP_MAX_EPS {
        levels[..n].fill(0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        levels[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * f32::from(levels[i]);
        best_mse += qw[i] * diff * diff;
    }
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * l as f32;
            mse += qw[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax);
        levels[i] = l as u8;
        let w = qw[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = qw[i];
            let li = f32::from(levels[i]);
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != i32::from(levels[i]) {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        levels[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-2.6), -3);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
    }

    #[test]
    fn best_index_picks_nearest_table_value() {
        let t: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
        assert_eq!(best_index_int8(&t, -200.0), 0);
        assert_eq!(best_index_int8(&t, 200.0), 15);
        assert_eq!(best_index_int8(&t, 0.0), 8);
        assert_eq!(best_index_int8(&t, -4.5), 8); // equidistant from -10 and 1: upper
        assert_eq!(best_index_int8(&t, 7.0), 9); // 6 from 1, 6 from 13: upper
    }
}
