#!/usr/bin/env python3
"""Replays llama.cpp's graph allocator (ggml-alloc) over the llama graph of one ubatch, to
check the closed formula `hoist estimate` uses for the CPU compute buffer against it on
many more shapes than can be measured. See docs/ESTIMATE.md.

The graph is llama.cpp's `llama` architecture as reserved by sched_reserve (node order and
tensor sizes as GGML_SCHED_DEBUG=2 prints them, llama.cpp 0c1e570); the allocator is a port
of ggml_gallocr_alloc_graph_impl + ggml_dyn_tallocr (best fit among the free blocks, else
the end; in-place reuse of a parent for add/mul/norm/rope/softmax when the parent is not a
view and this is its last use). The formula is a copy of estimate.rs's CPU-only terms:
keep the two in step.

Usage: bench/estimate-replay.py [SWEEP_SIZE]   (default 1000 random shapes)
"""
import random
import sys

ALIGN = 32  # the CPU buffer's TENSOR_ALIGNMENT
INPLACE = {"ADD", "MUL", "RMS_NORM", "ROPE", "SOFT_MAX"}


def pad(x, to=ALIGN):
    return (x + to - 1) // to * to


class Tensor:
    def __init__(self, name, size, op="NONE", srcs=(), view_of=None, out=False, layout=None, external=False):
        self.name, self.size, self.op, self.srcs, self.out = name, size, op, list(srcs), out
        self.view_src = (view_of.view_src or view_of) if view_of is not None else None
        self.layout = layout if layout is not None else (name, size)
        self.external = external
        self.children = self.views = 0
        self.allocated = False
        self.addr = None


class Allocator:
    """ggml_dyn_tallocr with one chunk: sorted free blocks, the last one open-ended."""

    def __init__(self):
        self.free = [[0, 1 << 62]]
        self.max = 0

    def alloc(self, size):
        size = pad(size)
        best = None
        for i, (_, block) in enumerate(self.free[:-1]):
            if block >= size and (best is None or block <= self.free[best][1]):
                best = i
        if best is None:
            best = len(self.free) - 1
        off = self.free[best][0]
        self.free[best][0] += size
        self.free[best][1] -= size
        if self.free[best][1] == 0:
            del self.free[best]
        self.max = max(self.max, off + size)
        return off

    def release(self, off, size):
        size = pad(size)
        for i, block in enumerate(self.free):
            if block[0] + block[1] == off:
                block[1] += size
                if i + 1 < len(self.free) and block[0] + block[1] == self.free[i + 1][0]:
                    block[1] += self.free[i + 1][1]
                    del self.free[i + 1]
                return
            if off + size == block[0]:
                block[0], block[1] = off, block[1] + size
                if i > 0 and self.free[i - 1][0] + self.free[i - 1][1] == block[0]:
                    self.free[i - 1][1] += block[1]
                    del self.free[i]
                return
        self.free.append([off, size])
        self.free.sort()


def peak(leafs, nodes):
    """ggml_gallocr_alloc_graph_impl: the buffer size the graph needs."""
    mem = Allocator()

    def allocate(t):
        if t.external or t.allocated or t.view_src is not None:
            return
        t.allocated = True
        if t.op in INPLACE:
            for p in t.srcs:
                # Views are never marked allocated (ggml_gallocr_is_own), so never reused.
                if p.external or not p.allocated or p.out or p.layout != t.layout:
                    continue
                if p.children == 1 and p.views == 0:
                    t.addr, p.allocated = p.addr, False
                    if pad(p.size) > pad(t.size):
                        mem.release(t.addr + pad(t.size), pad(p.size) - pad(t.size))
                    return
        t.addr = mem.alloc(t.size)

    def free(t):
        if not t.out:
            mem.release(t.addr, t.size)
            t.allocated = False

    for leaf in leafs:
        allocate(leaf)
    for n in nodes:
        if n.view_src is not None:
            n.view_src.views += 1
        for s in n.srcs:
            s.children += 1
    for n in nodes:
        for p in n.srcs:
            allocate(p)
        allocate(n)
        for p in n.srcs:
            p.children -= 1
            if p.children == 0 and p.views == 0:
                if p.view_src is not None:
                    src = p.view_src
                    src.views -= 1
                    if src.views == 0 and src.children == 0 and src.allocated:
                        free(src)
                elif p.allocated:
                    free(p)
    return mem.max


