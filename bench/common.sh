# Shared by the transfer benchmarks (pull.sh, push.sh, ranged.sh); sourced, not run.
# Builds hoist, makes the model, starts a private docker-registry, times commands.
# Every process started here is killed by its pid, and every temp dir removed, on exit.

cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { # need PROGRAM [DEBIAN-PACKAGE]
  command -v "$1" >/dev/null || { echo "needs $1: apt-get install -y ${2:-$1}" >&2; exit 1; }
}
need /usr/bin/time time
need openssl
need curl
need python3
need docker-registry

bench_pids=()
bench_cleanup() {
  for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -z "${work:-}" ] || rm -rf "$work/tmp.$$"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# A new dir (absolute path) under $work/tmp.PID, on the same disk as the
# stores; all of them are removed on exit. ($$ is this script's pid in
# subshells too, so this works inside $(...).)
temp_dir() {
  mkdir -p "$work/tmp.$$"
  mktemp -d "$(realpath "$work/tmp.$$")/$1.XXXXXX"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers 200 (max 10 s).
wait_http() {
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.05
  done
  echo "$1 did not answer" >&2
  return 1
}

# Builds hoist and writes the model ($model, $bytes, $digest) once.
setup_model() {
  mkdir -p "$work"
  cargo build --release --locked --bin hoist --example tiny-model >&2
  model="$work/model-${size_mib}MiB.gguf"
  [ -f "$model" ] || target/release/examples/tiny-model "$model" --size-mib "$size_mib" >&2
  bytes=$(stat -c %s "$model")
  digest="sha256:$(openssl dgst -sha256 -r "$model" | cut -d' ' -f1)"
}

# Starts CNCF distribution on a free port, its storage in a temp dir on the disk
# (like hoist-testkit). Sets $registry (host:port).
# start_registry [accesslog]: with "accesslog", every request goes to
# $registry_log (bench/pull.sh counts the blob's requests there).
start_registry() {
  local dir port access=true
  [ "${1:-}" = accesslog ] && access=false
  dir=$(temp_dir registry)
  port=$(free_port)
  cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: $access
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(openssl rand -hex 16)
EOF
  # REGISTRY_* variables would override the config file.
  env $(env | grep -o '^REGISTRY_[^=]*' | sed 's/^/-u /') docker-registry serve "$dir/config.yml" > "$dir/registry.log" 2>&1 &
  bench_pids+=($!)
  registry="127.0.0.1:$port"
  registry_log="$dir/registry.log"
  wait_http "http://$registry/v2/" || { cat "$dir/registry.log" >&2; exit 1; }
}

# Packs the model into store $1 as bench:1.
pack_model() {
  target/release/hoist --store "$1" pack --progress none -q -t bench:1 "$model" >&2
}

# Wall seconds of a command (it must succeed); its peak RSS (KiB) goes to $work/rss.
timed() {
  if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out" 2>&1; then
    echo "failed: $*" >&2
    cat "$work/out" >&2
    exit 1
  fi
  local wall rss
  read -r wall rss < <(tail -n 1 "$work/time")
  echo "$rss" > "$work/rss"
  echo "$wall"
}
min() { echo "$1 $2" | awk '{print ($1 < $2) ? $1 : $2}'; }
max() { echo "$1 $2" | awk '{print ($1 > $2) ? $1 : $2}'; }
# "min 0.71 median 0.80 max 1.02" of the numbers given.
spread() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "min %s median %s max %s", v[1], v[int((NR+1)/2)], v[NR]}'; }
# "yes" when every number given is at most the goal.
holds() { local goal=$1; shift; [ "$(printf '%s\n' "$@" | awk -v g="$goal" '$1 > g' | wc -l)" = 0 ] && echo yes || echo no; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
mibs() { echo "$bytes $1" | awk '{printf "%.0f MiB/s", $1 / $2 / 1048576}'; }
