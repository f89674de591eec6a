//! Row quantizers and dequantizers for the ggml block formats, dispatched by type.
//!
//! A row is `n_per_row` values; block formats split it into blocks of
//! [`GgmlType::block_size`] values stored as [`GgmlType::type_size`] bytes each. The
//! importance-matrix paths look at the whole row (its mean square), so rows are the
//! unit of work: each row's bytes depend only on that row and its importance weights,
//! which is what lets rows run in parallel and still match ggml byte for byte.

// The kernels index several parallel arrays with one loop counter, as ggml's C does;
// keeping the indices makes each loop checkable against the reference line by line.
#![allow(clippy::needless_range_loop)]

mod iq4;
mod kquants;
mod kquants_hi;
mod legacy;
mod search;
mod ternary;

use hoist_gguf::GgmlType;
use rayon::prelude::*;

use crate::QuantError;
use crate::float16::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};

/// The types [`quantize_rows`] produces.
pub const QUANTIZE_TYPES: [GgmlType; 17] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
];

/// Whether [`quantize_rows`] can produce `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    QUANTIZE_TYPES.contains(&ty)
}

/// Whether [`dequantize_rows`] can read `ty` (the same set: what hoist writes it reads).
pub fn can_dequantize(ty: GgmlType) -> bool {
    can_quantize(ty)
}

/// Bytes of `rows` rows of `n_per_row` values of `ty`, or an error if the row does not
/// divide into blocks.
pub fn row_bytes(ty: GgmlType, n_per_row: usize) -> Result<usize, QuantError> {
    ty.row_bytes(n_per_row as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(QuantError::RowNotBlocks { ty, n_per_row })
}

/// Quantizes `src` (whole rows of `n_per_row` values) into `dst` (exactly the rows'
/// bytes), as ggml's `ggml_quantize_chunk` does. `imatrix` holds `n_per_row` importance
/// weights shared by every row; the types that ignore it do so as ggml does. Rows are
/// spread over the rayon pool.
pub fn quantize_rows(
    ty: GgmlType,
    src: &[f32],
    n_per_row: usize,
    imatrix: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<(), QuantError> {
    let rb = check_rows(ty, src.len(), n_per_row, dst.len(), can_quantize(ty), "quantizing to")?;
    if let Some(w) = imatrix
        && w.len() != n_per_row
    {
        return Err(QuantError::ImatrixLength { expected: n_per_row, actual: w.len() });
    }
    if n_per_row == 0 {
        return Ok(());
    }
    // Enough rows per task that small rows do not drown in scheduling.
    let rows_per_task = (16 * 1024 / n_per_row).max(1);
    src.par_chunks(n_per_row * rows_per_task).zip(dst.par_chunks_mut(rb * rows_per_task)).for_each(|(s, d)| {
        for (x, y) in s.chunks_exact(n_per_row).zip(d.chunks_exact_mut(rb)) {
            quantize_row(ty, x, imatrix, y);
        }
    });
    Ok(())
}

/// Converts `src` (whole rows of `ty`) to f32 values in `dst`, as ggml's `to_float`.
pub fn dequantize_rows(ty: GgmlType, src: &[u8], n_per_row: usize, dst: &mut [f32]) -> Result<(), QuantError> {
    let rb = check_rows(ty, dst.len(), n_per_row, src.len(), can_dequantize(ty), "dequantizing from")?;
    if n_per_row == 0 {
        return Ok(());
    }
    let rows_per_task = (16 * 1024 / n_per_row).max(1);
    src.par_chunks(rb * rows_per_task).zip(dst.par_chunks_mut(n_per_row * rows_per_task)).for_each(|(s, d)| {
        for (b, y) in s.chunks_exact(rb).zip(d.chunks_exact_mut(n_per_row)) {
            dequantize_row(ty, b, y);
        }
    });
    Ok(())
}

/// Row bytes of `ty`, after checking that `values` and `bytes` hold the same whole
/// number of rows.
fn check_rows(
    ty: GgmlType,
    values: usize,
    n_per_row: usize,
    bytes: usize,
    supported: bool,
    what: &'static str,
) -> Result<usize, QuantError> {
    if !supported {
        return Err(QuantError::UnsupportedType { ty, what });
    }
    let rb = row_bytes(ty, n_per_row)?;
    let rows = values.checked_div(n_per_row).unwrap_or(0);
    if rows * n_per_row != values || rows.checked_mul(rb) != Some(bytes) {
        return Err(QuantError::BufferSize { ty, n_per_row, values, bytes });
    }
    Ok(rb)
}

/// One row; `x.len()` is a whole number of blocks and `y` the row's bytes.
fn quantize_row(ty: GgmlType, x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    match ty {
        GgmlType::F32 => {
            for (o, v) in y.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for (o, &v) in y.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&f32_to_f16(v).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for (o, &v) in y.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&f32_to_bf16(v).to_le_bytes());
            }
        }
        GgmlType::Q4_0 => legacy::quantize_q4_0(x, qw, y),
        GgmlType::Q4_1 => legacy::quantize_q4_1(x, qw, y),
        GgmlType::Q5_0 => legacy::quantize_q5_0(x, qw, y),
        GgmlType::Q5_1 => legacy::quantize_q5_1(x, qw, y),
        GgmlType::Q8_0 => legacy::quantize_q8_0(x, y),
        GgmlType::Q2_K => kquants::quantize_q2_k(x, qw, y),
        GgmlType::Q3_K => kquants::quantize_q3_k(x, qw, y),
        GgmlType::Q4_K => kquants_hi::quantize_q4_k(x, qw, y),
        GgmlType::Q5_K => kquants_hi::quantize_q5_k(x, qw, y),
        GgmlType::Q6_K => kquants_hi::quantize_q6_k(x, qw, y),
        GgmlType::IQ4_NL => iq4::quantize_iq4_nl(x, qw, y),
        GgmlType::IQ4_XS => iq4::quantize_iq4_xs(x, qw, y),
        GgmlType::TQ1_0 => ternary::quantize_tq1_0(x, y),
        GgmlType::TQ2_0 => ternary::quantize_tq2_0(x, y),
        // check_rows only lets the types above through.
        _ => {}
    }
}

