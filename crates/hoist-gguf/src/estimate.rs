//! Memory estimate: what llama.cpp allocates to run a model, per device, from the header.
//! The formulas are documented in the crate docs ("Memory estimate").

use serde::Serialize;

use crate::{GgmlType, GgufError, GgufHeader, TensorInfo, Value};

/// Host runtime overhead added to RAM in the NONUMA column (as gguf-parser does).
pub const NONUMA_RAM_OVERHEAD: u64 = 150 << 20;
/// Device runtime overhead (CUDA/Vulkan context, ...) added to VRAM in the NONUMA column.
pub const NONUMA_VRAM_OVERHEAD: u64 = 250 << 20;
/// llama.cpp's LLAMA_MAX_LAYERS is 512; headers claiming more layers than this are refused.
pub const MAX_LAYERS: u64 = 4096;
/// llama.cpp pads the context (and the sliding-window cache) to a multiple of this.
const CTX_PAD: u64 = 256;

/// llama.cpp's run options that change memory use; `Default` is llama.cpp's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateOptions {
    /// `-c`; `None` (or 0): the model's `{arch}.context_length`.
    pub ctx_size: Option<u64>,
    /// `-b`, logical batch (2048).
    pub batch_size: u64,
    /// `-ub`, physical batch (512).
    pub ubatch_size: u64,
    /// `-np`, sequences decoded in parallel (1).
    pub parallel: u64,
    /// `-ctk` (F16).
    pub cache_type_k: GgmlType,
    /// `-ctv` (F16); quantized V needs flash attention, as in llama.cpp.
    pub cache_type_v: GgmlType,
    /// `-fa`.
    pub flash_attention: bool,
    /// `--no-mmap` clears it (true).
    pub mmap: bool,
    /// `--no-kv-offload` clears it (true).
    pub kv_offload: bool,
    /// `-ngl`; `None`: all layers and the output layer.
    pub gpu_layers: Option<u64>,
    /// `-ts`; empty: one GPU. Proportions, one per GPU.
    pub tensor_split: Vec<f64>,
}

impl Default for EstimateOptions {
    fn default() -> Self {
        EstimateOptions {
            ctx_size: None,
            batch_size: 2048,
            ubatch_size: 512,
            parallel: 1,
            cache_type_k: GgmlType::F16,
            cache_type_v: GgmlType::F16,
            flash_attention: false,
            mmap: true,
            kv_offload: true,
            gpu_layers: None,
            tensor_split: Vec::new(),
        }
    }
}

/// The KV cache (or recurrent state) on all devices together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct KvCacheEstimate {
    /// Cells of the full-attention layers' cache: n_ctx padded.
    pub kv_size: u64,
    /// Cells of the sliding-window layers' cache, if any layer slides.
    pub swa_kv_size: Option<u64>,
    /// Layers with a KV cache, and how many of them use the sliding window.
    pub attention_layers: u64,
    pub swa_layers: u64,
    /// Layers with recurrent state instead (Mamba, RWKV, LFM2 short convolutions).
    pub recurrent_layers: u64,
    pub k_bytes: u64,
    pub v_bytes: u64,
    /// Recurrent state (conv/token-shift "r" plus ssm/wkv "s", F32, per sequence).
    pub recurrent_bytes: u64,
    /// `k_bytes + v_bytes + recurrent_bytes`.
    pub total_bytes: u64,
}

/// One device: the CPU (RAM) or a GPU (VRAM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeviceEstimate {
    /// Holds the input layer (token embeddings): always the CPU.
    pub input_layer: bool,
    /// Repeating layers (blocks) placed here.
    pub layers: u64,
    /// Holds the output layer (output norm, output/lm head).
    pub output_layer: bool,
    pub weights: u64,
    pub kv_cache: u64,
    /// Compute buffer: ggml-alloc's peak for the graph reserved at n_tokens = min(n_ctx, ubatch)
    /// (the crate docs give the formula).
    pub compute: u64,
    /// Logits/embeddings output buffer (host memory, so RAM only).
    pub output_buffer: u64,
    /// Unified memory (Apple silicon, iGPUs): mmapped weights are shared with the page
    /// cache and not counted; VRAM leaves out the compute buffer (gguf-parser's column).
    pub uma: u64,
    /// Discrete memory: everything here plus the runtime overhead constant.
    pub nonuma: u64,
}

