#!/usr/bin/env bash
# Quantize benchmark: `hoist quantize` against the reference `llama-quantize`
# (llama.cpp as vendored by llama-cpp-python 0.3.36) on the same F16 model of
# ~600 MB, for Q8_0, Q4_K_M and Q6_K at 1 and 2 threads. The two run interleaved
# (reference, hoist, reference, hoist, ...) so both see the same machine load;
# every run prints wall time, CPU time, peak RSS and whether the outputs are the
# same bytes, and each cell ends with the spread of the ratios hoist / reference
# and whether every run met the goal (ratio <= 1.0).
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
cat "$model" >/dev/null # warm the page cache for the first run

# As bench/common.sh has them (not sourced: it needs a registry this does not).
spread() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "min %s median %s max %s", v[1], v[int((NR+1)/2)], v[NR]}'; }
holds() { local goal=$1; shift; [ "$(printf '%s\n' "$@" | awk -v g="$goal" '$1 > g' | wc -l)" = 0 ] && echo yes || echo no; }

# "wall_s cpu_s max_rss_kib" of one run of "$@" (it must succeed).
measure() {
  /usr/bin/time -o "$work/time" -f '%e %U %S %M' "$@" >/dev/null 2>"$work/log" \
    || { echo "failed: $*" >&2; cat "$work/log" >&2; exit 1; }
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$work/time"
}

for threads in 1 2; do
  for type in Q8_0 Q4_K_M Q6_K; do
    ratios=()
    for run in $(seq "$runs"); do
      ref="$work/ref.gguf"; ours="$work/hoist.gguf"
      read -r lt lc lm < <(measure "$tool" "$model" "$ref" "$type" "$threads")
      read -r ht hc hm < <(measure target/release/hoist quantize --progress none --threads "$threads" "$model" "$ours" "$type")
      same=no; cmp -s "$ref" "$ours" && same=yes
      ratio=$(awk "BEGIN{printf \"%.2f\", $ht / $lt}")
      ratios+=("$ratio")
      printf '%s %s threads run %s: llama-quantize %.2f s (cpu %.2f s, %d MiB), hoist %.2f s (cpu %.2f s, %d MiB), ratio %s, load %s, same bytes: %s\n' \
        "$type" "$threads" "$run" "$lt" "$lc" $((lm / 1024)) "$ht" "$hc" $((hm / 1024)) "$ratio" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$same"
      rm -f "$ref" "$ours"
    done
    echo "$type $threads threads: ratio $(spread "${ratios[@]}"); every run <= 1.0: $(holds 1.0 "${ratios[@]}")"
  done
done
