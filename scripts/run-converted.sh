#!/usr/bin/env bash
# Converted models load in a real llama.cpp and generate (not run in CI: it compiles
# llama.cpp's llama-simple, a few minutes on 2 cores).
#
# 1. Builds llama-simple from the llama.cpp that the llama-cpp-python 0.3.36 sdist carries
#    (REF as in scripts/convert-goldens.sh; downloaded from PyPI when missing).
# 2. Writes the golden test models (tiny, random weights) with the `golden-cases` example,
#    converts each generating one with `hoist convert` (--type auto and q8_0), and has
#    llama-simple generate 8 tokens from each. Random weights generate noise: the check is that every
#    file loads and generates, exit code 0.
# Usage: scripts/run-converted.sh [WORK_DIR]    (default target/run-converted; SIMPLE: an
#        already built llama-simple to use instead)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/run-converted}"
ref="${REF:-/work/ref/llama_cpp_python-0.3.36}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
for tool in python3 cmake cargo; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [[ ! -f "$ref/vendor/llama.cpp/CMakeLists.txt" ]]; then
    mkdir -p "$(dirname "$ref")"
    python3 -m pip download --no-binary :all: --no-deps --dest "$(dirname "$ref")" llama-cpp-python==0.3.36
    tar -xzf "$(dirname "$ref")/llama_cpp_python-0.3.36.tar.gz" -C "$(dirname "$ref")"
fi
simple="${SIMPLE:-$work/build/bin/llama-simple}"
if [[ ! -x "$simple" ]]; then
    cmake -S "$ref/vendor/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF >"$work/cmake.log"
    cmake --build "$work/build" --target llama-simple -j"$(nproc)" >"$work/build.log"
fi
cargo build --release -p hoist --quiet
rm -rf "$work/cases" && mkdir -p "$work/cases"
cargo run -q -p hoist-convert --example golden-cases -- write "$work/cases"
for dir in "$work"/cases/*/; do
    name="$(basename "$dir")"
    [[ "$name" == all-MiniLM-L6-v2 || "$name" == lora ]] && continue # embeddings; adapters below
    for ty in auto q8_0; do
        target/release/hoist convert --progress none --type "$ty" "$dir" "$work/$name.$ty.gguf" >/dev/null
        text="$("$simple" -m "$work/$name.$ty.gguf" -n 8 "the quick fox" 2>"$work/$name.$ty.log" | tr '\n' ' ')"
        echo "$name --type $ty: ${text:0:100}"
    done
done

# --- LoRA adapters through libllama ---------------------------------------------
libdir="$(dirname "$simple")"
inc="$ref/vendor/llama.cpp"
cat >"$work/lora_check.c" <<'C'
#include <stdio.h>
#include "llama.h"

/* The most likely token after BOS and two more; *sum gets the sum of all logits. */
static int next_token(struct llama_context *ctx, const struct llama_vocab *vocab, float *sum) {
    llama_token toks[3] = {llama_vocab_bos(vocab), 5, 7};
    llama_memory_clear(llama_get_memory(ctx), 1);
    if (llama_decode(ctx, llama_batch_get_one(toks, 3)) != 0) return -1;
    const float *logits = llama_get_logits_ith(ctx, -1);
    int best = 0;
    *sum = 0;
    for (int i = 0; i < llama_vocab_n_tokens(vocab); i++) {
        *sum += logits[i];
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: lora-check MODEL.gguf ADAPTER.gguf\n"); return 2; }
    llama_backend_init();
    struct llama_model *model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    struct llama_adapter_lora *lora = llama_adapter_lora_init(model, argv[2]);
    if (!lora) { fprintf(stderr, "cannot load adapter %s\n", argv[2]); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    float base_sum, lora_sum, scale = 1.0f;
    int base = next_token(ctx, vocab, &base_sum);
    if (llama_set_adapters_lora(ctx, &lora, 1, &scale) != 0) { fprintf(stderr, "cannot apply adapter\n"); return 1; }
    int adapted = next_token(ctx, vocab, &lora_sum);
    if (base < 0 || adapted < 0) { fprintf(stderr, "decode failed\n"); return 1; }
    printf("next token %d without the adapter, %d with it; logits %s\n", base, adapted,
           base_sum != lora_sum ? "changed" : "UNCHANGED");
    return base_sum != lora_sum ? 0 : 1;
}
C
cc -O1 -o "$work/lora-check" "$work/lora_check.c" -I"$inc/include" -I"$inc/ggml/include" \
    -L"$libdir" -lllama -Wl,-rpath,"$libdir"
for adapter in "$work"/cases/lora/*/; do
    [[ -f "$adapter/adapter_config.json" ]] || continue
    name="$(basename "$adapter")"
    base="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_model_name_or_path"].split("/")[-1])' "$adapter/adapter_config.json")"
    target/release/hoist convert --progress none "$work/cases/lora/$base" "$work/$name.base.gguf" >/dev/null
    for ty in f32 f16 q8_0; do
        target/release/hoist convert --progress none --type "$ty" --class lora --base "$work/cases/lora/$base" \
            "$adapter" "$work/$name.$ty.gguf" >/dev/null
        result="$("$work/lora-check" "$work/$name.base.gguf" "$work/$name.$ty.gguf" 2>"$work/$name.$ty.log")" \
            || { echo "error: $name --type $ty: ${result:-failed} (see $work/$name.$ty.log)" >&2; exit 1; }
        echo "$name --type $ty: $result"
    done
done