/// What [`estimate`] returns: the columns of `hoist estimate` and their parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub architecture: String,
    /// n_ctx as llama.cpp uses it (padded to a multiple of 256).
    pub context_size: u64,
    /// n_batch after llama.cpp's clamp (min(n_ctx, batch) for causal models).
    pub batch_size: u64,
    pub ubatch_size: u64,
    pub parallel: u64,
    pub flash_attention: bool,
    pub mmap: bool,
    pub embedding_only: bool,
    /// Repeating layers of the model.
    pub layers: u64,
    /// Layers on GPUs, counting the output layer as one (so at most `layers + 1`).
    pub offload_layers: u64,
    /// All repeating layers and the output layer on GPUs.
    pub full_offloaded: bool,
    pub kv_cache: KvCacheEstimate,
    /// Vocabulary size used for the output buffer and logits.
    pub vocab_size: u64,
    pub ram: DeviceEstimate,
    /// One per GPU (one when `tensor_split` is empty).
    pub vram: Vec<DeviceEstimate>,
}

/// Model hyperparameters the estimate needs, read once from the metadata.
struct Hparams<'a> {
    header: &'a GgufHeader,
    arch: String,
    n_layer: u64,
    n_embd: u64,
}

impl<'a> Hparams<'a> {
    fn key(&self, suffix: &str) -> Option<&'a Value> {
        self.header.get(&format!("{}.{suffix}", self.arch))
    }

    fn u64(&self, suffix: &str) -> Option<u64> {
        self.key(suffix).and_then(Value::as_u64)
    }

    /// A scalar repeated per layer, or a per-layer array (which must have n_layer items).
    fn per_layer(&self, suffix: &str) -> Result<Option<Vec<u64>>, GgufError> {
        let n = usize::try_from(self.n_layer).unwrap_or(0);
        match self.key(suffix) {
            None => Ok(None),
            Some(Value::Array(a)) => {
                if a.len() != n {
                    return Err(invalid(format!(
                        "{}.{suffix} has {} entries for {} layers",
                        self.arch,
                        a.len(),
                        self.n_layer
                    )));
                }
                Ok(Some(a.iter().map(|v| v.as_u64().unwrap_or(0)).collect()))
            }
            Some(v) => Ok(v.as_u64().map(|x| vec![x; n])),
        }
    }
}

fn invalid(msg: String) -> GgufError {
    GgufError::InvalidArgument(msg)
}

/// Architectures that are recurrent in every layer.
const RECURRENT_ARCHS: [&str; 6] = ["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"];
/// Encoder (embedding) architectures with no output layer.
const EMBEDDING_ARCHS: [&str; 7] =
    ["bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "t5encoder", "modern-bert"];
/// Built-in sliding-window layer patterns (llama.cpp's `set_swa_pattern(n)`: layer `il`
/// slides when `il % n < n - 1`), used when the file has no
/// `{arch}.attention.sliding_window_pattern`.
const SWA_PATTERNS: [(&str, u64); 6] =
    [("gemma2", 2), ("gemma3", 6), ("gemma3n", 5), ("cohere2", 4), ("gpt-oss", 2), ("exaone4", 4)];

/// Where a tensor lives by its name: the input layer, a repeating layer, or the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Input,
    Layer(u64),
    Output,
}

fn group_of(name: &str, n_layer: u64) -> Group {
    if let Some(rest) = name.strip_prefix("blk.")
        && let Some((num, _)) = rest.split_once('.')
        && let Ok(il) = num.parse::<u64>()
        && il < n_layer
    {
        return Group::Layer(il);
    }
    const INPUT: [&str; 5] =
        ["token_embd.", "token_embd_norm.", "position_embd.", "token_types.", "per_layer_token_embd."];
    if INPUT.iter().any(|p| name.starts_with(p)) { Group::Input } else { Group::Output }
}

fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to).saturating_mul(to)
}

/// Bytes of `rows` rows of `width` elements of a cache type.
fn cache_bytes(ty: GgmlType, width: u64, rows: u64, which: &str) -> Result<u64, GgufError> {
    let row = ty.row_bytes(width).ok_or_else(|| {
        invalid(format!(
            "{which} cache type {} cannot store rows of {width} elements (block size {})",
            ty.name(),
            ty.block_size().map_or("unknown".into(), |b| b.to_string())
        ))
    })?;
    Ok(row.saturating_mul(rows))
}