def llama_graph(n_embd, n_ff, n_head, n_head_kv, n_vocab, n_layer, n_kv, n_tokens, n_outputs, fa, head=None):
    """The reserved graph of llama.cpp's llama architecture (f16 KV cache, no biases)."""
    d = head or n_embd // n_head
    t = n_tokens
    weight = Tensor("weight", 0, external=True)
    cache = Tensor("cache", 0, external=True)
    nodes = []

    def node(name, size, op, srcs, layout=None, out=False):
        n = Tensor(name, size, op, srcs, layout=layout, out=out)
        nodes.append(n)
        return n

    def view(name, of, layout=None):
        v = Tensor(name, of.size, "VIEW", [of], view_of=of, layout=layout)
        nodes.append(v)
        return v

    def write_cache(name, src, idxs):
        n = node(name, 0, "SET_ROWS", [src, idxs, cache])
        n.view_src = cache

    tokens = Tensor("inp_tokens", 4 * t)
    inp_embd = Tensor("inp_embd", 4 * n_embd * t)  # the embeddings input, unused by a token batch
    pos = Tensor("inp_pos", 4 * t)
    k_idxs = Tensor("k_idxs", 8 * t)
    v_idxs = Tensor("v_idxs", 8 * t * (1 if fa else n_head_kv * d))
    mask = Tensor("kq_mask", n_kv * t * (2 if fa else 4))
    out_ids = Tensor("out_ids", 4 * n_outputs)
    leafs = [tokens, inp_embd, pos, k_idxs, v_idxs, mask, out_ids]

    x = node("embd", 4 * n_embd * t, "GET_ROWS", [weight, tokens], ("e", t))
    for il in range(n_layer):
        e, q, kv, a = (4 * w * t for w in (n_embd, n_head * d, n_head_kv * d, n_head * d))
        norm = node("norm", e, "RMS_NORM", [x], ("e", t))
        attn_norm = node("attn_norm", e, "MUL", [norm, weight], ("e", t))
        qcur = node("Qcur", q, "MUL_MAT", [weight, attn_norm], ("q2", t))
        qrope = node("Qrope", q, "ROPE", [view("Qcur3d", qcur, ("q", t)), pos], ("q", t))
        vcur = node("Vcur", kv, "MUL_MAT", [weight, attn_norm], ("k2", t))
        vview = view("Vcur3d", vcur)
        kcur = node("Kcur", kv, "MUL_MAT", [weight, attn_norm], ("k2", t))
        krope = node("Krope", kv, "ROPE", [view("Kcur3d", kcur, ("k", t)), pos], ("k", t))
        write_cache("cache_k", view("Kview", krope), k_idxs)
        write_cache("cache_v", view("Vview", vview), v_idxs)
        qperm = view("Qperm", view("Q4d", qrope))
        if fa:
            fa_out = node("fattn", a, "FLASH_ATTN_EXT", [qperm, cache, cache, mask], ("a", t))
            attn = view("fattn2d", fa_out, ("e2", t))
        else:
            kq = node("kq", 4 * n_kv * t * n_head, "MUL_MAT", [cache, qperm], ("s",))
            softmax = node("kq_soft_max", kq.size, "SOFT_MAX", [kq, mask], ("s",))
            kqv = node("kqv", a, "MUL_MAT", [cache, softmax], ("kqv",))
            attn = node("kqv_out", a, "CONT", [view("kqv_perm", kqv)], ("e2", t))
        attn_out = node("attn_out", e, "MUL_MAT", [weight, attn], ("e", t))
        rows = t
        if il == n_layer - 1:
            rows = n_outputs
            attn_out = node("attn_rows", 4 * n_embd * rows, "GET_ROWS", [attn_out, out_ids], ("e", rows))
            x = node("x_rows", 4 * n_embd * rows, "GET_ROWS", [x, out_ids], ("e", rows))
        e, f = 4 * n_embd * rows, 4 * n_ff * rows
        ffn_inp = node("ffn_inp", e, "ADD", [attn_out, x], ("e", rows))
        norm = node("norm", e, "RMS_NORM", [ffn_inp], ("e", rows))
        ffn_norm = node("ffn_norm", e, "MUL", [norm, weight], ("e", rows))
        gate = node("ffn_gate", f, "MUL_MAT", [weight, ffn_norm], ("f", rows))
        up = node("ffn_up", f, "MUL_MAT", [weight, ffn_norm], ("f", rows))
        swiglu = node("ffn_swiglu", f, "GLU", [gate, up], ("f", rows))
        ffn_out = node("ffn_out", e, "MUL_MAT", [weight, swiglu], ("e", rows))
        x = node("l_out", e, "ADD", [ffn_out, ffn_inp], ("e", rows))
    e = 4 * n_embd * n_outputs
    norm = node("norm", e, "RMS_NORM", [x], ("e", n_outputs))
    result_norm = node("result_norm", e, "MUL", [norm, weight], ("e", n_outputs), out=True)
    node("result_output", 4 * n_vocab * n_outputs, "MUL_MAT", [weight, result_norm], ("v", n_outputs), out=True)
    return leafs, nodes


