#!/usr/bin/env python3
"""bench_text's text DiT training in Python torch (Debian's python3-torch), for a back-to-back comparison.

The DiT of configs/t2i_fmnist.toml as python/rflow mirrors it name for name (6 blocks x 96, patch 4,
4 heads, centred 2-D rope, QK-norm, long skips, cross-attention to Hunyuan-DiT's word encoder
(2 layers x 96 over 12 tokens) and character encoder (1 layer x 64 over 40 bytes), learned padding
vectors, a pooled text vector), on the same data: rows of two Fashion-MNIST train garments (28 x 56)
with their captions as word ids then character ids under one mask, 10% of the prompts dropped;
the same loss, Adam with warmup, clipping at 1.0 and an EMA update per step as bench_unet.
Usage: bench_text.py [threads] [device = cpu | cuda]
"""
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from rflow.fields import DiTVelocity  # noqa: E402
from system_info import system_info  # also gives OpenBLAS the kernels rflow would pick
from bench_unet import read_idx, DATA  # noqa: E402
from bench_dit import rflow_init  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DEV = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")
NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
WORDS, CHARS = 12, 40


def vocabulary():
    words = sorted({w for n in NAMES for w in n.split()} | {"a", "an", "left", "of", "above"})
    return {w: 4 + i for i, w in enumerate(words)}  # 0-3: pad, unknown, begin, end (as rflow's tokenizers)


def caption(a, b):
    art = lambda c: ("an " if NAMES[c][0] == "a" else "a ") + NAMES[c]  # noqa: E731
    return art(a) + " left of " + art(b)


def encode(text, vocab):
    """Word ids (begin, words, end) then byte ids + 4 (rflow's char tokenizer), and the mask."""
    w = [2] + [vocab[x] for x in text.split()] + [3]
    c = [b + 4 for b in text.encode()][:CHARS]
    ids = w + [0] * (WORDS - len(w)) + c + [0] * (CHARS - len(c))
    mask = [1.0] * len(w) + [0.0] * (WORDS - len(w)) + [1.0] * len(c) + [0.0] * (CHARS - len(c))
    return ids, mask


def model():
    o = {"patch": 4, "hidden": 96, "depth": 6, "heads": 4, "mlp_ratio": 4.0, "qk_norm": True, "rope": True,
         "rope_base": 14, "long_skips": True, "context_dim": 0, "context_len": 0, "time_dim": 256, "ffn": "mlp",
         "moe_from": 0, "moe": {},
         "text": {"words": 20, "word_len": WORDS, "word_dim": 96, "word_layers": 2, "char_len": CHARS, "char_dim": 64,
                  "char_layers": 1, "heads": 4}}
    return rflow_init(DiTVelocity(o, [1, 28, 56], 0), o["time_dim"]).to(DEV)


def batch(images, labels, vocab, n=64):
    """n rows of two garments with their captions' ids, as fashion_composites draws them."""
    idx = torch.randint(0, images.shape[0], (n, 2))
    x1 = torch.cat([images[idx[:, 0]], images[idx[:, 1]]], -1).float().div(127.5).sub(1).unsqueeze(1)
    enc = [encode(caption(int(labels[i]), int(labels[j])), vocab) for i, j in idx.tolist()]
    ids = torch.tensor([e[0] for e in enc], dtype=torch.int64)
    mask = torch.tensor([e[1] for e in enc])
    keep = (torch.rand(n) >= 0.1).float().unsqueeze(1)  # prompt dropout: the empty prompt
    return x1.to(DEV), (ids * keep.long()).to(DEV), (mask * keep).to(DEV)


def train_step(m, opt, ema, data, step):
    for g in opt.param_groups:
        g["lr"] = 5e-4 * min(1.0, (step + 1) / 100)
    x1, ids, mask = data
    x0 = torch.randn_like(x1)
    t = torch.rand(x1.shape[0], device=DEV)
    xt = x0 + t[:, None, None, None] * (x1 - x0)
    loss = F.mse_loss(m(xt, t, None, context=ids, mask=mask), x1 - x0)
    if DEV.type == "cpu" and not math.isfinite(loss.item()):
        raise RuntimeError("nan")
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for e, p in zip(ema, m.parameters()):
            e.lerp_(p, 1 - 0.999)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    images = read_idx(DATA + "train-images-idx3-ubyte.gz")
    labels = read_idx(DATA + "train-labels-idx1-ubyte.gz")
    vocab = vocabulary()
    torch.manual_seed(0)
    m = model()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=5e-4)
    ema = [p.detach().clone() for p in m.parameters()]
    for s in range(5):
        train_step(m, opt, ema, batch(images, labels, vocab), s)
    steps = 30
    t0 = time.perf_counter()
    for s in range(steps):  # the batch is drawn inside the timed loop, as rflow's trainer draws it
        train_step(m, opt, ema, batch(images, labels, vocab), 5 + s)
    if DEV.type == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - t0)
    print(json.dumps({"bench": "text_python", "threads": threads, "torch": torch.__version__, "device": str(DEV),
                      "t2i_train_steps_per_s_b64": rate, "parameters": sum(p.numel() for p in m.parameters()),
                      "system": system_info()}))


if __name__ == "__main__":
    main()
