#!/usr/bin/env python3
"""The bench_unet recipe in Python torch (Debian's python3-torch), for a back-to-back comparison.

The same U-Net as rflow/nn/unet.cpp at the fmnist_cond size (32 channels, mult [1, 2, 2], one
residual block per level, attention at 7x7, GroupNorm(8), 10 classes + a "no label" row, zero-init
output convs), the same data (Fashion-MNIST train images in [-1, 1], N(0, I) noise, 10% label
dropout), loss, Adam with warmup, clipping at 1.0 and an EMA update per step. Also prints where the
time goes (torch.profiler, self CPU time by op family) for one training step and one forward.
Usage: bench_unet.py [threads] [device = cpu | cuda] [all | train]   (no profile on cuda: its shares are CPU time)
"""
import gzip
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from rflow.fields import UNetVelocity  # noqa: E402
from system_info import system_info  # also gives OpenBLAS the kernels rflow would pick
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist/"
DEV = torch.device(sys.argv[2] if len(sys.argv) > 2 else "cpu")


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).view(*dims)


def UNet(ch=32, classes=10):
    """rflow's U-Net at the fmnist_cond size (python/rflow mirrors it module for module), initialised
    as rflow initialises it: the sinusoidal time frequencies at scale 100 and zero output convs."""
    opts = {"channels": ch, "channel_mult": [1, 2, 2], "res_blocks": 1, "attn_resolutions": [7], "heads": 4,
            "norm_groups": 8}
    model = UNetVelocity(opts, [1, 28, 28], classes)
    half = ch // 2
    with torch.no_grad():
        model.temb.freqs.copy_(torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * 100.0)
        for name, m in model.named_modules():
            if name == "out" or name.endswith(".conv2") or name.endswith("_attn.out"):
                m.weight.zero_()
                m.bias.zero_()
    return model


def train_step(model, opt, ema, images, labels, step, batch=64):
    for g in opt.param_groups:
        g["lr"] = 5e-4 * min(1.0, (step + 1) / 100)
    idx = torch.randint(0, images.shape[0], (batch,), device=DEV)
    x1 = images[idx].float().div(127.5).sub(1).unsqueeze(1)
    y = labels[idx].long()
    y = torch.where(torch.rand(batch, device=DEV) < 0.1, torch.full_like(y, -1), y)
    x0 = torch.randn_like(x1)
    t = torch.rand(batch, device=DEV)
    xt = x0 + t[:, None, None, None] * (x1 - x0)
    loss = F.mse_loss(model(xt, t, y), x1 - x0)
    if DEV.type == "cpu" and not math.isfinite(loss.item()):  # rflow checks on CPU only too
        raise RuntimeError("nan")
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for e, p in zip(ema, model.parameters()):
            e.lerp_(p, 1 - 0.999)


@torch.no_grad()
def images_per_s(model, batch, steps, w):
    x0 = torch.randn(batch, 1, 28, 28, device=DEV)
    labels = torch.arange(batch, device=DEV) % 10

    def run():
        x = x0
        for i in range(steps):
            t = torch.full((batch,), i / steps, device=DEV)
            if w == 1.0:
                v = model(x, t, labels)
            else:
                v2 = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, torch.full_like(labels, -1)]))
                vc, vu = v2[:batch], v2[batch:]
                v = vu + (vc - vu) * w
            x = x + v / steps
        return x

    run()
    sync()
    t0 = time.perf_counter()
    run()
    sync()
    return batch / (time.perf_counter() - t0)


def profile_shares(fn):
    """Self CPU time by op family, as shares of the total."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    fam = {}
    total = 0.0
    for ev in prof.key_averages():
        n = ev.key
        us = ev.self_cpu_time_total
        total += us
        if "conv" in n or "mkldnn" in n:
            k = "convolution"
        elif "group_norm" in n:
            k = "group_norm"
        elif n in ("aten::bmm", "aten::_softmax", "aten::_softmax_backward_data") or "bmm" in n:
            k = "attention (bmm, softmax)"
        elif "addmm" in n or n in ("aten::mm", "aten::linear"):
            k = "linear"
        else:
            k = "other (elementwise, copies, optimizer)"
        fam[k] = fam.get(k, 0.0) + us
    return {k: round(v / total, 3) for k, v in sorted(fam.items(), key=lambda kv: -kv[1])}


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = read_idx(DATA + "train-images-idx3-ubyte.gz").to(DEV)
    labels = read_idx(DATA + "train-labels-idx1-ubyte.gz").to(DEV)
    model = UNet().to(DEV)
    out = {"bench": "unet_fmnist_python", "threads": threads, "torch": torch.__version__, "device": str(DEV),
           "parameters": sum(p.numel() for p in model.parameters())}
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
    out["train_steps_per_s_b64"] = steps / (time.perf_counter() - t0)
    out["train_images_per_s"] = out["train_steps_per_s_b64"] * 64
    if len(sys.argv) > 3 and sys.argv[3] == "train":  # only the training figure, for repeats
        out["system"] = system_info()
        print(json.dumps(out))
        return
    if DEV.type == "cpu":
        out["train_step_time_shares"] = profile_shares(lambda: train_step(model, opt, ema, images, labels, 100))
    model.eval()
    out["sample_images_per_s_nfe1_b500"] = images_per_s(model, 500, 1, 1.0)
    out["sample_images_per_s_nfe1_b500_cfg"] = images_per_s(model, 500, 1, 1.5)
    out["sample_images_per_s_nfe100_b100"] = images_per_s(model, 100, 100, 1.0)
    if DEV.type == "cuda":
        out["sample_images_per_s_nfe1_b5000"] = images_per_s(model, 5000, 1, 1.0)
        out["sample_images_per_s_nfe100_b5000_cfg"] = images_per_s(model, 5000, 100, 1.5)
    else:
        out["forward_b500_time_shares"] = profile_shares(lambda: images_per_s(model, 500, 1, 1.0))
    out["system"] = system_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
