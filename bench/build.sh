#!/usr/bin/env bash
# Build benchmark. Builds an image holding a GGUF of SIZE_MIB (default 1024)
# copied from the build context, and compares, in the same run, with the hash
# bound: `openssl dgst -sha256` of the same file. The layer's tar must be read
# once, hashed once and written once, so a build into a store on tmpfs
# (/dev/shm: fsync is free) isolates hoist's own cost; goal: <= 1.3x the hash
# bound. Then a rebuild with nothing changed, into the same store: every step
# comes from the step cache and no weight byte is read; goal: < 0.5 s. Then the
# same build as a model artifact (`--format docker`, into an empty store): pack
# reads the context file once, hashing it as it writes its blob, and no tar
# layer is made of it; goal: <= 1.3x the hash bound, as for the image.
# Every run is printed with its ratios, then the spread.
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

# As bench/common.sh's (not sourced: it needs a registry this benchmark does not).
spread() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "min %s median %s max %s", v[1], v[int((NR+1)/2)], v[NR]}'; }

ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
holds() { local goal=$1; shift; [ "$(printf '%s\n' "$@" | awk -v g="$goal" '$1 > g' | wc -l)" = 0 ] && echo yes || echo no; }

cat "$model" > /dev/null # every contender reads from the page cache
build_ratios=(); artifact_ratios=(); cached_all=()
for run in $(seq "$runs"); do
  h=$(timed openssl dgst -sha256 "$model")
  rm -rf "$shm/store"
  b=$(timed target/release/hoist --store "$shm/store" build -q -t bench:1 "$work/ctx")
  c=$(timed target/release/hoist --store "$shm/store" build -q -t bench:1 "$work/ctx")
  target/release/hoist --store "$shm/store" build -t bench:1 "$work/ctx" | grep -q ', 1 step cached)' ||
    { echo "the rebuild did not come from the cache" >&2; exit 1; }
  rm -rf "$shm/store"
  a=$(timed target/release/hoist --store "$shm/store" build -q --format docker -t bench:artifact "$work/ctx")
  br=$(ratio "$b" "$h"); ar=$(ratio "$a" "$h")
  echo "run $run: openssl ${h}s, hoist build (tmpfs store) ${b}s, cached rebuild ${c}s, artifact build ${a}s; build/hash $br, artifact/hash $ar"
  build_ratios+=("$br"); artifact_ratios+=("$ar"); cached_all+=("$c")
done
echo "file: $bytes bytes; $runs runs (each run's ratios use that run's openssl time)"
echo "ratio build/hash:          $(spread "${build_ratios[@]}") (goal <= 1.3 in every run: $(holds 1.3 "${build_ratios[@]}"))"
echo "ratio artifact build/hash: $(spread "${artifact_ratios[@]}") (goal <= 1.3 in every run: $(holds 1.3 "${artifact_ratios[@]}"))"
echo "cached rebuild seconds:    $(spread "${cached_all[@]}") (goal < 0.5 in every run: $(holds 0.5 "${cached_all[@]}"))"