def replay(*shape, **kw):
    return peak(*llama_graph(*shape, **kw))


def formula(n_embd, n_ff, n_head, n_head_kv, n_vocab, n_layer, n_kv, n_tokens, n_outputs, fa, head=None):
    """estimate.rs, CPU only (every layer on the CPU), one cache size."""
    d = head or n_embd // n_head
    x = lambda width: 4 * n_tokens * width  # noqa: E731
    e, q, k, v, a, s, f = (x(w) for w in (n_embd, n_head * d, n_head_kv * d, n_head_kv * d, n_head * d, n_head * n_kv, n_ff))
    # V, K and RoPE'd K: in the slot Q's projection freed, or the norm's, else on top.
    k_on_top = k + v > q
    krope_on_top = k > e and (k_on_top or k > q - v - k)
    qkv = 2 * e + 2 * q + k * (k_on_top + krope_on_top)
    if fa:
        attention, below = qkv, e + a
    else:
        attention = max(qkv, 2 * e + 2 * q + s)
        below = e + a if s <= e + q else (e if a >= e else e + 2 * a)

    def ffn(e, f):
        hole = below if f > below else (e if f > e else 0)
        return e + 3 * f + hole

    last = ffn(4 * n_outputs * n_embd, 4 * n_outputs * n_ff)
    layer = max(attention, ffn(e, f) if n_layer > 1 else 0, last)
    output = 4 * n_outputs * (n_embd + n_vocab)
    inputs = n_kv * n_tokens * (2 if fa else 4) + 8 * n_tokens * (1 + (1 if fa else n_head_kv * d)) + 4 * n_tokens
    return inputs + max(layer, output) + 4 * n_tokens + e


