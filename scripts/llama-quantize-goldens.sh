#!/usr/bin/env bash
# Builds the reference llama-quantize (llama.cpp as vendored by the
# llama-cpp-python 0.3.36 sdist, commit 0c1e570) outside the repository and
# regenerates the golden digests hoist-quant's tests compare against.
#
#   scripts/llama-quantize-goldens.sh build     # only build llama-quantize
#   scripts/llama-quantize-goldens.sh goldens   # build if needed, then regenerate
#
# REF_DIR   where the sdist is (downloaded from PyPI and extracted when missing)
# BUILD_DIR where llama-quantize is built (never inside the repository)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
REF_DIR="${REF_DIR:-/work/ref}"
BUILD_DIR="${BUILD_DIR:-$REF_DIR/build}"
src="$REF_DIR/llama_cpp_python-0.3.36/vendor/llama.cpp"
tool="$BUILD_DIR/bin/llama-quantize"

fetch_sdist() {
  [ -d "$src" ] && return
  mkdir -p "$REF_DIR"
  python3 -m pip download --no-deps --no-binary :all: --no-build-isolation \
    -d "$REF_DIR" llama-cpp-python==0.3.36
  tar -xzf "$REF_DIR/llama_cpp_python-0.3.36.tar.gz" -C "$REF_DIR"
}

build() {
  fetch_sdist
  [ -x "$tool" ] && return
  # Portable build (no -march=native): the reference quantizers are plain C and
  # must not pick up FMA contractions the Rust port does not make.
  nice -n 10 cmake -S "$src" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_OPENSSL=OFF >/dev/null
  nice -n 10 cmake --build "$BUILD_DIR" --target llama-quantize -j2
}

goldens() {
  build
  LLAMA_QUANTIZE="$tool" python3 "$repo/crates/hoist-quant/tests/goldens/regen.py"
}

case "${1:-goldens}" in
  build) build ;;
  goldens) goldens ;;
  *) echo "usage: $0 [build|goldens]" >&2; exit 2 ;;
esac
