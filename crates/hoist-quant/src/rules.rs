//! llama.cpp's per-tensor type rules (src/llama-quant.cpp): which tensors are
//! quantized, the _S/_M/_L mixtures, the fallbacks for rows that do not divide into
//! blocks, `--tensor-type` overrides and the importance-matrix requirement.
//!
//! The rules are stateful in the same way llama.cpp's are: counters of the attention-V
//! and feed-forward tensors seen so far pick the "use more bits" layers, so tensors must
//! be planned in the order they are written (see [`crate::stream`]).

use hoist_gguf::{GgmlType, GgufHeader, Value};

use crate::{FileType, QuantError, ftype::is_quantized};

/// The model facts the rules look at, from the GGUF metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFacts {
    pub architecture: String,
    /// `{arch}.block_count`.
    pub n_layer: u32,
    /// Query heads over key/value heads of layer 0 (0 without key/value heads).
    pub n_gqa: u32,
    /// `{arch}.expert_count`, 0 for dense models.
    pub n_expert: u32,
    /// Whether llama.cpp classifies the model as a 70B (it then gives attention V more bits).
    pub is_70b: bool,
}

impl ModelFacts {
    pub fn from_header(h: &GgufHeader) -> ModelFacts {
        let arch = h.architecture().unwrap_or("").to_string();
        let get = |k: &str| -> Option<u64> {
            match h.get(&format!("{arch}.{k}"))? {
                Value::Array(a) => first_u64(a),
                v => v.as_u64(),
            }
        };
        let n_layer = get("block_count").unwrap_or(0) as u32;
        let n_head = get("attention.head_count").unwrap_or(0) as u32;
        let n_head_kv = get("attention.head_count_kv").map_or(n_head, |v| v as u32);
        let n_expert = get("expert_count").unwrap_or(0) as u32;
        let n_gqa = n_head.checked_div(n_head_kv).unwrap_or(0);
        // The size classes llama.cpp's load_hparams assign as 70B.
        let is_70b = match arch.as_str() {
            "llama" => n_expert != 8 && n_layer == 80 && n_head != n_head_kv,
            "qwen2" | "olmo" | "deci" => n_layer == 80,
            "jais2" => n_layer == 68,
            _ => false,
        };
        ModelFacts { architecture: arch, n_layer, n_gqa, n_expert, is_70b }
    }
}

fn first_u64(a: &hoist_gguf::Array) -> Option<u64> {
    use hoist_gguf::Array::*;
    match a {
        U8(v) => v.first().map(|&x| x.into()),
        U16(v) => v.first().map(|&x| x.into()),
        U32(v) => v.first().map(|&x| x.into()),
        U64(v) => v.first().copied(),
        I32(v) => v.first().and_then(|&x| u64::try_from(x).ok()),
        I64(v) => v.first().and_then(|&x| u64::try_from(x).ok()),
        _ => None,
    }
}

/// A `--tensor-type PATTERN=TYPE` override: the first pattern found anywhere in a
/// tensor's name (a regular expression, as llama.cpp's `std::regex_search`) sets its type.
#[derive(Debug, Clone)]
pub struct TensorTypeOverride {
    pub pattern: regex::Regex,
    pub ty: GgmlType,
}

impl TensorTypeOverride {
    /// Parses `name=type` as llama-quantize does (the name is lower-cased).
    pub fn parse(arg: &str) -> Result<TensorTypeOverride, QuantError> {
        let bad = |why: &str| QuantError::BadOverride { arg: arg.to_string(), reason: why.to_string() };
        let (name, ty) = arg.split_once('=').ok_or_else(|| bad("expected NAME=TYPE"))?;
        if name.is_empty() {
            return Err(bad("missing tensor name"));
        }
        if ty.is_empty() {
            return Err(bad("missing quantization type"));
        }
        let ty = GgmlType::from_name(ty).ok_or_else(|| bad("unknown ggml type"))?;
        let pattern = regex::Regex::new(&name.to_lowercase()).map_err(|e| bad(&e.to_string()))?;
        Ok(TensorTypeOverride { pattern, ty })
    }
}

