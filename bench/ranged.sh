#!/usr/bin/env bash
# Ranged pull benchmark. nginx in front of a private docker-registry limits each
# connection to RATE (default 50m, i.e. 50 MB/s, `limit_rate`), as CDNs and
# object stores effectively do. Then in each run, through nginx:
#   hoist pull of the model (large blobs come as several ranged parts at once);
#   a single stream of the same blob: `hoist pull $SINGLE_STREAM_FLAGS` when that
#   variable is set (a hoist flag that turns ranged parts off), otherwise
#   `curl` of the blob into a file (a single stream that neither hashes nor
#   fsyncs: the single stream at its best).
#   skopeo copy of the same artifact (one stream per blob).
# Goal (issue 9): at least 6x skopeo for a 253 MB blob at RATE=20m in every run;
# with no limit (RATE=0), one request for the blob and no byte fetched twice.
# Every run is printed (with nginx's request count and the bytes it sent past
# the blob's size), then the spread.
# Usage: bench/ranged.sh [SIZE_MIB] [RUNS]
#   RATE=50m           nginx limit_rate per connection
#   BUFFERING=on|off   nginx proxy_buffering (both pass Range through)
#   BENCH_DIR          where stores go
set -euo pipefail
size_mib="${1:-1024}"
runs="${2:-3}"
source "$(dirname "$0")/common.sh"
work="${BENCH_DIR:-target/bench-ranged}"
rate="${RATE:-50m}"
buffering="${BUFFERING:-on}"
need nginx nginx
need skopeo
nginx=$(command -v nginx)

setup_model
start_registry
src=$(temp_dir src)
pack_model "$src"
[ -f "$src/blobs/sha256/${digest#sha256:}" ] || { echo "the model is not a blob of its own in the store" >&2; exit 1; }
target/release/hoist --store "$src" push --progress none bench:1 "$registry/bench/m:1" >&2

# nginx as a child process: config, pid, logs and temp files in a temp dir.
conf=$(temp_dir nginx)
proxy_port=$(free_port)
cat > "$conf/nginx.conf" <<NGINX
worker_processes auto;
pid $conf/nginx.pid;
error_log $conf/error.log warn;
events { worker_connections 1024; }
http {
  access_log $conf/access.log;
  client_body_temp_path $conf/client_body;
  proxy_temp_path $conf/proxy;
  fastcgi_temp_path $conf/fastcgi;
  uwsgi_temp_path $conf/uwsgi;
  scgi_temp_path $conf/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://$registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header Range \$http_range;
      proxy_set_header If-Range \$http_if_range;
      proxy_buffering $buffering;
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
      limit_rate $rate;
    }
  }
}
NGINX
"$nginx" -p "$conf" -e "$conf/error.log" -c "$conf/nginx.conf" -g 'daemon off;' &
bench_pids+=($!)
proxy="127.0.0.1:$proxy_port"
wait_http "http://$proxy/v2/" || { cat "$conf/error.log" >&2; exit 1; }
blob_url="http://$proxy/v2/bench/m/blobs/$digest"
[ "$(curl -s -o /dev/null -w '%{http_code}' -r 0-0 "$blob_url")" = 206 ] \
  || { echo "Range does not pass through nginx" >&2; exit 1; }

runs_dir=$(temp_dir runs)
single_stream() {
  if [ -n "${SINGLE_STREAM_FLAGS:-}" ]; then
    # shellcheck disable=SC2086 # flags are words
    timed target/release/hoist --store "$runs_dir/single" pull --progress none $SINGLE_STREAM_FLAGS "$proxy/bench/m:1"
  else
    timed curl -sf -o "$runs_dir/blob" "$blob_url"
  fi
}
single_name=${SINGLE_STREAM_FLAGS:+"hoist pull $SINGLE_STREAM_FLAGS"}
single_name=${single_name:-"curl (one stream)"}

speedups=(); skopeo_speedups=(); pulls=()
for run in $(seq "$runs"); do
  rm -rf "${runs_dir:?}"/*; sync
  lines_before=$(wc -l < "$conf/access.log")
  p=$(timed target/release/hoist --store "$runs_dir/store" pull --progress none "$proxy/bench/m:1")
  # What nginx sent for the blob: requests, and body bytes beyond the blob's size (re-fetched).
  read -r requests sent < <(tail -n +"$((lines_before + 1))" "$conf/access.log" | grep -F "/blobs/$digest" \
    | awk '{n++; b+=$10} END {print n+0, b+0}')
  rm -rf "${runs_dir:?}"/*; sync
  s=$(single_stream)
  rm -rf "${runs_dir:?}"/*; sync
  k=$(timed skopeo copy --src-tls-verify=false --preserve-digests "docker://$proxy/bench/m:1" "oci:$runs_dir/skopeo:m")
  su=$(ratio "$s" "$p"); ku=$(ratio "$k" "$p")
  echo "run $run: hoist pull ${p}s ($requests requests for the blob, $((sent - bytes)) bytes past its size), $single_name ${s}s, skopeo copy ${k}s; speed-up over single ${su}x, over skopeo ${ku}x"
  speedups+=("$su"); skopeo_speedups+=("$ku"); pulls+=("$p")
done
echo "model: $bytes bytes; $runs runs; nginx limit_rate $rate per connection, proxy_buffering $buffering"
echo "hoist pull seconds:        $(spread "${pulls[@]}")"
echo "speed-up over $single_name: $(spread "${speedups[@]}")"
echo "speed-up over skopeo copy: $(spread "${skopeo_speedups[@]}")"