# bench/estimate-vs-llama.sh's rows: shape, n_kv (padded -c), n_tokens, flash attention,
# and the CPU compute buffer llama.cpp 0c1e570 printed, in MiB.
MEASURED = [
    ((256, 512, 4, 2, 320, 1), 512, 512, 1, 3.01),
    ((256, 512, 4, 2, 320, 1), 512, 512, 0, 8.01),
    ((4096, 11008, 32, 8, 32000, 4), 2048, 512, 1, 98.51),
    ((4096, 11008, 32, 8, 32000, 4), 2048, 512, 0, 176.01),
    ((4096, 11008, 32, 8, 32000, 4), 8192, 512, 1, 104.51),
    ((4096, 11008, 32, 8, 32000, 4), 8192, 512, 0, 572.01),
    ((4096, 11008, 32, 8, 32000, 4), 512, 128, 0, 23.38),
    ((2048, 5632, 32, 8, 32000, 6), 4096, 512, 1, 53.01),
    ((2048, 5632, 32, 8, 32000, 6), 4096, 512, 0, 286.01),
    ((1024, 2816, 16, 8, 16000, 8), 2048, 256, 0, 40.00),
    ((2048, 8192, 16, 16, 50000, 4), 2048, 512, 1, 66.01),
    ((2048, 8192, 16, 16, 50000, 4), 2048, 512, 0, 96.01),
    ((2048, 2048, 16, 4, 32000, 4), 4096, 512, 1, 24.01),
    ((2048, 2048, 16, 4, 32000, 4), 4096, 512, 0, 158.01),
    ((1024, 4096, 8, 1, 152064, 4), 16384, 1024, 1, 96.02),
    ((1024, 4096, 8, 1, 152064, 4), 16384, 1024, 0, 597.02),
    ((3072, 8192, 24, 8, 32064, 3), 4352, 512, 1, 76.26),
    ((3072, 8192, 24, 8, 32064, 3), 4352, 384, 0, 184.88),
    ((1536, 2304, 12, 2, 64000, 5), 3072, 200, 1, 9.97),
    ((1536, 2304, 12, 2, 64000, 5), 3072, 200, 0, 36.72),
    ((512, 1536, 8, 8, 4096, 12), 32768, 2048, 1, 180.05),
    ((512, 1536, 8, 8, 4096, 12), 32768, 2048, 0, 2332.03),
]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    mib = 1 << 20
    print(f"{'shape':<34} {'n_kv':>6} {'ub':>5} {'fa':>3} {'llama.cpp':>10} {'replay':>10} {'formula':>10}")
    for shape, n_kv, ub, fa, measured in MEASURED:
        args = (*shape, n_kv, ub, 1, bool(fa))
        print(f"{str(shape):<34} {n_kv:>6} {ub:>5} {fa:>3} {measured:>10.2f} "
              f"{replay(*args) / mib:>10.2f} {formula(*args) / mib:>10.2f}")

    # Random llama-architecture shapes: how far the formula is from the replay.
    rng = random.Random(1)
    errors = []
    while len(errors) < n:
        head = rng.choice([64, 128, 256])
        n_head = rng.choice([4, 8, 16, 32, 64])
        n_embd = head * n_head if rng.random() < 0.8 else rng.choice([2304, 2560, 3072, 5120])
        if n_embd % n_head:
            continue
        head = n_embd // n_head if rng.random() < 0.7 else head
        n_head_kv = max(1, n_head // rng.choice([1, 2, 4, 8, n_head]))
        n_ff = int(n_embd * rng.choice([1, 1.5, 2, 2.5, 2.6875, 3, 3.5, 4, 5.375, 8])) // 32 * 32
        n_tokens = rng.choice([128, 256, 512, 1024, 2048])
        n_kv = max(n_tokens, rng.choice([512, 2048, 4096, 8192, 32768, 131072]))
        args = (n_embd, n_ff, n_head, n_head_kv, 32000, 3, n_kv, n_tokens, 1, rng.random() < 0.5)
        r, f = replay(*args, head=head), formula(*args, head=head)
        errors.append(((f - r) / r * 100, args, head))
    errors.sort(key=lambda x: -abs(x[0]))
    within = lambda p: sum(1 for e in errors if abs(e[0]) <= p)  # noqa: E731
    print(f"\n{n} random shapes, formula against replay: {within(0.01)} exact, {within(1)} within 1%, "
          f"{within(5)} within 5%, {within(10)} within 10%. Worst:")
    for err, args, head in errors[:8]:
        print(f"  {err:+6.1f}%  n_embd {args[0]} n_ff {args[1]} heads {args[2]}/{args[3]} x {head} "
              f"n_kv {args[6]} ubatch {args[7]} fa {int(args[9])}")


if __name__ == "__main__":
    main()
