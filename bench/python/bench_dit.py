#!/usr/bin/env python3
"""The bench_dit recipe in Python torch (Debian's python3-torch), for a back-to-back comparison.

The same DiT as rflow/nn/dit.cpp at the dit_fmnist.toml size (6 blocks x 96, patch 4, 4 heads, 2-D
rope, QK-norm, long skips, 10 classes), dense and with the DeepSeekMoE feed-forward of
dit_moe_fmnist.toml (the routing bias updated after each step, as rflow's trainer does); the same
data (Fashion-MNIST train images in [-1, 1], N(0, I) noise, 10% label dropout), loss, Adam with
warmup, clipping at 1.0 and an EMA update per step. Sampling: images/s at NFE 1, batch 500.
Usage: bench_dit.py [threads] [device = cpu | cuda] [all | train]
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
import bench_unet  # noqa: E402
from bench_unet import read_idx, DATA  # noqa: E402

DEV = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def dit(moe):
    o = {"patch": 4, "hidden": 96, "depth": 6, "heads": 4, "mlp_ratio": 4.0, "qk_norm": True, "rope": True,
         "rope_base": 0, "long_skips": True, "context_dim": 0, "context_len": 0, "time_dim": 256,
         "ffn": "moe" if moe else "mlp", "moe_from": 1,
         "moe": {"experts": 8, "shared": 1, "top_k": 2, "hidden": 128, "groups": 1, "limited_groups": 1,
                 "score": "sigmoid", "route_scale": 1.0, "bias_rate": 1e-3, "balance_loss": 0.0}}
    return rflow_init(DiTVelocity(o, [1, 28, 28], 10), o["time_dim"]).to(DEV)


def rflow_init(model, time_dim):
    """A DiT initialised as rflow initialises it: time frequencies at scale 100, adaLN-Zero, zero output."""
    half = time_dim // 2
    with torch.no_grad():
        model.temb.freqs.copy_(torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * 100.0)
        for name, m in model.named_modules():
            if name.endswith("ada") or name in ("final", "final_ada"):
                m.weight.zero_()
                m.bias.zero_()
    return model


def train_step(model, opt, ema, images, labels, step):
    """bench_unet's step (the same recipe), then the routing-bias update rflow's trainer makes."""
    bench_unet.train_step(model, opt, ema, images, labels, step)
    for m in model.moe_layers():
        m.update_bias()


def train_steps_per_s(moe, images, labels):
    torch.manual_seed(0)
    model = dit(moe)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    ema = [p.detach().clone() for p in model.parameters()]
    for s in range(5):
        train_step(model, opt, ema, images, labels, s)
    steps = 200 if DEV.type == "cuda" else 40
    sync()
    t0 = time.perf_counter()
    for s in range(steps):
        train_step(model, opt, ema, images, labels, 5 + s)
    sync()
    return steps / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


@torch.no_grad()
def images_per_s(moe, batch):
    torch.manual_seed(0)
    model = dit(moe)
    model.eval()
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.02)
    x0 = torch.randn(batch, 1, 28, 28, device=DEV)
    labels = torch.arange(batch, device=DEV) % 10

    def run():
        return x0 + model(x0, torch.zeros(batch, device=DEV), labels)

    run()
    sync()
    t0 = time.perf_counter()
    run()
    sync()
    return batch / (time.perf_counter() - t0)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    images = read_idx(DATA + "train-images-idx3-ubyte.gz").to(DEV)
    labels = read_idx(DATA + "train-labels-idx1-ubyte.gz").to(DEV)
    out = {"bench": "dit_fmnist_python", "threads": threads, "torch": torch.__version__, "device": str(DEV)}
    out["train_steps_per_s_b64"], out["parameters"] = train_steps_per_s(False, images, labels)
    out["moe_train_steps_per_s_b64"], out["moe_parameters"] = train_steps_per_s(True, images, labels)
    if not (len(sys.argv) > 3 and sys.argv[3] == "train"):
        out["sample_images_per_s_nfe1_b500"] = images_per_s(False, 500)
        out["moe_sample_images_per_s_nfe1_b500"] = images_per_s(True, 500)
    out["system"] = system_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
