#!/usr/bin/env bash
# Quantize benchmark: `hoist quantize` against the reference `llama-quantize`
# (llama.cpp as vendored by llama-cpp-python 0.3.36) on the same F16 model of
# ~600 MB, for Q8_0, Q4_K_M and Q6_K at 1 and 2 threads, in the same run: wall
# time and peak RSS of each, best of RUNS, and a check that both outputs are
# the same bytes.
# Usage: bench/quantize.sh [RUNS] [MODEL_BYTES]
# Needs llama-quantize: scripts/llama-quantize-goldens.sh build (or LLAMA_QUANTIZE=...).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
bytes="${2:-600000000}"
work="${BENCH_DIR:-target/bench-quantize}"
tool="${LLAMA_QUANTIZE:-/work/ref/build/bin/llama-quantize}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
[ -x "$tool" ] || { echo "needs llama-quantize: scripts/llama-quantize-goldens.sh build" >&2; exit 1; }
cargo build --release --locked --bin hoist -p hoist >&2
cargo build --release --locked -p hoist-quant --example synth >&2
mkdir -p "$work"
model="$work/model-f16-$bytes.gguf"
[ -f "$model" ] || target/release/examples/synth --f16-bytes "$bytes" "$model"
echo "model: $(stat -L -c %s "$model") bytes F16"

# Prints "SECONDS MAX_RSS_KIB" of the best (fastest) of $runs runs of "$@".
best() {
  local best_t="" best_m="" t m f
  f=$(mktemp)
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$f" -f '%e %M' "$@" >/dev/null 2>&1
    read -r t m <"$f"
    if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  rm -f "$f"
  echo "$best_t $best_m"
}

printf '| type | threads | llama-quantize | hoist | ratio | llama RSS | hoist RSS | same bytes |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for threads in 1 2; do
  for type in Q8_0 Q4_K_M Q6_K; do
    ref="$work/ref.gguf"; ours="$work/hoist.gguf"
    read -r lt lm < <(best "$tool" "$model" "$ref" "$type" "$threads")
    read -r ht hm < <(best target/release/hoist quantize --progress none --threads "$threads" "$model" "$ours" "$type")
    same=no; cmp -s "$ref" "$ours" && same=yes
    ratio=$(awk "BEGIN{printf \"%.2f\", $ht / $lt}")
    printf '| %s | %s | %.2f s | %.2f s | %s | %d MiB | %d MiB | %s |\n' \
      "$type" "$threads" "$lt" "$ht" "$ratio" $((lm / 1024)) $((hm / 1024)) "$same"
    rm -f "$ref" "$ours"
  done
done