/// The choices that steer the rules (llama_model_quantize_params).
#[derive(Debug, Clone)]
pub struct RuleOptions {
    pub ftype: FileType,
    /// `--pure`: no mixtures, every quantizable tensor gets the default type.
    pub pure: bool,
    /// `--leave-output-tensor`: keep `output.weight` as it is.
    pub leave_output_tensor: bool,
    pub output_tensor_type: Option<GgmlType>,
    pub token_embedding_type: Option<GgmlType>,
    pub tensor_types: Vec<TensorTypeOverride>,
    /// Whether an importance matrix is given (some mixtures change with it).
    pub has_imatrix: bool,
}

impl RuleOptions {
    /// The ggml type a `--output-tensor-type`-like `flag` names, by llama.cpp's name.
    pub fn ggml_type(flag: &'static str, name: &str) -> Result<GgmlType, QuantError> {
        GgmlType::from_name(name).ok_or_else(|| QuantError::UnknownGgmlType { flag, name: name.to_string() })
    }

    pub fn new(ftype: FileType) -> RuleOptions {
        RuleOptions {
            ftype,
            pure: false,
            leave_output_tensor: false,
            output_tensor_type: None,
            token_embedding_type: None,
            tensor_types: Vec::new(),
            has_imatrix: false,
        }
    }
}

/// What the rules decided for one tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorPlan {
    pub target: GgmlType,
    /// Whether the tensor is a weight llama.cpp quantizes at all.
    pub quantizable: bool,
    /// Whether its target type cannot be made without an importance matrix.
    pub requires_imatrix: bool,
    /// The type the mixture wanted when the row length forced another (`target`).
    pub fell_back_from: Option<GgmlType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

fn category(name: &str) -> Category {
    use Category::*;
    let has = |s: &str| name.contains(s);
    if name == "output.weight" {
        Output
    } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        TokenEmbd
    } else if has("attn_qkv.weight") {
        AttnQkv
    } else if has("attn_kv_b.weight") {
        AttnKvB
    } else if has("attn_v.weight") {
        AttnV
    } else if has("attn_k.weight") {
        AttnK
    } else if has("attn_q.weight") {
        AttnQ
    } else if has("attn_output.weight") {
        AttnOutput
    } else if has("ffn_up") {
        FfnUp
    } else if has("ffn_gate") {
        FfnGate
    } else if has("ffn_down") {
        FfnDown
    } else {
        Other
    }
}

fn is_attn_v(c: Category) -> bool {
    matches!(c, Category::AttnV | Category::AttnQkv | Category::AttnKvB)
}

/// Name fragments of tensors llama.cpp never quantizes (besides norms, 1-D tensors and
/// names not ending in "weight").
const NEVER_QUANTIZED: [&str; 33] = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
];

/// Whether llama.cpp quantizes this tensor at all (`tensor_allows_quantization`).
/// `n_dims` counts dimensions up to the last one above 1, as ggml does.
fn allows_quantization(opts: &RuleOptions, name: &str, n_dims: usize) -> bool {
    if n_dims < 2 || !name.ends_with("weight") {
        return false;
    }
    if opts.leave_output_tensor && name == "output.weight" {
        return false;
    }
    if name == "position_embd.weight" || name == "token_types.weight" {
        return false;
    }
    if name.contains("a.rvq.codebook") || name.contains("mm.a.code_embd") {
        return false;
    }
    !NEVER_QUANTIZED.iter().any(|s| name.contains(s))
}

/// The type ladder llama.cpp falls back along when a row does not divide into blocks.
fn fallback_for(ty: GgmlType) -> Result<GgmlType, QuantError> {
    use GgmlType::*;
    Ok(match ty {
        IQ1_S | IQ1_M | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ4_XS => IQ4_NL,
        Q2_K | Q3_K | TQ1_0 | TQ2_0 => Q4_0,
        Q4_K => Q5_0,
        Q5_K => Q5_1,
        Q6_K => Q8_0,
        other if other.block_size().is_some_and(|b| b <= 32) => other,
        other => return Err(QuantError::NoFallback { ty: other }),
    })
}

/// Plans tensor types in file order, keeping llama.cpp's running counters.
pub struct Planner<'a> {
    opts: &'a RuleOptions,
    facts: &'a ModelFacts,
    n_attention_wv: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
    tied_embeddings: bool,
}

