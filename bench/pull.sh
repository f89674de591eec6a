#!/usr/bin/env bash
# Pull benchmark. Pushes a GGUF of SIZE_MIB (default 1024) once to a private
# docker-registry on a free loopback port, then in each run times, from the
# same registry and the same bytes:
#   hoist pull into a fresh store (verifies every blob; fsyncs before commit);
#   skopeo copy of the same artifact into a fresh oci: directory;
#   the hash bound: `openssl dgst -sha256` of the model (a pull must hash every byte);
#   the disk bound: `dd if=/dev/zero ... oflag=direct conv=fsync` writing as many
#   bytes durably to the same disk, past the page cache as hoist writes them
#   (a pull must write every byte and fsync before commit);
#   the floor: bench/floor_client.py, the least a client must do with the blob
#   (one GET, received straight into aligned buffers, hashed on one thread
#   while two write it with O_DIRECT, fsync, digest checked): on 2 cores the
#   registry's sending, the receiving, the hash and the writes share the
#   cores, so this is what the machine allows, and hoist/floor is hoist's own
#   overhead;
#   and, for scale, the same bytes fetched by curl and hashed by openssl in one
#   pipe (`curl | tee FILE | openssl dgst`): what a plain streaming client does.
# Goals: hoist at most 0.3x skopeo's time and at most 1.3x the floor, in every
# run (each run's ratios use that run's own times). Issue 9 first set 1.3x the
# hash bound; the floor itself misses that on this kind of machine (see
# docs/PERFORMANCE.md), so hoist/hash and floor/hash are printed beside it.
# every run is printed (with the requests hoist made for the model's blob,
# from the registry's access log), then the spread.
# Usage: bench/pull.sh [SIZE_MIB] [RUNS]      (BENCH_DIR: where stores go;
#        PULL_FLAGS: extra `hoist pull` flags, e.g. "--parts 8")
set -euo pipefail
size_mib="${1:-1024}"
runs="${2:-3}"
source "$(dirname "$0")/common.sh"
work="${BENCH_DIR:-target/bench-pull}"
need skopeo

setup_model
start_registry accesslog
src=$(temp_dir src)
pack_model "$src"
target/release/hoist --store "$src" push --progress none bench:1 "$registry/bench/m:1" >&2
runs_dir=$(temp_dir runs)

cat "$model" > /dev/null # every contender reads from the page cache
layer_url="http://$registry/v2/bench/m/blobs/$digest"
hash_ratios=(); skopeo_ratios=(); pulls=(); bound_ratios=(); floor_ratios=(); floor_hash=(); rss_max=0
for run in $(seq "$runs"); do
  rm -rf "$runs_dir"/*; sync
  h=$(timed openssl dgst -sha256 "$model")
  lines_before=$(wc -l < "$registry_log")
  # shellcheck disable=SC2086 # flags are words
  p=$(timed target/release/hoist --store "$runs_dir/store" pull --progress none --json ${PULL_FLAGS:-} "$registry/bench/m:1")
  requests=$(tail -n +"$((lines_before + 1))" "$registry_log" | grep -c "GET /v2/bench/m/blobs/$digest" || true)
  rss=$(cat "$work/rss")
  read_back=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_read_back"])' "$work/out")
  rm -rf "$runs_dir"/*; sync
  s=$(timed skopeo copy --src-tls-verify=false --preserve-digests "docker://$registry/bench/m:1" "oci:$runs_dir/skopeo:m")
  rm -rf "$runs_dir"/*; sync
  c=$(timed sh -c "curl -sf '$layer_url' | tee '$runs_dir/blob' | openssl dgst -sha256 >/dev/null")
  rm -rf "$runs_dir"/*; sync
  f=$(timed python3 bench/floor_client.py "$layer_url" "$runs_dir/floor" "${digest#sha256:}")
  rm -rf "$runs_dir"/*; sync
  d=$(timed dd if=/dev/zero of="$runs_dir/dd-copy" bs=1M count="$((bytes >> 20))" oflag=direct conv=fsync)
  hr=$(ratio "$p" "$h"); sr=$(ratio "$p" "$s"); br=$(ratio "$p" "$(max "$h" "$d")"); fr=$(ratio "$p" "$f")
  echo "run $run: openssl ${h}s, dd+fsync ${d}s, floor client ${f}s, hoist pull ${p}s (RSS $((rss / 1024)) MiB, $requests requests for the model blob, $read_back bytes read back), skopeo copy ${s}s, curl|tee|openssl ${c}s; hoist/hash $hr, hoist/max(hash,disk) $br, hoist/floor $fr, hoist/skopeo $sr"
  hash_ratios+=("$hr"); skopeo_ratios+=("$sr"); pulls+=("$p"); bound_ratios+=("$br"); floor_ratios+=("$fr"); floor_hash+=("$(ratio "$f" "$h")")
  rss_max=$((rss > rss_max ? rss : rss_max))
done
echo "model: $bytes bytes; $runs runs; registry at $registry"
echo "hoist pull seconds:  $(spread "${pulls[@]}")"
echo "ratio hoist/hash:    $(spread "${hash_ratios[@]}") (goal <= 1.3 in every run: $(holds 1.3 "${hash_ratios[@]}"))"
echo "ratio floor/hash:    $(spread "${floor_hash[@]}") (what the machine allowed against the hash goal)"
echo "ratio hoist/max(hash,disk): $(spread "${bound_ratios[@]}")"
echo "ratio hoist/floor:   $(spread "${floor_ratios[@]}") (goal <= 1.3 in every run: $(holds 1.3 "${floor_ratios[@]}"))"
echo "ratio hoist/skopeo:  $(spread "${skopeo_ratios[@]}") (goal <= 0.3 in every run: $(holds 0.3 "${skopeo_ratios[@]}"))"
echo "hoist peak RSS:      $((rss_max / 1024)) MiB"