/// Estimates llama.cpp's memory use for a model given the headers of all its files (one,
/// or every shard of a split model in any order), with the formulas of the crate docs.
pub fn estimate(headers: &[&GgufHeader], opts: &EstimateOptions) -> Result<Estimate, GgufError> {
    let main = main_header(headers)?;
    let arch = main.architecture().ok_or_else(|| invalid("no general.architecture".into()))?.to_string();
    let kind = crate::FileKind::of(main);
    if kind != crate::FileKind::Model {
        return Err(invalid(format!("a {} file, not a model: nothing to estimate", kind.as_str())));
    }
    let tensors: Vec<&TensorInfo> = headers.iter().flat_map(|h| h.tensors.iter()).collect();
    let get_u64 = |suffix: &str| main.get(&format!("{arch}.{suffix}")).and_then(Value::as_u64);
    let n_layer = get_u64("block_count").ok_or_else(|| invalid(format!("no {arch}.block_count")))?;
    if n_layer > MAX_LAYERS {
        return Err(invalid(format!("{arch}.block_count {n_layer} exceeds {MAX_LAYERS}")));
    }
    let hp = Hparams { header: main, arch: arch.clone(), n_layer, n_embd: get_u64("embedding_length").unwrap_or(0) };
    let n_embd = hp.n_embd;
    let layers = usize::try_from(n_layer).unwrap_or(0);

    // Options, clamped as llama.cpp clamps them.
    let n_ctx_train = hp.u64("context_length");
    let n_ctx = opts
        .ctx_size
        .filter(|&c| c > 0)
        .or(n_ctx_train)
        .ok_or_else(|| invalid(format!("no {arch}.context_length in the model: give a context size")))?;
    if opts.batch_size == 0 || opts.ubatch_size == 0 || opts.parallel == 0 {
        return Err(invalid("batch size, ubatch size and parallel must be at least 1".into()));
    }
    let kv_size = pad(n_ctx, CTX_PAD);
    let embedding_only = hp.key("pooling_type").is_some()
        || EMBEDDING_ARCHS.contains(&arch.as_str())
        || matches!(hp.key("attention.causal"), Some(Value::Bool(false)));
    let n_batch = if embedding_only { opts.batch_size } else { opts.batch_size.min(kv_size) };
    let n_ubatch = opts.ubatch_size.min(n_batch);
    let n_seq = opts.parallel;
    let n_tokens = kv_size.min(n_ubatch);
    if opts.cache_type_v.block_size().is_some_and(|b| b > 1) && !opts.flash_attention {
        return Err(invalid(format!(
            "V cache type {} is quantized: llama.cpp needs flash attention for that",
            opts.cache_type_v.name()
        )));
    }

    // Attention shape, per layer.
    let n_head = hp.per_layer("attention.head_count")?.unwrap_or_else(|| vec![0; layers]);
    let n_head_kv = hp.per_layer("attention.head_count_kv")?.unwrap_or_else(|| n_head.clone());
    let head0 = n_head.first().copied().unwrap_or(0);
    let default_head = n_embd.checked_div(head0).unwrap_or(0);
    let d_k = hp.u64("attention.key_length").unwrap_or(default_head);
    let d_v = hp.u64("attention.value_length").unwrap_or(default_head);

    // Recurrent state sizes (llama_hparams::n_embd_r / n_embd_s).
    let d_conv = hp.u64("ssm.conv_kernel").unwrap_or(0);
    let d_inner = hp.u64("ssm.inner_size").unwrap_or(0);
    let d_state = hp.u64("ssm.state_size").unwrap_or(0);
    let n_group = hp.u64("ssm.group_count").unwrap_or(0);
    let wkv_head = hp.u64("wkv.head_size").unwrap_or(0);
    let token_shift = hp.u64("token_shift_count").unwrap_or(2);
    let l_cache = hp.u64("shortconv.l_cache").unwrap_or(0);
    let has_recurrent = d_conv > 0 || d_state > 0 || wkv_head > 0 || l_cache > 0;
    let all_recurrent = RECURRENT_ARCHS.contains(&arch.as_str());
    let (n_embd_r, n_embd_s) = if wkv_head > 0 {
        (token_shift.saturating_mul(n_embd), n_embd.saturating_mul(wkv_head))
    } else if l_cache > 0 {
        (n_embd.saturating_mul(l_cache - 1), d_state.saturating_mul(d_inner))
    } else {
        let conv = d_conv
            .saturating_sub(1)
            .saturating_mul(d_inner.saturating_add(n_group.saturating_mul(2).saturating_mul(d_state)));
        (conv, d_state.saturating_mul(d_inner))
    };
    let recurrent_layer = |il: usize| all_recurrent || (has_recurrent && n_head_kv.get(il).copied() == Some(0));

    // Sliding-window layers.
    let n_swa = hp.u64("attention.sliding_window").unwrap_or(0);
    let swa_layer: Vec<bool> = if n_swa == 0 {
        vec![false; layers]
    } else {
        match hp.key("attention.sliding_window_pattern") {
            Some(Value::Array(a)) if a.len() == layers => {
                a.iter().map(|v| matches!(v, Value::Bool(true)) || v.as_u64().is_some_and(|x| x > 0)).collect()
            }
            Some(v) if v.as_u64().is_some() => swa_pattern(v.as_u64().unwrap_or(0), layers),
            _ => match SWA_PATTERNS.iter().find(|(a, _)| *a == arch) {
                Some((_, n)) => swa_pattern(*n, layers),
                None => vec![false; layers],
            },
        }
    };
    let swa_kv_size = kv_size.min(pad(n_swa.saturating_mul(n_seq).saturating_add(n_ubatch), CTX_PAD));

    // Devices: index 0 is the CPU, 1.. the GPUs (llama.cpp's layer split).
    let n_gpus = opts.tensor_split.len().max(1);
    if opts.tensor_split.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return Err(invalid("tensor split proportions must be finite and non-negative".into()));
    }
    let ngl = opts.gpu_layers.unwrap_or(u64::MAX);
    let i_gpu_start = n_layer.saturating_sub(ngl);
    let act_gpu_layers = ngl.min(n_layer + 1);
    let splits = split_points(&opts.tensor_split, n_gpus);
    let device_of = |il: u64| -> usize {
        if il < i_gpu_start || il - i_gpu_start >= act_gpu_layers {
            return 0;
        }
        let x = (il - i_gpu_start) as f32 / act_gpu_layers as f32;
        let gpu = splits.iter().position(|&s| s > x).unwrap_or(n_gpus - 1);
        1 + gpu.min(n_gpus - 1)
    };
    let n_dev = n_gpus + 1;
    let mut devs = vec![DeviceEstimate::default(); n_dev];
    devs[0].input_layer = true;
    for il in 0..n_layer {
        devs[device_of(il)].layers += 1;
    }
    let out_dev = device_of(n_layer);
    devs[out_dev].output_layer = true;

    // Weights.
    let mut has_output_weight = false;
    let mut token_embd_bytes = 0u64;
    for t in &tensors {
        let bytes = t.checked_byte_size()?;
        let dev = match group_of(&t.name, n_layer) {
            Group::Input => {
                if t.name == "token_embd.weight" {
                    token_embd_bytes = bytes;
                }
                0
            }
            Group::Layer(il) => device_of(il),
            Group::Output => {
                has_output_weight |= t.name == "output.weight";
                out_dev
            }
        };
        devs[dev].weights = devs[dev].weights.saturating_add(bytes);
    }
    // Tied embeddings: llama.cpp loads token_embd a second time as the output matrix, into
    // the output layer's buffer (a separate copy unless it is the mmapped CPU one).
    if !has_output_weight && !embedding_only && (out_dev != 0 || !opts.mmap) {
        devs[out_dev].weights = devs[out_dev].weights.saturating_add(token_embd_bytes);
    }

    // KV cache and recurrent state, per layer, on the layer's device when offloaded.
    let mut kv = KvCacheEstimate { kv_size, ..KvCacheEstimate::default() };
    // Compute buffer, per device: the largest layer peak, and the graph inputs the device's
    // attention reads (the KQ mask of each cache size, KV-cache row indices, positions).
    let mut layer_compute = vec![0u64; n_dev];
    let mut attn_inputs = vec![AttnInputs::default(); n_dev];
    let ff = hp.per_layer("feed_forward_length")?.unwrap_or_else(|| vec![0; layers]);
    let n_expert = hp.u64("expert_count").unwrap_or(0);
    let n_expert_used = hp.u64("expert_used_count").unwrap_or(0);
    let ff_exp = hp.u64("expert_feed_forward_length");
    let n_shared = hp.u64("expert_shared_count").unwrap_or(0);
    let ff_shared = hp.u64("expert_shared_feed_forward_length");
    let mul = |a: u64, b: u64| a.saturating_mul(b);
    // An F32 tensor of `width` values for each token of the reserved ubatch.
    let f32_bytes = |width: u64| mul(mul(width, n_tokens), 4);
    let sum = |xs: &[u64]| xs.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let fa = opts.flash_attention;
    let e = f32_bytes(n_embd);
    // Tokens whose logits (or embeddings) the reserved graph computes: one per sequence for
    // generation (llama-server's n_outputs_max), every token for embedding models. The last
    // layer narrows the batch to them before its FFN.
    let n_outputs = if embedding_only { n_tokens } else { n_seq.min(n_tokens) };
    for il in 0..layers {
        let dev = device_of(il as u64);
        let kv_dev = if opts.kv_offload { dev } else { 0 };
        let heads = n_head.get(il).copied().unwrap_or(0);
        let heads_kv = n_head_kv.get(il).copied().unwrap_or(0);
        // FFN width: dense, or the experts a token is routed to plus shared experts and the router.
        let n_ff = if n_expert > 0 && n_expert_used > 0 {
            let exp = ff_exp.unwrap_or(ff.get(il).copied().unwrap_or(0));
            mul(n_expert_used, exp).saturating_add(mul(n_shared, ff_shared.unwrap_or(exp)))
        } else {
            ff.get(il).copied().unwrap_or(0)
        };
        // `below`: bytes the allocator keeps below the FFN's input (see `ffn_peak`).
        let (attn, below) = if recurrent_layer(il) {
            kv.recurrent_layers += 1;
            let state = mul(mul(n_embd_r.saturating_add(n_embd_s), 4), n_seq);
            kv.recurrent_bytes = kv.recurrent_bytes.saturating_add(state);
            devs[kv_dev].kv_cache = devs[kv_dev].kv_cache.saturating_add(state);
            let inner = d_inner.max(n_embd);
            (f32_bytes(mul(n_embd, 2).saturating_add(mul(inner, 4)).saturating_add(mul(mul(n_group, d_state), 2))), e)
        } else if heads_kv > 0 {
            let swa = swa_layer.get(il).copied().unwrap_or(false);
            let cells = if swa { swa_kv_size } else { kv_size };
            kv.attention_layers += 1;
            kv.swa_layers += u64::from(swa);
            let k = cache_bytes(opts.cache_type_k, mul(d_k, heads_kv), cells, "K")?;
            let v = cache_bytes(opts.cache_type_v, mul(d_v, heads_kv), cells, "V")?;
            kv.k_bytes = kv.k_bytes.saturating_add(k);
            kv.v_bytes = kv.v_bytes.saturating_add(v);
            devs[kv_dev].kv_cache = devs[kv_dev].kv_cache.saturating_add(k.saturating_add(v));
            // The attention core (KQ scores or flash attention, and its output) runs where the
            // cache is: on the CPU for an offloaded layer with `kv_offload` off.
            let core_dev = kv_dev;
            let inputs = &mut attn_inputs[core_dev];
            if swa {
                inputs.swa_cells = cells
            } else {
                inputs.cells = cells
            }
            inputs.v_width = inputs.v_width.max(mul(heads_kv, d_v));
            let q = f32_bytes(mul(heads, d_k));
            let k = f32_bytes(mul(heads_kv, d_k));
            let v = f32_bytes(mul(heads_kv, d_v));
            let a = f32_bytes(mul(heads, d_v));
            let scores = f32_bytes(mul(heads, cells));
            let (attn, below) = attention_peak(e, q, k, v, a, scores, fa);
            if core_dev == dev {
                (attn, below)
            } else {
                // Q comes over, the scores (or flash attention) and their output stay there.
                let core = if fa { sum(&[q, a]) } else { sum(&[q, scores, a, a]) };
                layer_compute[core_dev] = layer_compute[core_dev].max(core);
                (sum(&[e, e, q, q, k]), e)
            }
        } else {
            (0, e)
        };
        // The router's logits and probabilities (MoE) come on top of the FFN's tensors.
        let rows = if il + 1 == layers { n_outputs } else { n_tokens };
        let per_row = |width: u64| mul(mul(width, rows), 4);
        let ffn = ffn_peak(per_row(n_embd), per_row(n_ff), below).saturating_add(mul(per_row(n_expert), 2));
        layer_compute[dev] = layer_compute[dev].max(attn.max(ffn));
    }
    kv.total_bytes = kv.k_bytes.saturating_add(kv.v_bytes).saturating_add(kv.recurrent_bytes);
    if kv.swa_layers > 0 {
        kv.swa_kv_size = Some(swa_kv_size);
    }

    // Output: logits (or embeddings) of the n_outputs tokens; the host output buffer holds
    // the n_seq outputs reserved at context creation.
    let vocab_size = vocab_size(&hp, &tensors);
    let out_width = if embedding_only { n_embd } else { vocab_size };
    let output_compute = mul(mul(n_outputs, n_embd.saturating_add(out_width)), 4);
    let output_buffer = mul(mul(out_width, n_seq), 4);
    for (i, d) in devs.iter_mut().enumerate() {
        let inputs = attn_inputs[i].bytes(n_tokens, fa);
        let mut peak = layer_compute[i].max(if d.output_layer { output_compute } else { 0 });
        if i == 0 && d.layers == 0 {
            // Every layer offloaded: the CPU still looks up the batch's token embeddings.
            peak = peak.max(e);
        }
        if peak == 0 && inputs == 0 && i != 0 {
            continue;
        }
        d.compute = peak.saturating_add(inputs);
    }
    // The CPU also holds the graph's token inputs: the ids (I32), and the embeddings input
    // (F32, n_embd per token) that llama.cpp keeps in every graph for batches of embeddings.
    devs[0].compute = devs[0].compute.saturating_add(sum(&[mul(n_tokens, 4), e]));
    devs[0].output_buffer = output_buffer;

    // UMA / NONUMA.
    let ram = &mut devs[0];
    let ram_weights = if opts.mmap { 0 } else { ram.weights };
    ram.uma = ram_weights.saturating_add(ram.kv_cache).saturating_add(ram.compute).saturating_add(ram.output_buffer);
    ram.nonuma = ram.uma.saturating_add(NONUMA_RAM_OVERHEAD);
    for d in devs.iter_mut().skip(1) {
        let w = if opts.mmap { 0 } else { d.weights };
        d.uma = w.saturating_add(d.kv_cache);
        d.nonuma = NONUMA_VRAM_OVERHEAD.saturating_add(d.weights).saturating_add(d.kv_cache).saturating_add(d.compute);
    }

    let offload_layers = devs.iter().skip(1).map(|d| d.layers + u64::from(d.output_layer)).sum::<u64>();
    let mut devs = devs.into_iter();
    let ram = devs.next().unwrap_or_default();
    Ok(Estimate {
        architecture: arch,
        context_size: kv_size,
        batch_size: n_batch,
        ubatch_size: n_ubatch,
        parallel: n_seq,
        flash_attention: opts.flash_attention,
        mmap: opts.mmap,
        embedding_only,
        layers: n_layer,
        offload_layers,
        full_offloaded: offload_layers == n_layer + 1,
        kv_cache: kv,
        vocab_size,
        ram,
        vram: devs.collect(),
    })
}

