#!/usr/bin/env bash
# Pack benchmark: packing a GGUF of SIZE_MIB (default 1024) against the hash
# bound, `openssl dgst -sha256` of the same file, in the same run.
# Reports wall times, the ratio (goal: <= 1.2) and hoist's peak RSS (goal: < 100 MiB).
# Usage: bench/pack.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
runs="${2:-3}"
work="${BENCH_DIR:-target/bench-pack}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
command -v openssl >/dev/null || { echo "needs openssl: apt-get install -y openssl" >&2; exit 1; }

cargo build --release --locked --bin hoist --example tiny-model >&2
mkdir -p "$work"
model="$work/model-${size_mib}MiB.gguf"
[ -f "$model" ] || target/release/examples/tiny-model "$model" --size-mib "$size_mib" >&2
bytes=$(stat -c %s "$model")

seconds() { # wall seconds of a command, with its peak RSS in KiB written to $work/rss
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null
  read -r wall rss < "$work/time"
  echo "$rss" > "$work/rss"
  echo "$wall"
}

cat "$model" > /dev/null # warm the page cache: both sides read from memory
best_hash=999999; best_pack=999999; peak_rss=0
for run in $(seq "$runs"); do
  hash=$(seconds openssl dgst -sha256 "$model")
  rm -rf "$work/store"
  pack=$(seconds target/release/hoist --store "$work/store" pack --progress none -q -t bench:1 "$model")
  rss=$(cat "$work/rss")
  echo "run $run: openssl ${hash}s, hoist pack ${pack}s, hoist peak RSS $((rss / 1024)) MiB" >&2
  best_hash=$(echo "$hash $best_hash" | awk '{print ($1 < $2) ? $1 : $2}')
  best_pack=$(echo "$pack $best_pack" | awk '{print ($1 < $2) ? $1 : $2}')
  peak_rss=$((rss > peak_rss ? rss : peak_rss))
done
ratio=$(echo "$best_pack $best_hash" | awk '{printf "%.2f", $1 / $2}')
throughput=$(echo "$bytes $best_pack" | awk '{printf "%.0f", $1 / $2 / 1048576}')
echo "file: $bytes bytes; best of $runs runs"
echo "openssl dgst -sha256: ${best_hash}s"
echo "hoist pack:           ${best_pack}s (${throughput} MiB/s)"
echo "ratio hoist/openssl:  ${ratio} (goal <= 1.2)"
echo "hoist peak RSS:       $((peak_rss / 1024)) MiB (goal < 100)"
rm -rf "$work/store"
