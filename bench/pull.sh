#!/usr/bin/env bash
# Pull benchmark. Pushes a GGUF of SIZE_MIB (default 1024) once to a private
# docker-registry on a free loopback port, then in each run times, from the
# same registry and the same bytes:
#   hoist pull into a fresh store (verifies every blob; fsyncs before commit);
#   skopeo copy of the same artifact into a fresh oci: directory;
#   the hash bound: `openssl dgst -sha256` of the model (a pull must hash every byte);
#   and, for scale, the same bytes fetched by curl and hashed by openssl in one
#   pipe (`curl | tee FILE | openssl dgst`): what a plain streaming client does.
# Goals: hoist at most 0.3x skopeo's time, at most 1.3x the hash bound.
# Usage: bench/pull.sh [SIZE_MIB] [RUNS]      (BENCH_DIR: where stores go;
#        PULL_FLAGS: extra `hoist pull` flags, e.g. "--parts 8")
set -euo pipefail
size_mib="${1:-1024}"
runs="${2:-3}"
source "$(dirname "$0")/common.sh"
work="${BENCH_DIR:-target/bench-pull}"
need skopeo

setup_model
start_registry
src=$(temp_dir src)
pack_model "$src"
target/release/hoist --store "$src" push --progress none bench:1 "$registry/bench/m:1" >&2
runs_dir=$(temp_dir runs)

cat "$model" > /dev/null # every contender reads from the page cache
layer_url="http://$registry/v2/bench/m/blobs/$digest"
hash=999; pull=999; skopeo=999; pipe=999
for run in $(seq "$runs"); do
  rm -rf "$runs_dir"/*; sync
  h=$(timed openssl dgst -sha256 "$model")
  # shellcheck disable=SC2086 # flags are words
  p=$(timed target/release/hoist --store "$runs_dir/store" pull --progress none ${PULL_FLAGS:-} "$registry/bench/m:1")
  rss=$(cat "$work/rss")
  rm -rf "$runs_dir"/*; sync
  s=$(timed skopeo copy --src-tls-verify=false --preserve-digests "docker://$registry/bench/m:1" "oci:$runs_dir/skopeo:m")
  rm -rf "$runs_dir"/*; sync
  c=$(timed sh -c "curl -sf '$layer_url' | tee '$runs_dir/blob' | openssl dgst -sha256 >/dev/null")
  echo "run $run: openssl ${h}s, hoist pull ${p}s (RSS $((rss / 1024)) MiB), skopeo copy ${s}s, curl|tee|openssl ${c}s" >&2
  hash=$(min "$h" "$hash"); pull=$(min "$p" "$pull"); skopeo=$(min "$s" "$skopeo"); pipe=$(min "$c" "$pipe")
done
echo "model: $bytes bytes; best of $runs runs; registry at $registry"
echo "hash bound (openssl dgst -sha256): ${hash}s ($(mibs "$hash"))"
echo "skopeo copy docker:// -> oci:     ${skopeo}s ($(mibs "$skopeo"))"
echo "curl | tee | openssl dgst:        ${pipe}s ($(mibs "$pipe"))"
echo "hoist pull:                       ${pull}s ($(mibs "$pull"))"
echo "ratio hoist/skopeo: $(ratio "$pull" "$skopeo") (goal <= 0.3)"
echo "ratio hoist/hash:   $(ratio "$pull" "$hash") (goal <= 1.3)"
echo "ratio hoist/pipe:   $(ratio "$pull" "$pipe")"