/// The inputs a device's attention layers read, kept for the whole graph.
#[derive(Debug, Clone, Copy, Default)]
struct AttnInputs {
    /// KV cells of the full-attention and of the sliding-window layers here (0: none).
    cells: u64,
    swa_cells: u64,
    /// Widest V row (`n_head_kv * d_v`) of the layers here.
    v_width: u64,
}

impl AttnInputs {
    /// KQ masks (`cells x n_tokens`, F16 with flash attention, else F32), the I64 row indices
    /// the K and V stores use (without flash attention V is stored transposed, one index per
    /// value), and the I32 positions.
    fn bytes(&self, n_tokens: u64, fa: bool) -> u64 {
        if self.cells == 0 && self.swa_cells == 0 {
            return 0;
        }
        let mask =
            self.cells.saturating_add(self.swa_cells).saturating_mul(n_tokens).saturating_mul(if fa { 2 } else { 4 });
        let caches = u64::from(self.cells > 0) + u64::from(self.swa_cells > 0);
        let v_idxs = if fa { 1 } else { self.v_width };
        let idxs = caches.saturating_mul(n_tokens).saturating_mul(8).saturating_mul(v_idxs.saturating_add(1));
        mask.saturating_add(idxs).saturating_add(n_tokens.saturating_mul(4))
    }
}

