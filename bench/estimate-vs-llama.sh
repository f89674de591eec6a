#!/usr/bin/env bash
# `hoist estimate` against what llama.cpp really allocates, on the CPU: for each row
# below, writes a synthetic llama model of that shape (tiny-model example), starts
# llama-server on it until it logs its buffer sizes, stops it, and prints llama.cpp's
# compute buffer, KV cache and output buffer beside hoist's figures for the same options.
#
# llama-server is the one scripts/run-llama-server.sh builds (from the llama.cpp source the
# llama-cpp-python sdist carries); run that script once first, or set LLAMA_SERVER. Nothing
# is rebuilt here but hoist and the example.
# Usage: bench/estimate-vs-llama.sh [WORK_DIR]   (default target/bench-estimate)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/bench-estimate}"
server="${LLAMA_SERVER:-target/run-llama-server/llama.cpp/build/bin/llama-server}"
[[ -x "$server" ]] || { echo "no llama-server at $server: run scripts/run-llama-server.sh once, or set LLAMA_SERVER" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
cargo build --release --locked --bin hoist --example tiny-model >&2
mkdir -p "$work"

# name | tiny-model shape flags | options given to both (llama-server spelling)
rows=(
  "Q||-c 512 -fa on"
  "Q||-c 512 -fa off"
  "A|--size-mib 1024|-c 2048 -fa on"
  "A|--size-mib 1024|-c 2048 -fa off"
  "A|--size-mib 1024|-c 8192 -fa on"
  "A|--size-mib 1024|-c 8192 -fa off"
  "A|--size-mib 1024|-c 512 -b 512 -ub 128 -fa off"
  "B|--embd 2048 --ff 5632 --heads 32 --kv-heads 8 --vocab 32000 --layers 6|-c 4096 -fa on"
  "B|--embd 2048 --ff 5632 --heads 32 --kv-heads 8 --vocab 32000 --layers 6|-c 4096 -fa off"
  "C|--embd 1024 --ff 2816 --heads 16 --kv-heads 8 --vocab 16000 --layers 8|-c 2048 -ub 256 -fa off"
  "D|--embd 2048 --ff 8192 --heads 16 --kv-heads 16 --vocab 50000 --layers 4|-c 2048 -fa on"
  "D|--embd 2048 --ff 8192 --heads 16 --kv-heads 16 --vocab 50000 --layers 4|-c 2048 -fa off"
  "E|--embd 2048 --ff 2048 --heads 16 --kv-heads 4 --vocab 32000 --layers 4|-c 4096 -fa on"
  "E|--embd 2048 --ff 2048 --heads 16 --kv-heads 4 --vocab 32000 --layers 4|-c 4096 -fa off"
  "F|--embd 1024 --ff 4096 --heads 8 --kv-heads 1 --vocab 152064 --layers 4|-c 16384 -b 1024 -ub 1024 -fa on"
  "F|--embd 1024 --ff 4096 --heads 8 --kv-heads 1 --vocab 152064 --layers 4|-c 16384 -b 1024 -ub 1024 -fa off"
  "G|--embd 3072 --ff 8192 --heads 24 --kv-heads 8 --vocab 32064 --layers 3|-c 4100 -fa on"
  "G|--embd 3072 --ff 8192 --heads 24 --kv-heads 8 --vocab 32064 --layers 3|-c 4100 -ub 384 -fa off"
  "H|--embd 1536 --ff 2304 --heads 12 --kv-heads 2 --vocab 64000 --layers 5|-c 3000 -ub 200 -fa on"
  "H|--embd 1536 --ff 2304 --heads 12 --kv-heads 2 --vocab 64000 --layers 5|-c 3000 -ub 200 -fa off"
  "I|--embd 512 --ff 1536 --heads 8 --kv-heads 8 --vocab 4096 --layers 12|-c 32768 -b 4096 -ub 2048 -fa on"
  "I|--embd 512 --ff 1536 --heads 8 --kv-heads 8 --vocab 4096 --layers 12|-c 32768 -b 4096 -ub 2048 -fa off"
)

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# llama-server's log line "<what> buffer size = X MiB" -> X
mib() { sed -n "s/.*CPU *$1 buffer size = *\([0-9.]*\) MiB.*/\1/p" "$2" | tail -n 1; }

# Starts llama-server, waits for the compute buffer line (the graph is reserved by then),
# stops it. Fitting to free memory (-fit) is off: it would reserve a probe context first.
measure() { # LOG MODEL OPTIONS...
  local log="$1" model="$2"
  shift 2
  local port=$((20000 + RANDOM % 20000))
  "$server" -m "$model" --host 127.0.0.1 --port "$port" -t 2 -ngl 0 -np 1 -fit off --no-warmup -lv 4 "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 600); do
    grep -q "compute buffer size" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q "compute buffer size" "$log" || { echo "llama-server did not get to its compute buffer; $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
}

# llama-server's spelling of the options -> hoist estimate's.
hoist_options() {
  local out=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -c) out+=(--ctx-size "$2"); shift 2 ;;
      -b) out+=(--batch-size "$2"); shift 2 ;;
      -ub) out+=(--ubatch-size "$2"); shift 2 ;;
      -fa) [[ "$2" == on ]] && out+=(--flash-attn); shift 2 ;;
      *) echo "unknown option $1" >&2; exit 1 ;;
    esac
  done
  echo "${out[@]}"
}

"$server" --version 2>&1 | grep -i version || true
printf '%-3s %-34s %-34s %12s %12s %7s %9s %9s %9s %9s\n' "" "shape (embd/ff/heads/kv/vocab x layers)" "options" \
  "llama MiB" "hoist MiB" "diff" "KV llama" "KV hoist" "out llama" "out hoist"
for row in "${rows[@]}"; do
  IFS='|' read -r name flags options <<<"$row"
  model="$work/$name.gguf"
  [[ -f "$model" ]] || target/release/examples/tiny-model "$model" $flags >/dev/null
  log="$work/$name.log"
  measure "$log" "$model" $options
  json="$(target/release/hoist estimate "$model" --gpu-layers 0 --json $(hoist_options $options))"
  python3 - "$json" "$(mib compute "$log")" "$(mib KV "$log")" "$(mib output "$log")" "$name" "$options" "$log" <<'PY'
import json, re, sys
e = json.loads(sys.argv[1])
llama_compute, llama_kv, llama_out = (float(x) for x in sys.argv[2:5])
name, options, log = sys.argv[5:8]
text = open(log).read()
def hp(key):
    m = re.search(rf"print_info: {key} += (\d+)", text)
    return m.group(1) if m else "?"
shape = f"{hp('n_embd')}/{hp('n_ff')}/{hp('n_head')}/{hp('n_head_kv')}/{hp('n_vocab')} x {hp('n_layer')}"
MiB = 1 << 20
ram = e["ram"]
compute = ram["compute"] / MiB
diff = (compute - llama_compute) / llama_compute * 100
print(f"{name:<3} {shape:<34} {options:<34} {llama_compute:12.2f} {compute:12.2f} {diff:+6.1f}% "
      f"{llama_kv:9.2f} {ram['kv_cache'] / MiB:9.2f} {llama_out:9.2f} {ram['output_buffer'] / MiB:9.2f}")
PY
done
