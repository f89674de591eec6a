#!/usr/bin/env bash
# The main job on the embedded default, no registry and no network: build hoist,
# make a small GGUF model with hoist's own writer, pack it into a local store,
# then list and inspect it. Pass a directory to keep the store elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/quickstart}"
mkdir -p "$work"

cargo build --release --locked --bin hoist --example tiny-model
target/release/examples/tiny-model "$work/tiny-llama.Q8_0.gguf"
hoist() { target/release/hoist --store "$work/store" "$@"; }

hoist pack "$work/tiny-llama.Q8_0.gguf" -t tiny-llama:q8_0
hoist list
hoist inspect tiny-llama:q8_0