/// ggml-alloc's peak over one attention block, from the F32 tensor sizes of the ubatch:
/// `e` the hidden state, `q`/`k`/`v` the projections, `a` the attention output, `scores` the
/// KQ matrix. Returns the peak and the bytes left below the FFN's input afterwards.
///
/// In order: the residual `x` (e) stays live; the norm (e, the MUL after it in place), Q (q)
/// and its RoPE'd copy (q) follow. V, K and K's RoPE'd copy go in the slot Q's projection
/// freed when they fit, the copy also in the norm's slot; what fits nowhere goes on top.
/// Without flash attention the scores then go on top of `x`, the norm's slot and both Qs.
/// The attention output takes the freed slot above `x`.
fn attention_peak(e: u64, q: u64, k: u64, v: u64, a: u64, scores: u64, fa: bool) -> (u64, u64) {
    let base = e.saturating_mul(2).saturating_add(q.saturating_mul(2));
    let k_on_top = k.saturating_add(v) > q;
    let k_rope_on_top = k > e && (k_on_top || k > q.saturating_sub(v).saturating_sub(k));
    let qkv = base.saturating_add(k.saturating_mul(u64::from(k_on_top) + u64::from(k_rope_on_top)));
    if fa {
        return (qkv, e.saturating_add(a));
    }
    // The scores fit in the hole of the norm and Q slots, or the output (a, and its
    // contiguous copy) lands there and the projection after it in its place (or on top).
    let below = if scores <= e.saturating_add(q) {
        e.saturating_add(a)
    } else if a >= e {
        e
    } else {
        e.saturating_add(a.saturating_mul(2))
    };
    (qkv.max(base.saturating_add(scores)), below)
}

