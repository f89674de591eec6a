//! PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors against the base
//! model's config.json, written as llama.cpp's `convert_lora_to_gguf.py` writes them.
//!
//! Each adapted matrix `W` becomes two tensors, `<gguf name>.lora_a` (A, `rank x in`) and
//! `<gguf name>.lora_b` (B, `out x rank`); the base architecture's row transforms (llama's
//! q/k permutation) apply to B only, since they reorder the output rows of `B @ A`.
//! Norms that mergekit puts into adapters are written as the base model writes them.

use std::path::Path;

use hoist_gguf::{Array, GgmlType, GgufWriter};
use serde_json::Value;

use crate::arch::{self, Architecture, Kv, Mapped, Transform};
use crate::config::Config;
use crate::metadata::General;
use crate::plan::{Planned, Source, tensor_type};
use crate::safetensors::{Checkpoint, Dtype, SourceTensor};
use crate::tokenizer::read_json_object;
use crate::{ConvertError, Options, OutType, Reporter, Summary};

const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
const ADAPTER_CONFIG: &str = "adapter_config.json";

pub fn convert(
    adapter: &Path,
    base: &Path,
    out: &Path,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Summary, ConvertError> {
    if !adapter.is_dir() {
        return Err(ConvertError::NotADirectory { path: adapter.to_path_buf() });
    }
    let config_path = adapter.join(ADAPTER_CONFIG);
    let lora = read_json_object(&config_path)?.ok_or_else(|| ConvertError::Config {
        path: config_path.clone(),
        reason: "missing: not a PEFT adapter directory".into(),
    })?;
    let bad = |reason: String| ConvertError::Config { path: config_path.clone(), reason };
    let alpha = lora.get("lora_alpha").and_then(Value::as_f64).ok_or_else(|| bad("no numeric lora_alpha".into()))?;
    let invocation = invocation_tokens(&lora).map_err(bad)?;

    let mut cfg = Config::load(base)?;
    let arch = arch::detect(&mut cfg)?;
    if !adapter.join(ADAPTER_WEIGHTS).is_file() {
        return Err(ConvertError::NoWeights { path: adapter.to_path_buf() });
    }
    let ck = Checkpoint::open_parts(adapter, &[ADAPTER_WEIGHTS.to_string()])?;
    let ftype = match opts.out_type {
        OutType::F32 => GgmlType::F32,
        OutType::F16 => GgmlType::F16,
        OutType::Bf16 => GgmlType::BF16,
        OutType::Q8_0 => GgmlType::Q8_0,
        // The reference's default for adapters; its `auto` fails on an adapter.
        OutType::Auto => GgmlType::F32,
    };
    let (planned, full_params) = plan(arch.as_ref(), &cfg, &ck, ftype)?;

    let mut w = GgufWriter::new();
    let mut kv = Kv { arch: arch.gguf_name(), w: &mut w, source: &config_path };
    kv.string("general.architecture", arch.gguf_name());
    kv.string("general.type", "adapter");
    kv.string("adapter.type", "lora");
    // gguf-py counts an adapter's parameters as those of the matrices it adapts, negated.
    let negated = -i64::try_from(full_params).unwrap_or(i64::MAX);
    General::load(adapter, base, negated)?.write(&mut kv)?;
    kv.f32("adapter.lora.alpha", alpha as f32);
    if let Some(tokens) = invocation {
        kv.array("adapter.alora.invocation_tokens", Array::U32(tokens));
    }
    kv.u32("general.quantization_version", 2)?;
    crate::write::add_tensors(&mut w, &planned, out)?;
    let bytes = crate::write::write_file(&w, &ck, &planned, out, opts, reporter)?;
    Ok(Summary {
        architecture: arch.gguf_name().to_string(),
        file_type: ftype.name(),
        tensors: planned.len(),
        parameters: planned.iter().map(Planned::elements).sum(),
        bytes,
    })
}

/// aLoRA invocation tokens, when the adapter lists them; an invocation string alone would
/// need the base model's tokenizer run in Python, which is not done here.
fn invocation_tokens(lora: &serde_json::Map<String, Value>) -> Result<Option<Vec<u32>>, String> {
    let tokens = match lora.get("alora_invocation_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_u64().and_then(|t| u32::try_from(t).ok()))
                .collect::<Option<Vec<u32>>>()
                .ok_or("alora_invocation_tokens is not a list of token ids")?,
        ),
        Some(_) => return Err("alora_invocation_tokens is not a list of token ids".into()),
    };
    let has_string = lora.get("invocation_string").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if has_string && tokens.as_ref().is_none_or(Vec::is_empty) {
        return Err("invocation_string without alora_invocation_tokens is not supported (list the token ids)".into());
    }
    Ok(tokens.filter(|t| !t.is_empty()))
}

