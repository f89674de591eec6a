#!/usr/bin/env bash
# A real llama-server through `hoist run` (not run in CI: it compiles llama.cpp).
#
# 1. Builds llama.cpp's llama-server from the source the llama-cpp-python sdist
#    on PyPI carries (vendor/llama.cpp); the build is kept and reused.
# 2. Makes a tiny GGUF model with hoist's own writer and packs it with a chat
#    template into a scratch store.
# 3. Starts `hoist run tiny:1 --by <llama-server> --port P` in the background,
#    waits for /health, posts one /v1/chat/completions request, prints the
#    answer and stops the server.
# 4. Asks the same model through `hoist chat tiny:1 "prompt"` (streamed, then
#    --json), which starts and stops llama-server itself, and checks that no
#    llama-server is left running.
#
# Needs: python3 with pip, cmake, a C++ compiler, curl, cargo.
# Usage: scripts/run-llama-server.sh [WORK_DIR]   (default target/run-llama-server)
# PORT picks the port (default 18080).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/run-llama-server}"
port="${PORT:-18080}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

for tool in python3 cmake curl cargo; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done

# --- 1. llama-server from the llama-cpp-python sdist -------------------------
server="$work/llama.cpp/build/bin/llama-server"
if [[ ! -x "$server" ]]; then
    rm -rf "$work/sdist" "$work/src"
    python3 -m pip download --no-binary :all: --no-deps --dest "$work/sdist" llama-cpp-python
    sdist="$(ls "$work"/sdist/llama_cpp_python-*.tar.gz | head -n 1)"
    mkdir -p "$work/src"
    tar -xzf "$sdist" -C "$work/src"
    vendored="$(ls -d "$work"/src/llama_cpp_python-*/vendor/llama.cpp | head -n 1)"
    [[ -f "$vendored/CMakeLists.txt" ]] || { echo "error: no llama.cpp source in $sdist" >&2; exit 1; }
    rm -rf "$work/llama.cpp"
    mv "$vendored" "$work/llama.cpp"
    rm -rf "$work/src"
    (
        cd "$work/llama.cpp"
        cmake -B build -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release
        cmake --build build --target llama-server -j2
    )
fi
"$server" --version || true

# --- 2. a tiny model, packed ------------------------------------------------
cargo build --release --locked --bin hoist --example tiny-model
hoist() { target/release/hoist --store "$work/store" "$@"; }
target/release/examples/tiny-model "$work/tiny.gguf"
cat > "$work/chatml.jinja" <<'EOF'
{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
EOF
hoist pack --progress none -t tiny:1 --chat-template "$work/chatml.jinja" --context-size 512 "$work/tiny.gguf"

echo "== the command"
hoist run tiny:1 --by "$server" --port "$port" --dry-run -- --jinja --threads 2

# --- 3. run, ask, stop --------------------------------------------------------
hoist run tiny:1 --by "$server" --port "$port" -- --jinja --threads 2 >"$work/server.log" 2>&1 &
pid=$!
# exec: $pid is llama-server itself once hoist has handed over.
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "error: the server exited; its log:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 1
done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || {
    echo "error: no /health after 120s; the log:" >&2
    cat "$work/server.log" >&2
    exit 1
}

echo "== the answer"
curl -fsS "http://127.0.0.1:$port/v1/chat/completions" \
    -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":16,"temperature":0}' \
    | tee "$work/answer.json"
echo
python3 -c 'import json, sys; print("content:", repr(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' \
    "$work/answer.json"
echo "== stopping the server"
stop
trap - EXIT

# --- 4. hoist chat: start, ask, stream, stop ----------------------------------
echo "== hoist chat (streamed)"
hoist chat tiny:1 --by "$server" --max-tokens 16 --temperature 0 "Say hello." -- --threads 2
echo "== hoist chat --json"
hoist chat tiny:1 --by "$server" --max-tokens 16 --temperature 0 --json "Say hello." -- --threads 2 \
    | tee "$work/chat.json"
python3 -c 'import json, sys; print("content:", repr(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"]))' \
    "$work/chat.json"
if ps -eo args | grep -F -- "$server" | grep -v grep; then
    echo "error: a llama-server is still running after hoist chat" >&2
    exit 1
fi
echo "== no llama-server left running"
