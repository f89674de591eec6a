#!/usr/bin/env python3
"""Regenerates llama-quantize.json: the reference llama-quantize's output digests
(whole file and per tensor) for every case below, on the synthetic models that
`cargo run -p hoist-quant --example synth` writes. Run through
scripts/llama-quantize-goldens.sh, which builds llama-quantize and sets LLAMA_QUANTIZE.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import gguf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
TOOL = os.environ["LLAMA_QUANTIZE"]

PURE = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q4_K_S", "Q5_K_S", "Q6_K",
        "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "F16", "BF16", "F32"]
WEIGHTED = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q4_K_S", "Q5_K_S", "Q6_K", "IQ4_NL", "IQ4_XS"]
MIXES = ["Q8_0", "Q4_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
         "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"]


def case(name, input, ftype, **opts):
    return dict(name=name, input=input, ftype=ftype, pure=opts.get("pure", False),
                imatrix=opts.get("imatrix"), leave_output_tensor=opts.get("leave_output_tensor", False),
                output_tensor_type=opts.get("output_tensor_type"),
                token_embedding_type=opts.get("token_embedding_type"),
                tensor_types=opts.get("tensor_types", []), allow_requantize=opts.get("allow_requantize", False),
                keep_split=opts.get("keep_split", False))


CASES = (
    [case(f"pure-{t}", "small.gguf", t, pure=True) for t in PURE]
    + [case(f"imatrix-pure-{t}", "small.gguf", t, pure=True, imatrix="small.imatrix.gguf") for t in WEIGHTED]
    + [case(f"mix-{t}", "small.gguf", t) for t in MIXES]
    + [case(f"odd-{t}", "odd.gguf", t) for t in ["Q4_K_M", "Q2_K", "Q3_K_M", "Q5_K_M", "Q6_K", "IQ4_XS", "TQ1_0", "Q8_0"]]
    + [
        case("imatrix-Q2_K_S", "small.gguf", "Q2_K_S", imatrix="small.imatrix.gguf"),
        case("imatrix-Q4_K_M", "small.gguf", "Q4_K_M", imatrix="small.imatrix.gguf"),
        case("imatrix-Q4_0", "small.gguf", "Q4_0", imatrix="small.imatrix.gguf"),
        case("imatrix-IQ4_XS", "small.gguf", "IQ4_XS", imatrix="small.imatrix.gguf"),
        case("legacy-imatrix-Q4_K_M", "small.gguf", "Q4_K_M", imatrix="small.imatrix.dat"),
        case("odd-imatrix-Q3_K_M", "odd.gguf", "Q3_K_M", imatrix="odd.imatrix.gguf"),
        case("leave-output-Q4_K_M", "small.gguf", "Q4_K_M", leave_output_tensor=True),
        case("types-Q5_K_M", "small.gguf", "Q5_K_M", output_tensor_type="q8_0", token_embedding_type="q4_k"),
        case("overrides-Q4_K_M", "small.gguf", "Q4_K_M", tensor_types=["attn_v=q8_0", "blk\\.[0-3]\\.ffn_down=q5_0"]),
        case("f16-Q4_K_M", "small-f16.gguf", "Q4_K_M"),
        case("f16-Q8_0", "small-f16.gguf", "Q8_0"),
        case("requant-Q4_K_M", "@pure-Q8_0", "Q4_K_M", allow_requantize=True),
        case("requant-Q6_K", "@mix-Q4_K_M", "Q6_K", allow_requantize=True),
    ]
    # Mixture of experts (8 experts: llama.cpp's rules single that count out) and Falcon
    # (its own output, attention output and FFN down rules).
    + [case(f"moe-{t}", "moe.gguf", t) for t in ["Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_XS",
                                                 "Q4_0"]]
    + [case(f"moe-imatrix-{t}", "moe.gguf", t, imatrix="moe.imatrix.gguf") for t in ["Q2_K_S", "Q4_K_M"]]
    + [case(f"falcon-{t}", "falcon.gguf", t) for t in ["Q2_K", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_M",
                                                       "Q8_0"]]
    # A split input read as one model, and --keep-split (shards as the input's, or one
    # shard named -00001-of-00001 for an unsplit input).
    + [
        case("split-Q4_K_M", "split-00001-of-00003.gguf", "Q4_K_M"),
        case("keep-split-Q4_K_M", "split-00001-of-00003.gguf", "Q4_K_M", keep_split=True),
        case("keep-split-one-Q8_0", "small.gguf", "Q8_0", keep_split=True),
    ]
)


def args_for(c):
    a = []
    if c["pure"]:
        a.append("--pure")
    if c["imatrix"]:
        a += ["--imatrix", c["imatrix"]]
    if c["leave_output_tensor"]:
        a.append("--leave-output-tensor")
    if c["output_tensor_type"]:
        a += ["--output-tensor-type", c["output_tensor_type"]]
    if c["token_embedding_type"]:
        a += ["--token-embedding-type", c["token_embedding_type"]]
    for t in c["tensor_types"]:
        a += ["--tensor-type", t]
    if c["allow_requantize"]:
        a.append("--allow-requantize")
    if c["keep_split"]:
        a.append("--keep-split")
    return a


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def described(path):
    """A file's digest and size, and its tensors' names, types and digests."""
    reader = gguf.GGUFReader(path)
    # Per-tensor digests only say where a mismatch is: 16 hex digits are plenty.
    tensors = [[t.name, t.tensor_type.name, hashlib.sha256(t.data.tobytes()).hexdigest()[:16]]
               for t in reader.tensors]
    return {"file": path.name, "sha256": digest(path), "size": path.stat().st_size, "tensors": tensors}


def main():
    with tempfile.TemporaryDirectory(prefix="hoist-quant-goldens-") as work:
        work = Path(work)
        subprocess.run(["cargo", "run", "-q", "-p", "hoist-quant", "--example", "synth", "--", str(work)],
                       cwd=REPO, check=True)
        out = {"llama_cpp": "llama-cpp-python 0.3.36 (llama.cpp 0c1e570)", "cases": []}
        for c in CASES:
            inp = c["input"]
            if inp.startswith("@"):
                inp = f"{inp[1:]}.gguf"
            target = f"{c['name']}.gguf"
            cmd = [TOOL, *args_for(c), inp, target, c["ftype"], "2"]
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"{c['name']}: llama-quantize failed:\n{r.stderr[-2000:]}")
            if c["keep_split"]:
                files = sorted(p.name for p in work.glob(f"{c['name']}-*-of-*.gguf"))
                out["cases"].append({**c, "shards": [described(work / f) for f in files]})
            else:
                out["cases"].append({**c, **described(work / target)})
            print(f"{c['name']}: done", file=sys.stderr)
        # One case per line keeps the file small and its diffs readable.
        cases = ",\n".join(json.dumps(c, separators=(",", ":")) for c in out["cases"])
        (HERE / "llama-quantize.json").write_text(
            f'{{"llama_cpp":{json.dumps(out["llama_cpp"])},"cases":[\n{cases}\n]}}\n')


if __name__ == "__main__":
    main()