/// The Hugging Face name of the base tensor an adapter tensor belongs to.
fn base_tensor_name(name: &str) -> String {
    name.replace("base_model.model.", "")
        .replace(".lora_A.weight", ".weight")
        .replace(".lora_B.weight", ".weight")
        .replace(".lora_embedding_A", ".weight")
        .replace(".lora_embedding_B", ".weight")
}

/// One adapted matrix: the indices of its A and B tensors in the checkpoint.
struct Pair {
    base_name: String,
    /// The first of its tensors met, named when the other is missing.
    first: usize,
    a: Option<usize>,
    b: Option<usize>,
}

/// The output tensors in the reference's order (the norms as met, then an A/B pair per
/// adapted matrix in the order its first tensor was met) and the parameters of the
/// matrices they adapt.
fn plan(
    arch: &dyn Architecture,
    cfg: &Config,
    ck: &Checkpoint,
    ftype: GgmlType,
) -> Result<(Vec<Planned>, u64), ConvertError> {
    let mut out = Vec::new();
    let mut params = 0u64;
    let mut pairs: Vec<Pair> = Vec::new();
    for (index, t) in ck.tensors().iter().enumerate() {
        let err =
            |reason: String| ConvertError::Tensor { path: ck.path_of(t).to_path_buf(), tensor: t.name.clone(), reason };
        let base_name = base_tensor_name(&t.name);
        let is_a = t.name.contains(".lora_A.weight") || t.name.contains(".lora_embedding_A");
        let is_b = t.name.contains(".lora_B.weight") || t.name.contains(".lora_embedding_B");
        if !is_a && !is_b {
            if t.name.contains(".base_layer.weight") {
                continue;
            }
            if t.name.contains("_layernorm") || t.name.contains(".norm") {
                if let Some(p) = norm(arch, cfg, ck, t, index, &base_name, ftype)? {
                    params += p.elements();
                    out.push(p);
                }
                continue;
            }
            let hint = if t.name.contains(".embed_tokens.weight") || t.name.contains(".lm_head.weight") {
                " (embeddings in an adapter: new tokens added while fine-tuning are not supported)"
            } else {
                ""
            };
            return Err(err(format!("neither a lora_A nor a lora_B tensor{hint}")));
        }
        if let Dtype::Other(_) = t.dtype {
            return Err(ConvertError::UnsupportedDtype {
                path: ck.path_of(t).to_path_buf(),
                tensor: t.name.clone(),
                dtype: t.dtype.name(),
            });
        }
        let slot = match pairs.iter().position(|p| p.base_name == base_name) {
            Some(i) => i,
            None => {
                pairs.push(Pair { base_name, first: index, a: None, b: None });
                pairs.len() - 1
            }
        };
        let Some(pair) = pairs.get_mut(slot) else { continue };
        if is_a {
            pair.a = Some(index);
        } else {
            pair.b = Some(index);
        }
    }
    for pair in &pairs {
        let (Some(a), Some(b)) = (pair.a, pair.b) else {
            let missing = if pair.a.is_none() { "lora_A" } else { "lora_B" };
            let first = ck.tensors().get(pair.first);
            return Err(ConvertError::Tensor {
                path: first.map(|t| ck.path_of(t).to_path_buf()).unwrap_or_default(),
                tensor: first.map(|t| t.name.clone()).unwrap_or_default(),
                reason: format!("the adapter has no {missing} tensor for it"),
            });
        };
        let (Some(ta), Some(tb)) = (ck.tensors().get(a), ck.tensors().get(b)) else { continue };
        params += lora_pair(arch, cfg, ck, pair, (a, ta), (b, tb), ftype, &mut out)?;
    }
    Ok((out, params))
}