impl<'a> Planner<'a> {
    /// `names` are all tensor names of the model (they set the attention-V count and
    /// whether the embeddings double as the output matrix).
    pub fn new<'n>(opts: &'a RuleOptions, facts: &'a ModelFacts, names: impl IntoIterator<Item = &'n str>) -> Self {
        let mut n_attention_wv = 0;
        let mut tied_embeddings = true;
        for name in names {
            let c = category(name);
            if is_attn_v(c) {
                n_attention_wv += 1;
            }
            if c == Category::Output {
                tied_embeddings = false;
            }
        }
        Planner {
            opts,
            facts,
            n_attention_wv,
            i_attention_wv: 0,
            i_ffn_down: 0,
            i_ffn_gate: 0,
            i_ffn_up: 0,
            tied_embeddings,
        }
    }

    /// The plan for the next tensor (`ne` its dims, trailing 1s trimmed; `current` its type).
    pub fn plan(&mut self, name: &str, ne: &[u64], current: GgmlType) -> Result<TensorPlan, QuantError> {
        let quantizable = allows_quantization(self.opts, name, ne.len());
        let mut plan = TensorPlan { target: current, quantizable, requires_imatrix: false, fell_back_from: None };
        if quantizable {
            (plan.target, plan.fell_back_from) = self.target_type(name, ne)?;
        }
        plan.requires_imatrix = requires_imatrix(name, plan.target, self.opts.ftype);
        Ok(plan)
    }

    fn target_type(&mut self, name: &str, ne: &[u64]) -> Result<(GgmlType, Option<GgmlType>), QuantError> {
        let opts = self.opts;
        let cat = category(name);
        if let Some(t) = opts.token_embedding_type
            && cat == Category::TokenEmbd
        {
            // per_layer_token_embd can still be named by a --tensor-type pattern.
            let named =
                name == "per_layer_token_embd.weight" && opts.tensor_types.iter().any(|o| o.pattern.is_match(name));
            if !named {
                return Ok((t, None));
            }
        }
        if let Some(t) = opts.output_tensor_type
            && cat == Category::Output
        {
            return Ok((t, None));
        }
        let default_type = opts.ftype.default_type();
        if !is_quantized(default_type) {
            return Ok((default_type, None));
        }
        let mut new_type = default_type;
        let manual = opts.tensor_types.iter().find(|o| o.pattern.is_match(name));
        if let Some(o) = manual {
            new_type = o.ty;
        } else if !opts.pure {
            new_type = self.mixture(new_type, name, ne, cat)?;
        }
        let ncols = ne.first().copied().unwrap_or(1);
        let block = |t: GgmlType| t.block_size().unwrap_or(1);
        if !ncols.is_multiple_of(block(new_type)) {
            let mut fallback = fallback_for(new_type)?;
            if !ncols.is_multiple_of(block(fallback)) {
                fallback = GgmlType::F16;
            }
            return Ok((fallback, Some(new_type)));
        }
        Ok((new_type, None))
    }

    /// `layer_info`: the layer of a feed-forward tensor, counted in order for dense
    /// models, parsed from the name for mixture-of-experts ones.
    fn layer_info(&self, counter: i64, name: &str) -> Result<(i64, i64), QuantError> {
        let n_layer = i64::from(self.facts.n_layer);
        if self.facts.n_expert > 1 {
            let bad = |why: String| QuantError::BadLayer { tensor: name.to_string(), reason: why };
            let layer = parse_block_index(name).ok_or_else(|| bad("no blk.N. prefix".into()))?;
            if layer < 0 || layer >= n_layer {
                return Err(bad(format!("layer {layer} outside [0, {n_layer})")));
            }
            return Ok((layer, n_layer));
        }
        Ok((counter, n_layer))
    }

    /// `llama_tensor_get_type_impl` for the supported file types.
    fn mixture(
        &mut self,
        mut new_type: GgmlType,
        name: &str,
        ne: &[u64],
        cat: Category,
    ) -> Result<GgmlType, QuantError> {
        use Category::*;
        use FileType as F;
        use GgmlType as T;
        let ft = self.opts.ftype;
        let falcon = self.facts.architecture == "falcon";
        let gqa = self.facts.n_gqa;
        let n_expert = self.facts.n_expert;
        let more_bits = |i: i64, n: i64| i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;

        if cat == Output || (self.tied_embeddings && cat == TokenEmbd) {
            if let Some(t) = self.opts.output_tensor_type {
                return Ok(t);
            }
            let nx = ne.first().copied().unwrap_or(1);
            if falcon || !nx.is_multiple_of(new_type.block_size().unwrap_or(1)) {
                new_type = T::Q8_0;
            } else if new_type != T::Q8_0 {
                new_type = T::Q6_K;
            }
        } else if cat == TokenEmbd {
            if let Some(t) = self.opts.token_embedding_type {
                new_type = t;
            } else if matches!(ft, F::TQ1_0 | F::TQ2_0) {
                new_type = T::Q4_K;
            }
        } else if is_attn_v(cat) {
            let (i, n) = (self.i_attention_wv, self.n_attention_wv);
            match ft {
                F::Q2_K => new_type = if gqa >= 4 { T::Q4_K } else { T::Q3_K },
                F::Q2_K_S if gqa >= 4 => new_type = T::Q4_K,
                F::Q3_K_M => new_type = if i < 2 { T::Q5_K } else { T::Q4_K },
                F::Q3_K_L => new_type = T::Q5_K,
                F::IQ4_NL | F::IQ4_XS if gqa >= 4 => new_type = T::Q5_K,
                F::Q4_K_M | F::Q5_K_M if more_bits(i, n) => new_type = T::Q6_K,
                F::Q4_K_S if i < 4 => new_type = T::Q5_K,
                _ => {}
            }
            if self.facts.is_70b && matches!(new_type, T::Q3_K | T::Q4_K) {
                new_type = T::Q5_K;
            }
            if n_expert == 8 {
                new_type = T::Q8_0;
            }
            self.i_attention_wv += 1;
        } else if cat == AttnK {
            if n_expert == 8 {
                new_type = T::Q8_0;
            }
        } else if cat == FfnDown {
            let (i, n) = self.layer_info(self.i_ffn_down, name)?;
            match ft {
                F::Q2_K => new_type = T::Q3_K,
                F::Q2_K_S if i < n / 8 => new_type = T::Q4_K,
                F::Q3_K_M => {
                    new_type = if i < n / 16 {
                        T::Q5_K
                    } else if !falcon || more_bits(i, n) {
                        T::Q4_K
                    } else {
                        T::Q3_K
                    }
                }
                F::Q3_K_L => new_type = if falcon { T::Q4_K } else { T::Q5_K },
                F::Q4_K_M if falcon => {
                    new_type = if i < n / 16 {
                        T::Q6_K
                    } else if more_bits(i, n) {
                        T::Q5_K
                    } else {
                        T::Q4_K
                    }
                }
                F::Q4_K_M if more_bits(i, n) => new_type = T::Q6_K,
                F::IQ4_NL | F::IQ4_XS if i < n / 8 && !self.opts.has_imatrix => new_type = T::Q5_K,
                F::Q5_K_M if more_bits(i, n) => new_type = T::Q6_K,
                F::Q4_K_S if !falcon && i < n / 8 => new_type = T::Q5_K,
                F::Q4_0 if self.opts.has_imatrix && i < n / 8 => new_type = T::Q4_1,
                F::Q5_0 if self.opts.has_imatrix && i < n / 8 => new_type = T::Q5_1,
                _ => {}
            }
            self.i_ffn_down += 1;
        } else if cat == AttnOutput {
            if !falcon {
                if n_expert == 8 {
                    if matches!(ft, F::Q2_K | F::Q3_K_S | F::Q3_K_M | F::IQ4_NL | F::Q4_K_S | F::Q4_K_M | F::IQ4_XS) {
                        new_type = T::Q5_K;
                    }
                } else {
                    match ft {
                        F::Q2_K => new_type = T::Q3_K,
                        F::Q3_K_M => new_type = T::Q4_K,
                        F::Q3_K_L => new_type = T::Q5_K,
                        _ => {}
                    }
                }
            } else if ft == F::Q3_K_L {
                new_type = T::Q4_K;
            }
        } else if cat == FfnGate {
            // No supported file type changes gate/up, but llama.cpp still checks the
            // layer of expert tensors and counts them.
            self.layer_info(self.i_ffn_gate, name)?;
            self.i_ffn_gate += 1;
        } else if cat == FfnUp {
            self.layer_info(self.i_ffn_up, name)?;
            self.i_ffn_up += 1;
        }
        Ok(new_type)
    }
}

