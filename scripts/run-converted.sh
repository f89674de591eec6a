#!/usr/bin/env bash
# Converted models load in a real llama.cpp and generate (not run in CI: it compiles
# llama.cpp's llama-simple, a few minutes on 2 cores).
#
# 1. Builds llama-simple from the llama.cpp that the llama-cpp-python 0.3.36 sdist carries
#    (REF as in scripts/convert-goldens.sh; downloaded from PyPI when missing).
# 2. Writes the golden test models (tiny, random weights) with the ignored test
#    `write_cases`, converts each generating one with `hoist convert`, and has llama-simple
#    generate 8 tokens from each. Random weights generate noise: the check is that every
#    file loads and generates, exit code 0.
# Usage: scripts/run-converted.sh [WORK_DIR]    (default target/run-converted)
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
simple="$work/build/bin/llama-simple"
if [[ ! -x "$simple" ]]; then
    cmake -S "$ref/vendor/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_OPENMP=OFF >"$work/cmake.log"
    cmake --build "$work/build" --target llama-simple -j"$(nproc)" >"$work/build.log"
fi
cargo build --release -p hoist --quiet
rm -rf "$work/cases" && mkdir -p "$work/cases"
HOIST_CONVERT_CASES="$work/cases" cargo test -p hoist-convert --test golden --quiet -- --ignored --exact write_cases >/dev/null
for dir in "$work"/cases/*/; do
    name="$(basename "$dir")"
    [[ "$name" == all-MiniLM-L6-v2 ]] && continue # an embedding model: nothing to generate
    target/release/hoist convert --progress none "$dir" "$work/$name.gguf" >/dev/null
    text="$("$simple" -m "$work/$name.gguf" -n 8 "the quick fox" 2>"$work/$name.log" | tr '\n' ' ')"
    echo "$name: ${text:0:100}"
done