/// ggml-alloc's peak over a gated FFN of `f` bytes per tensor: its input (e, the residual
/// for after) stays live while gate, up and their product (f each) are; the product goes on
/// top unless the hole below the input (`below`) can take it, and when even the norm's slot
/// (e) cannot, that slot stays a hole under it.
fn ffn_peak(e: u64, f: u64, below: u64) -> u64 {
    let hole = if f > below {
        below
    } else if f > e {
        e
    } else {
        0
    };
    e.saturating_add(f.saturating_mul(3)).saturating_add(hole)
}

/// llama.cpp's `set_swa_pattern(n)`: layer `il` slides when `il % n < n - 1`; 0 = all.
fn swa_pattern(n: u64, layers: usize) -> Vec<bool> {
    (0..layers as u64).map(|il| n == 0 || il % n < n - 1).collect()
}

/// Cumulative, normalised split points (llama.cpp); all zero or empty = even split.
fn split_points(split: &[f64], n: usize) -> Vec<f32> {
    let sum: f64 = split.iter().sum();
    let weights: Vec<f64> = if split.is_empty() || sum <= 0.0 { vec![1.0; n] } else { split.to_vec() };
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w;
            (acc / total) as f32
        })
        .collect()
}

/// The shard with the model metadata (split.no 0, or the only file); checks a split model
/// is complete.
fn main_header<'a>(headers: &[&'a GgufHeader]) -> Result<&'a GgufHeader, GgufError> {
    let first = *headers.first().ok_or_else(|| invalid("no header given".into()))?;
    if headers.len() == 1 {
        return Ok(first);
    }
    let no = |h: &GgufHeader| h.get("split.no").and_then(Value::as_u64);
    let count = headers.iter().find_map(|h| h.get("split.count").and_then(Value::as_u64));
    if count != Some(headers.len() as u64) {
        return Err(invalid(format!(
            "{} headers given but split.count is {}",
            headers.len(),
            count.map_or("absent".into(), |c| c.to_string())
        )));
    }
    let mut seen = vec![false; headers.len()];
    for h in headers {
        let i = no(h).and_then(|n| usize::try_from(n).ok()).filter(|&n| n < headers.len());
        match i {
            Some(i) if !seen[i] => seen[i] = true,
            _ => return Err(invalid(format!("shards' split.no must be 0..{} once each", headers.len()))),
        }
    }
    Ok(headers.iter().copied().find(|h| no(h) == Some(0)).unwrap_or(first))
}

