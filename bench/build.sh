#!/usr/bin/env bash
# Build benchmark. Builds an image holding a GGUF of SIZE_MIB (default 1024)
# copied from the build context, and compares, in the same run, with the hash
# bound: `openssl dgst -sha256` of the same file. The layer's tar must be read
# once, hashed once and written once, so a build into a store on tmpfs
# (/dev/shm: fsync is free) isolates hoist's own cost; goal: <= 1.3x the hash
# bound.
# Usage: bench/build.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
runs="${2:-3}"
work="${BENCH_DIR:-target/bench-build}"
shm="${BENCH_SHM:-/dev/shm/hoist-bench-build-$$}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
command -v openssl >/dev/null || { echo "needs openssl: apt-get install -y openssl" >&2; exit 1; }
trap 'rm -rf "$shm"' EXIT

cargo build --release --locked --bin hoist --example tiny-model >&2
mkdir -p "$work/ctx" "$shm"
model="$work/ctx/model.gguf"
[ -f "$model" ] && [ "$(stat -c %s "$model")" -ge $((size_mib * 1048576 / 2)) ] ||
  target/release/examples/tiny-model "$model" --size-mib "$size_mib" >&2
printf 'FROM scratch\nCOPY model.gguf /\nCMD ["-m", "model.gguf"]\n' > "$work/ctx/GGUFPackerfile"
bytes=$(stat -c %s "$model")

timed() {
  /usr/bin/time -f '%e' -o "$work/time" "$@" >/dev/null 2>&1
  cat "$work/time"
}
min() { echo "$1 $2" | awk '{print ($1 < $2) ? $1 : $2}'; }

cat "$model" > /dev/null # every contender reads from the page cache
hash=999; build=999
for run in $(seq "$runs"); do
  h=$(timed openssl dgst -sha256 "$model")
  rm -rf "$shm/store"
  b=$(timed target/release/hoist --store "$shm/store" build -q -t bench:1 "$work/ctx")
  echo "run $run: openssl ${h}s, hoist build (tmpfs store) ${b}s" >&2
  hash=$(min "$h" "$hash"); build=$(min "$b" "$build")
done
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
mibs() { echo "$bytes $1" | awk '{printf "%.0f MiB/s", $1 / $2 / 1048576}'; }
echo "file: $bytes bytes; best of $runs runs"
echo "hash bound (openssl dgst -sha256): ${hash}s ($(mibs "$hash"))"
echo "hoist build, store on tmpfs:       ${build}s ($(mibs "$build"))  ratio to hash bound: $(ratio "$build" "$hash") (goal <= 1.3)"
