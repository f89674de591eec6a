//! The plan: every output tensor with its GGUF name, dims, type and where its elements
//! come from, in the reference's order, before any tensor data is read.

use hoist_gguf::GgmlType;

use crate::arch::{Architecture, Mapped, Transform};
use crate::config::Config;
use crate::safetensors::{Checkpoint, Dtype};
use crate::{ConvertError, OutType};

/// Where an output tensor's elements come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The checkpoint tensor at this index, with a transform.
    Checkpoint { index: usize, transform: Transform },
    /// Values the converter computed.
    Generated(Vec<f32>),
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    /// GGUF order: innermost first (the reverse of the safetensors shape).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    pub source: Source,
}

impl Planned {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// `--type auto`: the 16-bit type of the first matrix (2+ dims) stored as BF16 or F16,
/// else F16 (llama.cpp's heuristic; F32 matrices do not decide it).
pub fn resolve_auto(ck: &Checkpoint) -> GgmlType {
    for t in ck.tensors() {
        if t.shape.len() < 2 {
            continue;
        }
        match t.dtype {
            Dtype::Bf16 => return GgmlType::BF16,
            Dtype::F16 => return GgmlType::F16,
            _ => {}
        }
    }
    GgmlType::F16
}

pub fn out_ggml_type(t: OutType, ck: &Checkpoint) -> GgmlType {
    match t {
        OutType::F32 => GgmlType::F32,
        OutType::F16 => GgmlType::F16,
        OutType::Bf16 => GgmlType::BF16,
        OutType::Q8_0 => GgmlType::Q8_0,
        OutType::Auto => resolve_auto(ck),
    }
}

/// The type a tensor is stored in (llama.cpp's prepare_tensors): 1-D tensors, norms,
/// position and token-type embeddings and anything not a `.weight` stay F32; a matrix
/// whose rows (`dims[0]`) do not split into blocks of a block type is stored as F16
/// (gguf-py's QuantError fallback).
pub fn tensor_type(name: &str, dims: &[u64], ftype: GgmlType) -> GgmlType {
    let always_f32 = dims.len() <= 1
        || name.ends_with("_norm.weight")
        || name == "position_embd.weight"
        || name == "token_types.weight"
        || ![".weight", ".lora_a", ".lora_b"].iter().any(|suffix| name.ends_with(suffix));
    let row = dims.first().copied().unwrap_or(0);
    if always_f32 {
        GgmlType::F32
    } else if row % ftype.block_size().unwrap_or(1).max(1) != 0 {
        GgmlType::F16
    } else {
        ftype
    }
}

/// Maps every checkpoint tensor; a tensor the mapping does not know, or one in a dtype
/// that is not converted, is an error naming it and its file.
pub fn plan(
    arch: &dyn Architecture,
    cfg: &Config,
    ck: &Checkpoint,
    ftype: GgmlType,
) -> Result<Vec<Planned>, ConvertError> {
    let mut out = Vec::new();
    for g in arch.generated(cfg)? {
        let dims = vec![g.values.len() as u64];
        out.push(Planned {
            ggml_type: tensor_type(&g.name, &dims, ftype),
            name: g.name,
            dims,
            source: Source::Generated(g.values),
        });
    }
    for (index, t) in ck.tensors().iter().enumerate() {
        let mapped = arch.map_tensor(cfg, &t.name)?.ok_or_else(|| ConvertError::UnknownTensor {
            path: ck.path_of(t).to_path_buf(),
            tensor: t.name.clone(),
            arch: arch.gguf_name(),
        })?;
        let Mapped::Tensor { name, transform } = mapped else { continue };
        if let Dtype::Other(_) = t.dtype {
            return Err(ConvertError::UnsupportedDtype {
                path: ck.path_of(t).to_path_buf(),
                tensor: t.name.clone(),
                dtype: t.dtype.name(),
            });
        }
        if let Transform::Permute { heads } = transform {
            let rows = t.shape.first().copied().unwrap_or(0);
            if heads == 0 || rows % (heads * 2) != 0 {
                return Err(ConvertError::Tensor {
                    path: ck.path_of(t).to_path_buf(),
                    tensor: t.name.clone(),
                    reason: format!("{rows} rows do not split into {heads} heads of rotary pairs"),
                });
            }
        }
        let mut shape = t.shape.clone();
        if let (Transform::TakeRows(n), Some(rows)) = (transform, shape.first_mut()) {
            *rows = (*rows).min(n);
        }
        let dims: Vec<u64> = shape.iter().rev().copied().collect();
        if out.iter().any(|p: &Planned| p.name == name) {
            return Err(ConvertError::Tensor {
                path: ck.path_of(t).to_path_buf(),
                tensor: t.name.clone(),
                reason: format!("maps to {name}, which another tensor already maps to"),
            });
        }
        out.push(Planned {
            ggml_type: tensor_type(&name, &dims, ftype),
            name,
            dims,
            source: Source::Checkpoint { index, transform },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_keeps_vectors_and_norms_f32_and_falls_back_to_f16_for_rows_off_the_block() {
        assert_eq!(tensor_type("blk.0.attn_q.weight", &[64, 64], GgmlType::Q8_0), GgmlType::Q8_0);
        assert_eq!(tensor_type("blk.0.attn_q.weight", &[48, 64], GgmlType::Q8_0), GgmlType::F16);
        assert_eq!(tensor_type("blk.0.attn_q.bias", &[64], GgmlType::Q8_0), GgmlType::F32);
        assert_eq!(tensor_type("blk.0.attn_norm.weight", &[64, 64], GgmlType::Q8_0), GgmlType::F32);
        assert_eq!(tensor_type("token_types.weight", &[64, 2], GgmlType::Q8_0), GgmlType::F32);
        // F16/BF16/F32 have no blocks to miss.
        assert_eq!(tensor_type("blk.0.attn_q.weight", &[48, 64], GgmlType::BF16), GgmlType::BF16);
    }
}
