#!/usr/bin/env bash
# GGUF header benchmark: the process time (user + system CPU) of reading the
# header of a ~270 MB model with a Qwen2-sized vocabulary (151,936 tokens and
# their merges), by `hoist inspect --gguf` and by the `gguf` Python package's
# GGUFReader (llama.cpp's own reader), in the same run. The Python figure is
# also shown without its interpreter and import cost (`import gguf` alone).
# Goal: a few milliseconds of process time for hoist.
# Usage: bench/gguf.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
work="${BENCH_DIR:-target/bench-gguf}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
python3 -c 'import gguf' 2>/dev/null || { echo "needs the gguf Python package: pip install gguf" >&2; exit 1; }
cargo build --release --locked --bin hoist >&2
mkdir -p "$work"
model="$work/qwen2-vocab.gguf"
if [ ! -f "$model" ]; then
  python3 - "$model" <<'PY'
import sys
import numpy as np
import gguf

writer = gguf.GGUFWriter(sys.argv[1], "qwen2")
writer.add_name("bench")
writer.add_context_length(32768)
writer.add_block_count(1)
writer.add_embedding_length(896)
writer.add_feed_forward_length(4864)
writer.add_head_count(14)
writer.add_head_count_kv(2)
writer.add_tokenizer_model("gpt2")
writer.add_token_list([f"token{i}" for i in range(151936)])
writer.add_token_types([1] * 151936)
writer.add_token_merges([f"t{i} o{i}" for i in range(151387)])
writer.add_tensor("token_embd.weight", np.zeros((151936, 896), dtype=np.float16))
writer.add_tensor("output_norm.weight", np.ones(896, dtype=np.float32))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
PY
fi
cat "$model" > /dev/null

# user+sys seconds per run of a command, timed over N back-to-back runs: GNU time
# counts in 10 ms steps, too coarse for a single hoist run.
cpu() {
  local n=$1
  shift
  /usr/bin/time -f '%U %S' -o "$work/time" \
    sh -c 'n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1; done' sh "$n" "$@"
  awk -v n="$n" '{printf "%.4f", ($1 + $2) / n}' "$work/time"
}
best() { sort -n | head -1; }
hoist_cpu=$(for _ in $(seq "$runs"); do cpu 20 target/release/hoist inspect --gguf "$model"; echo; done | best)
python_cpu=$(for _ in $(seq "$runs"); do cpu 1 python3 -c 'import sys, gguf; gguf.GGUFReader(sys.argv[1])' "$model"; echo; done | best)
import_cpu=$(for _ in $(seq "$runs"); do cpu 1 python3 -c 'import gguf'; echo; done | best)
echo "model: $(stat -c %s "$model") bytes; best of $runs runs (hoist: of 20 back-to-back runs each), CPU seconds (user + system)"
echo "hoist inspect --gguf:          ${hoist_cpu}s"
echo "python gguf.GGUFReader:        ${python_cpu}s (of which 'import gguf' ${import_cpu}s)"
echo "ratio python/hoist:            $(echo "$python_cpu $hoist_cpu" | awk '{printf "%.1f", $1 / $2}')x, without the import: $(echo "$python_cpu $import_cpu $hoist_cpu" | awk '{printf "%.1f", ($1 - $2) / $3}')x"