/// `{arch}.vocab_size`, else the tokens array, else the output (or embedding) matrix rows.
fn vocab_size(hp: &Hparams, tensors: &[&TensorInfo]) -> u64 {
    if let Some(n) = hp.u64("vocab_size") {
        return n;
    }
    if let Some(Value::Array(a)) = hp.header.get("tokenizer.ggml.tokens") {
        return a.len() as u64;
    }
    let rows = |name: &str| tensors.iter().find(|t| t.name == name).and_then(|t| t.dims.get(1).copied());
    rows("output.weight").or_else(|| rows("token_embd.weight")).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GgufWriter, parse_header};

    /// A llama header with the hyperparameters the estimate reads (no tensors: the compute
    /// buffer does not depend on the weights).
    fn llama(n_embd: u32, n_ff: u32, n_head: u32, n_head_kv: u32, n_vocab: u32, n_layer: u32) -> GgufHeader {
        let mut w = GgufWriter::new();
        w.add_metadata("general.architecture", Value::String("llama".into()));
        for (k, v) in [
            ("context_length", 2048),
            ("embedding_length", n_embd),
            ("feed_forward_length", n_ff),
            ("attention.head_count", n_head),
            ("attention.head_count_kv", n_head_kv),
            ("vocab_size", n_vocab),
            ("block_count", n_layer),
        ] {
            w.add_metadata(format!("llama.{k}"), Value::U32(v));
        }
        let mut bytes = Vec::new();
        w.write_header(&mut bytes).unwrap();
        parse_header(&bytes, None).unwrap()
    }

    /// CPU compute buffer in MiB with two decimals, as llama.cpp logs it.
    fn cpu_compute(h: &GgufHeader, ctx: u64, batch: u64, ubatch: u64, fa: bool) -> String {
        let opts = EstimateOptions {
            ctx_size: Some(ctx),
            batch_size: batch,
            ubatch_size: ubatch,
            flash_attention: fa,
            gpu_layers: Some(0),
            ..EstimateOptions::default()
        };
        let e = estimate(&[h], &opts).unwrap();
        format!("{:.2}", e.ram.compute as f64 / (1u64 << 20) as f64)
    }

    // The expected figures are what llama.cpp printed ("CPU compute buffer size = X MiB",
    // llama-server -ngl 0 -np 1) for synthetic models of these shapes: llama.cpp commit
    // 0c1e57098bba43ac29e6e3b677cdceebdd22334f, as vendored in the llama-cpp-python 0.3.36
    // sdist (scripts/run-llama-server.sh builds it; bench/estimate-vs-llama.sh measures).

    #[test]
    fn compute_buffer_matches_llama_cpp_for_a_7b_wide_model() {
        // n_embd 4096, n_ff 11008, 32 heads, 8 KV heads, 4 layers, 32000 tokens.
        let h = llama(4096, 11008, 32, 8, 32000, 4);
        assert_eq!(cpu_compute(&h, 2048, 2048, 512, true), "98.51");
        assert_eq!(cpu_compute(&h, 2048, 2048, 512, false), "176.01");
        assert_eq!(cpu_compute(&h, 8192, 2048, 512, false), "572.01");
        assert_eq!(cpu_compute(&h, 512, 512, 128, false), "23.38");
    }

    #[test]
    fn compute_buffer_matches_llama_cpp_for_a_large_vocabulary_and_ubatch() {
        // n_embd 1024, n_ff 4096, 8 heads, 1 KV head, 152064 tokens, -c 16384 -b/-ub 1024.
        let h = llama(1024, 4096, 8, 1, 152_064, 4);
        assert_eq!(cpu_compute(&h, 16384, 1024, 1024, true), "96.02");
        assert_eq!(cpu_compute(&h, 16384, 1024, 1024, false), "597.02");
        // n_ff only 1.5 n_embd: the FFN product fits in the holes the allocator left.
        let h = llama(1536, 2304, 12, 2, 64000, 5);
        assert_eq!(cpu_compute(&h, 3000, 2048, 200, true), "9.97");
        assert_eq!(cpu_compute(&h, 3000, 2048, 200, false), "36.72");
    }

    #[test]
    fn offloaded_layers_take_their_compute_to_the_gpu() {
        let h = llama(4096, 11008, 32, 8, 32000, 4);
        let cpu_only =
            estimate(&[&h], &EstimateOptions { ctx_size: Some(2048), gpu_layers: Some(0), ..Default::default() })
                .unwrap();
        let full = estimate(&[&h], &EstimateOptions { ctx_size: Some(2048), ..Default::default() }).unwrap();
        let (t, e) = (512u64, 512 * 4096 * 4u64);
        // All layers offloaded: the CPU keeps the token ids, the embeddings input and the
        // looked-up embeddings; the GPU gets the layers and the attention inputs.
        assert_eq!(full.ram.compute, 4 * t + e + e);
        let inputs = 2048 * t * 4 + 8 * t * (1024 + 1) + 4 * t;
        assert_eq!(full.vram[0].compute + (4 * t + e), cpu_only.ram.compute);
        assert!(full.vram[0].compute > inputs);
    }
}