/// `N` of a name starting "blk.N." (as C's `sscanf("blk.%d.")` reads it).
pub(crate) fn parse_block_index(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?.trim_start();
    let (sign, digits) = match rest.as_bytes().first()? {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => (1, rest),
    };
    let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|v| sign * v)
}

/// `tensor_requires_imatrix`: the IQ1/IQ2 and IQ3_XXS types, and Q2_K inside a Q2_K_S
/// file; never the embeddings or the output matrix.
pub(crate) fn requires_imatrix(name: &str, ty: GgmlType, ftype: FileType) -> bool {
    use GgmlType::*;
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" || name == "output.weight" {
        return false;
    }
    match ty {
        IQ3_XXS | IQ2_XXS | IQ2_XS | IQ2_S | IQ1_M | IQ1_S => true,
        Q2_K => ftype == FileType::Q2_K_S,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(n_layer: u32, n_gqa: u32) -> ModelFacts {
        ModelFacts { architecture: "llama".into(), n_layer, n_gqa, n_expert: 0, is_70b: false }
    }

    #[test]
    fn more_bits_layers_of_q4_k_m() {
        let opts = RuleOptions::new(FileType::Q4_K_M);
        let f = facts(8, 1);
        let names: Vec<String> = (0..8).map(|l| format!("blk.{l}.ffn_down.weight")).collect();
        let mut p = Planner::new(&opts, &f, names.iter().map(String::as_str));
        let types: Vec<GgmlType> =
            names.iter().map(|n| p.plan(n, &[512, 256], GgmlType::F32).unwrap().target).collect();
        // Layers 0 and 7 (first and last eighth) and every third from n/8: 3 and 6.
        let q6: Vec<usize> = types.iter().enumerate().filter(|(_, t)| **t == GgmlType::Q6_K).map(|(i, _)| i).collect();
        assert_eq!(q6, [0, 3, 6, 7]);
        assert_eq!(types.iter().filter(|t| **t == GgmlType::Q4_K).count(), 4);
    }

    #[test]
    fn fallbacks_follow_the_row_length() {
        let opts = RuleOptions::new(FileType::Q4_K_M);
        let f = facts(1, 1);
        let mut p = Planner::new(&opts, &f, ["output.weight"]);
        let plan = p.plan("blk.0.attn_q.weight", &[320, 8], GgmlType::F32).unwrap();
        assert_eq!((plan.target, plan.fell_back_from), (GgmlType::Q5_0, Some(GgmlType::Q4_K)));
        let plan = p.plan("blk.0.attn_q.weight", &[144, 8], GgmlType::F32).unwrap();
        assert_eq!(plan.target, GgmlType::F16);
        assert!(!p.plan("blk.0.attn_norm.weight", &[320], GgmlType::F32).unwrap().quantizable);
    }

    #[test]
    fn overrides_parse_like_llama_quantize() {
        let o = TensorTypeOverride::parse("ATTN_V=q8_0").unwrap();
        assert_eq!(o.ty, GgmlType::Q8_0);
        assert!(o.pattern.is_match("blk.3.attn_v.weight"));
        assert!(TensorTypeOverride::parse("attn_v").is_err());
        assert!(TensorTypeOverride::parse("=q8_0").is_err());
        assert!(TensorTypeOverride::parse("attn_v=").is_err());
        assert!(TensorTypeOverride::parse("attn_v=q9").is_err());
    }

    #[test]
    fn block_index_reads_like_sscanf() {
        assert_eq!(parse_block_index("blk.12.ffn_up.weight"), Some(12));
        assert_eq!(parse_block_index("blk.x.ffn_up"), None);
        assert_eq!(parse_block_index("output.weight"), None);
    }
}
