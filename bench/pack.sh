#!/usr/bin/env bash
# Pack benchmark. Packs a GGUF of SIZE_MIB (default 1024) and compares, in the
# same run, with the two bounds a pack cannot beat:
#   hash bound: `openssl dgst -sha256` of the same file;
#   disk bound: `dd ... conv=fsync`, copying the same file durably to the disk;
# and with the floor: bench/floor_client.py reading the file into aligned
# buffers, hashing them on one thread while two write them with O_DIRECT, then
# fsync (the least a pack must do: what the machine allows at that moment;
# pack/floor is hoist's own overhead).
# hoist fsyncs every blob before it becomes visible, so a pack into a store on
# the disk is bounded by the slower of the two. A pack into a store on tmpfs
# (/dev/shm: no disk, fsync is free) isolates hoist's own cost: read, hash and
# copy in one pass. Goal: at most 1.2x the floor in every run, on disk (the
# store writes past the page cache where the file system allows); each run's
# ratios use that run's own times. Issue 9 first set 1.2x the hash bound; on
# this kind of machine the disk alone often misses that, so pack/hash (disk
# and tmpfs) and floor/hash are printed beside it.
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
trap 'rm -rf "$shm" "$work/store" "$work/dd-copy" "$work/floor-copy"' EXIT

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
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
spread() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "min %s median %s max %s", v[1], v[int((NR+1)/2)], v[NR]}'; }
holds() { local goal=$1; shift; [ "$(printf '%s\n' "$@" | awk -v g="$goal" '$1 > g' | wc -l)" = 0 ] && echo yes || echo no; }
hoist_pack() { timed target/release/hoist --store "$1" pack --progress none -q -t bench:1 "$model"; }

cat "$model" > /dev/null # every contender reads from the page cache
digest=$(openssl dgst -sha256 -r "$model" | cut -d' ' -f1)
disk_ratios=(); mem_ratios=(); floor_ratios=(); floor_hash=(); packs=(); peak_rss=0
for run in $(seq "$runs"); do
  sync # start each run without writeback left over from the last
  h=$(timed openssl dgst -sha256 "$model")
  rm -rf "$work/store"; sync
  p=$(hoist_pack "$work/store")
  rss=$(cat "$work/rss")
  rm -rf "$work/store"; sync
  f=$(timed python3 bench/floor_client.py "$model" "$work/floor-copy" "$digest")
  ! grep -q "non-zero status" "$work/time" || { echo "the floor client failed" >&2; exit 1; }
  rm -f "$work/floor-copy"
  rm -rf "$shm/store"
  m=$(hoist_pack "$shm/store")
  # Last: the virtual disk goes on writing back dd's gigabyte after its fsync
  # returns, which slows whatever writes next.
  rm -f "$work/dd-copy"; sync
  d=$(timed dd if="$model" of="$work/dd-copy" bs=4M conv=fsync)
  rm -f "$work/dd-copy"; sync
  dr=$(ratio "$p" "$h"); mr=$(ratio "$m" "$h"); fr=$(ratio "$p" "$f")
  echo "run $run: openssl ${h}s, dd+fsync ${d}s, floor client ${f}s, hoist pack (disk) ${p}s, hoist pack (tmpfs) ${m}s, RSS $((rss / 1024)) MiB; pack/hash disk $dr, tmpfs $mr; pack/floor $fr"
  disk_ratios+=("$dr"); mem_ratios+=("$mr"); floor_ratios+=("$fr"); floor_hash+=("$(ratio "$f" "$h")"); packs+=("$p")
  peak_rss=$((rss > peak_rss ? rss : peak_rss))
done
echo "file: $bytes bytes; $runs runs"
echo "hoist pack seconds (disk):        $(spread "${packs[@]}")"
echo "ratio pack/hash, store on disk:   $(spread "${disk_ratios[@]}") (goal <= 1.2 in every run: $(holds 1.2 "${disk_ratios[@]}"))"
echo "ratio pack/hash, store on tmpfs:  $(spread "${mem_ratios[@]}") (goal <= 1.2 in every run: $(holds 1.2 "${mem_ratios[@]}"))"
echo "ratio floor/hash:                 $(spread "${floor_hash[@]}")"
echo "ratio pack/floor (disk):          $(spread "${floor_ratios[@]}") (goal <= 1.2 in every run: $(holds 1.2 "${floor_ratios[@]}"))"
echo "hoist peak RSS:                   $((peak_rss / 1024)) MiB (goal < 100)"