/// A norm an adapter carries (mergekit), mapped and transformed as the base model's.
fn norm(
    arch: &dyn Architecture,
    cfg: &Config,
    ck: &Checkpoint,
    t: &SourceTensor,
    index: usize,
    base_name: &str,
    ftype: GgmlType,
) -> Result<Option<Planned>, ConvertError> {
    let err =
        |reason: String| ConvertError::Tensor { path: ck.path_of(t).to_path_buf(), tensor: t.name.clone(), reason };
    let mapped = arch.map_tensor(cfg, base_name)?.ok_or_else(|| ConvertError::UnknownTensor {
        path: ck.path_of(t).to_path_buf(),
        tensor: t.name.clone(),
        arch: arch.gguf_name(),
    })?;
    let Mapped::Tensor { name, transform } = mapped else { return Ok(None) };
    if !name.contains("_norm") || t.shape.len() != 1 {
        return Err(err(format!("maps to {name}, which is not a 1-D norm")));
    }
    if let Dtype::Other(_) = t.dtype {
        return Err(ConvertError::UnsupportedDtype {
            path: ck.path_of(t).to_path_buf(),
            tensor: t.name.clone(),
            dtype: t.dtype.name(),
        });
    }
    let dims: Vec<u64> = t.shape.iter().rev().copied().collect();
    Ok(Some(Planned {
        ggml_type: tensor_type(&name, &dims, ftype),
        name,
        dims,
        source: Source::Checkpoint { index, transform },
    }))
}

/// Plans `<name>.lora_a` and `<name>.lora_b`; returns the adapted matrix's parameters.
#[allow(clippy::too_many_arguments)]
fn lora_pair(
    arch: &dyn Architecture,
    cfg: &Config,
    ck: &Checkpoint,
    pair: &Pair,
    (a, ta): (usize, &SourceTensor),
    (b, tb): (usize, &SourceTensor),
    ftype: GgmlType,
    out: &mut Vec<Planned>,
) -> Result<u64, ConvertError> {
    let err = |reason: String| ConvertError::Tensor {
        path: ck.path_of(tb).to_path_buf(),
        tensor: pair.base_name.clone(),
        reason,
    };
    let ([rank_a, cols], [rows, rank_b]) = (ta.shape.as_slice(), tb.shape.as_slice()) else {
        return Err(err(format!("lora_A {:?} and lora_B {:?} are not both matrices", ta.shape, tb.shape)));
    };
    if rank_a != rank_b {
        return Err(err(format!("lora_A {:?} and lora_B {:?} disagree on the rank", ta.shape, tb.shape)));
    }
    let mapped = arch.map_tensor(cfg, &pair.base_name)?.ok_or_else(|| ConvertError::UnknownTensor {
        path: ck.path_of(tb).to_path_buf(),
        tensor: pair.base_name.clone(),
        arch: arch.gguf_name(),
    })?;
    let Mapped::Tensor { name, transform } = mapped else {
        if pair.base_name == "lm_head.weight" {
            return Err(err("lm_head is adapted, but the base model does not keep an lm_head".into()));
        }
        return Ok(0);
    };
    if name.contains("token_embd") {
        return Err(err("adapters of the token embeddings are not supported".into()));
    }
    let b_transform = match transform {
        Transform::None => Transform::None,
        Transform::Permute { heads } if heads > 0 && rows % (heads * 2) == 0 => transform,
        Transform::Permute { heads } => {
            return Err(err(format!("{rows} rows do not split into {heads} heads of rotary pairs")));
        }
        Transform::AddOne | Transform::TakeRows(_) => {
            return Err(err(format!("maps to {name}, which an adapter cannot change")));
        }
    };
    for (suffix, index, dims, transform) in
        [("lora_a", a, vec![*cols, *rank_a], Transform::None), ("lora_b", b, vec![*rank_b, *rows], b_transform)]
    {
        let name = format!("{name}.{suffix}");
        out.push(Planned {
            ggml_type: tensor_type(&name, &dims, ftype),
            name,
            dims,
            source: Source::Checkpoint { index, transform },
        });
    }
    Ok(rows * cols)
}
