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
    [[ "$name" == all-MiniLM-L6-v2 ]] && continue # an embedding model: nothing to generate
    for ty in auto q8_0; do
        target/release/hoist convert --progress none --type "$ty" "$dir" "$work/$name.$ty.gguf" >/dev/null
        text="$("$simple" -m "$work/$name.$ty.gguf" -n 8 "the quick fox" 2>"$work/$name.$ty.log" | tr '\n' ' ')"
        echo "$name --type $ty: ${text:0:100}"
    done
done