fn dequantize_row(ty: GgmlType, b: &[u8], y: &mut [f32]) {
    match ty {
        GgmlType::F32 => {
            for (v, i) in y.iter_mut().zip(b.chunks_exact(4)) {
                *v = f32::from_le_bytes([i[0], i[1], i[2], i[3]]);
            }
        }
        GgmlType::F16 => {
            for (v, i) in y.iter_mut().zip(b.chunks_exact(2)) {
                *v = f16_to_f32(u16::from_le_bytes([i[0], i[1]]));
            }
        }
        GgmlType::BF16 => {
            for (v, i) in y.iter_mut().zip(b.chunks_exact(2)) {
                *v = bf16_to_f32(u16::from_le_bytes([i[0], i[1]]));
            }
        }
        GgmlType::Q4_0 => legacy::dequantize_q4_0(b, y),
        GgmlType::Q4_1 => legacy::dequantize_q4_1(b, y),
        GgmlType::Q5_0 => legacy::dequantize_q5_0(b, y),
        GgmlType::Q5_1 => legacy::dequantize_q5_1(b, y),
        GgmlType::Q8_0 => legacy::dequantize_q8_0(b, y),
        GgmlType::Q2_K => kquants::dequantize_q2_k(b, y),
        GgmlType::Q3_K => kquants::dequantize_q3_k(b, y),
        GgmlType::Q4_K => kquants_hi::dequantize_q4_k(b, y),
        GgmlType::Q5_K => kquants_hi::dequantize_q5_k(b, y),
        GgmlType::Q6_K => kquants_hi::dequantize_q6_k(b, y),
        GgmlType::IQ4_NL => iq4::dequantize_iq4_nl(b, y),
        GgmlType::IQ4_XS => iq4::dequantize_iq4_xs(b, y),
        GgmlType::TQ1_0 => ternary::dequantize_tq1_0(b, y),
        GgmlType::TQ2_0 => ternary::dequantize_tq2_0(b, y),
        _ => {}
    }
}
