#!/usr/bin/env bash
# Pack benchmark. Packs a GGUF of SIZE_MIB (default 1024) and compares, in the
# same run, with the two bounds a pack cannot beat:
#   hash bound: `openssl dgst -sha256` of the same file;
#   disk bound: `dd ... conv=fsync`, copying the same file durably to the disk.
# hoist fsyncs every blob before it becomes visible, so a pack into a store on
# the disk is bounded by the slower of the two. A pack into a store on tmpfs
# (/dev/shm: no disk, fsync is free) isolates hoist's own cost: read, hash and
# copy in one pass; its ratio to the hash bound is the goal (<= 1.2).
# Also reports hoist's peak RSS (goal: < 100 MiB).
# Usage: bench/pack.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
runs="${2:-3}"
work="${BENCH_DIR:-target/bench-pack}"
shm="${BENCH_SHM:-/dev/shm/hoist-bench-$$}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
command -v openssl >/dev/null || { echo "needs openssl: apt-get install -y openssl" >&2; exit 1; }
trap 'rm -rf "$shm" "$work/store" "$work/dd-copy"' EXIT

cargo build --release --locked --bin hoist --example tiny-model >&2
mkdir -p "$work" "$shm"
model="$work/model-${size_mib}MiB.gguf"
[ -f "$model" ] || target/release/examples/tiny-model "$model" --size-mib "$size_mib" >&2
bytes=$(stat -c %s "$model")

# Wall seconds of a command; its peak RSS (KiB) goes to $work/rss.
timed() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1
  read -r wall rss < "$work/time"
  echo "$rss" > "$work/rss"
  echo "$wall"
}
min() { echo "$1 $2" | awk '{print ($1 < $2) ? $1 : $2}'; }
hoist_pack() { timed target/release/hoist --store "$1" pack --progress none -q -t bench:1 "$model"; }

cat "$model" > /dev/null # every contender reads from the page cache
hash=999; disk=999; pack_disk=999; pack_mem=999; peak_rss=0
for run in $(seq "$runs"); do
  sync # start each run without writeback left over from the last
  h=$(timed openssl dgst -sha256 "$model")
  rm -f "$work/dd-copy"; sync
  d=$(timed dd if="$model" of="$work/dd-copy" bs=4M conv=fsync)
  rm -f "$work/dd-copy"; rm -rf "$work/store"; sync
  p=$(hoist_pack "$work/store")
  rss=$(cat "$work/rss")
  rm -rf "$shm/store"
  m=$(hoist_pack "$shm/store")
  echo "run $run: openssl ${h}s, dd+fsync ${d}s, hoist pack (disk) ${p}s, hoist pack (tmpfs) ${m}s, RSS $((rss / 1024)) MiB" >&2
  hash=$(min "$h" "$hash"); disk=$(min "$d" "$disk"); pack_disk=$(min "$p" "$pack_disk"); pack_mem=$(min "$m" "$pack_mem")
  peak_rss=$((rss > peak_rss ? rss : peak_rss))
done
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
mibs() { echo "$bytes $1" | awk '{printf "%.0f MiB/s", $1 / $2 / 1048576}'; }
bound=$(echo "$hash $disk" | awk '{print ($1 > $2) ? $1 : $2}')
echo "file: $bytes bytes; best of $runs runs"
echo "hash bound  (openssl dgst -sha256):  ${hash}s ($(mibs "$hash"))"
echo "disk bound  (dd conv=fsync):         ${disk}s ($(mibs "$disk"))"
echo "hoist pack, store on tmpfs:          ${pack_mem}s ($(mibs "$pack_mem"))  ratio to hash bound: $(ratio "$pack_mem" "$hash") (goal <= 1.2)"
echo "hoist pack, store on disk (fsync):   ${pack_disk}s ($(mibs "$pack_disk"))  ratio to hash bound: $(ratio "$pack_disk" "$hash"), to max(hash, disk): $(ratio "$pack_disk" "$bound")"
echo "hoist peak RSS:                      $((peak_rss / 1024)) MiB (goal < 100)"
