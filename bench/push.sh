#!/usr/bin/env bash
# Push benchmark. The registry is the bound here: it hashes and writes every
# byte it receives. So in each run, to a new repository (nothing is skipped or
# mounted), this times:
#   hoist push of the packed model (config, layer, manifest, tag);
#   a plain monolithic upload of the same layer blob with curl: POST for an
#   upload session, then `curl -T MODEL -X PUT LOCATION&digest=...`;
#   skopeo copy of the same artifact from the store (an OCI image layout) to
#   the registry, reported beside.
# Goal: hoist at most 1.1x curl.
# Usage: bench/push.sh [SIZE_MIB] [RUNS]      (BENCH_DIR: where stores go)
set -euo pipefail
size_mib="${1:-1024}"
runs="${2:-3}"
source "$(dirname "$0")/common.sh"
work="${BENCH_DIR:-target/bench-push}"
need skopeo

setup_model
start_registry
src=$(temp_dir src)
pack_model "$src"
# The name the store's index.json gives the model, for skopeo's oci: transport.
[ -f "$src/blobs/sha256/${digest#sha256:}" ] || { echo "the model is not a blob of its own in the store" >&2; exit 1; }
name=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$src/index.json")

# A monolithic upload of the model to repository $1, as curl does it.
curl_upload() {
  local location
  location=$(curl -sf -X POST -o /dev/null -D - "http://$registry/v2/$1/blobs/uploads/" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  case "$location" in /*) location="http://$registry$location" ;; esac
  case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
  curl -sf -o /dev/null -T "$model" -X PUT -H 'Content-Type: application/octet-stream' "$location"
}

cat "$model" > /dev/null # every contender reads from the page cache
push=999; curl=999; skopeo=999
for run in $(seq "$runs"); do
  sync
  c=$(timed bash -c "$(declare -f curl_upload); registry=$registry digest=$digest model=$model curl_upload curl/r$run")
  [ "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$registry/v2/curl/r$run/blobs/$digest")" = 200 ] \
    || { echo "curl's upload is not in the registry" >&2; exit 1; }
  sync
  p=$(timed target/release/hoist --store "$src" push --progress none bench:1 "$registry/hoist/r$run:1")
  rss=$(cat "$work/rss")
  sync
  # skopeo remembers where it saw each blob and would mount it from the repository
  # hoist or curl just pushed; forget that, so it uploads like the others.
  rm -f /var/lib/containers/cache/blob-info-cache-v1.* "${XDG_DATA_HOME:-$HOME/.local/share}"/containers/cache/blob-info-cache-v1.*
  s=$(timed skopeo copy --dest-tls-verify=false --preserve-digests "oci:$src:$name" "docker://$registry/skopeo/r$run:1")
  echo "run $run: curl -T ${c}s, hoist push ${p}s (RSS $((rss / 1024)) MiB), skopeo copy ${s}s" >&2
  push=$(min "$p" "$push"); curl=$(min "$c" "$curl"); skopeo=$(min "$s" "$skopeo")
done
echo "model: $bytes bytes; best of $runs runs; registry at $registry"
echo "curl -T (monolithic PUT):   ${curl}s ($(mibs "$curl"))"
echo "hoist push:                 ${push}s ($(mibs "$push"))"
echo "skopeo copy oci: -> docker: ${skopeo}s ($(mibs "$skopeo"))"
echo "ratio hoist/curl:   $(ratio "$push" "$curl") (goal <= 1.1)"
echo "ratio skopeo/curl:  $(ratio "$skopeo" "$curl")"
