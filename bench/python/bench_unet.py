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
import sys
import time

import torch

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


class TimeEmbedding(torch.nn.Module):
    def __init__(self, dim, scale=100.0):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * scale)

    def forward(self, t):
        a = t[:, None] * self.freqs[None]
        return torch.cat([torch.sin(a), torch.cos(a)], 1)


def zero(m):
    torch.nn.init.zeros_(m.weight)
    torch.nn.init.zeros_(m.bias)
    return m


class ResBlock(torch.nn.Module):
    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1 = torch.nn.GroupNorm(groups, cin)
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = torch.nn.Linear(emb, cout)
        self.norm2 = torch.nn.GroupNorm(groups, cout)
        self.conv2 = zero(torch.nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = torch.nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(torch.nn.Module):
    def __init__(self, c, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = torch.nn.GroupNorm(groups, c)
        self.qkv = torch.nn.Conv2d(c, 3 * c, 1)
        self.out = zero(torch.nn.Conv2d(c, c, 1))

    def forward(self, x):
        B, C, H, W = x.shape
        d = C // self.heads
        qkv = self.qkv(self.norm(x)).view(B, 3, self.heads, d, H * W)
        q, k, v = (qkv[:, i].transpose(2, 3).reshape(B * self.heads, H * W, d) for i in range(3))
        w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d), -1)
        h = torch.bmm(w, v).view(B, self.heads, H * W, d).transpose(2, 3).reshape(B, C, H, W)
        return x + self.out(h)


class Stage(torch.nn.Module):
    def __init__(self, cin, cout, emb, groups, attn, heads):
        super().__init__()
        self.res = ResBlock(cin, cout, emb, groups)
        self.attn = Attention(cout, heads, groups) if attn else None

    def forward(self, x, e):
        h = self.res(x, e)
        return self.attn(h) if self.attn is not None else h


class UNet(torch.nn.Module):
    def __init__(self, ch=32, mult=(1, 2, 2), blocks=1, attn_res=(7,), heads=4, groups=8, classes=10):
        super().__init__()
        emb = 4 * ch
        self.classes = classes
        self.temb = TimeEmbedding(ch)
        self.emb1, self.emb2 = torch.nn.Linear(ch, emb), torch.nn.Linear(emb, emb)
        self.label = torch.nn.Embedding(classes + 1, emb)
        self.inp = torch.nn.Conv2d(1, ch, 3, padding=1)
        skips, cur, res = [ch], ch, 28
        self.down, self.downsample = torch.nn.ModuleList(), torch.nn.ModuleList()
        for lvl, m in enumerate(mult):
            stages = torch.nn.ModuleList()
            for _ in range(blocks):
                stages.append(Stage(cur, ch * m, emb, groups, res in attn_res, heads))
                cur = ch * m
                skips.append(cur)
            self.down.append(stages)
            if lvl + 1 < len(mult):
                self.downsample.append(torch.nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
                res //= 2
        self.mid1 = Stage(cur, cur, emb, groups, True, heads)
        self.mid2 = Stage(cur, cur, emb, groups, False, heads)
        self.up, self.upsample = torch.nn.ModuleList(), torch.nn.ModuleList()
        for lvl in reversed(range(len(mult))):
            stages = torch.nn.ModuleList()
            for _ in range(blocks + 1):
                stages.append(Stage(cur + skips.pop(), ch * mult[lvl], emb, groups, res in attn_res, heads))
                cur = ch * mult[lvl]
            self.up.append(stages)
            if lvl > 0:
                self.upsample.append(torch.nn.Conv2d(cur, cur, 3, padding=1))
                res *= 2
        self.out_norm = torch.nn.GroupNorm(groups, cur)
        self.out = zero(torch.nn.Conv2d(cur, 1, 3, padding=1))

    def forward(self, x, t, labels):
        e = self.emb2(F.silu(self.emb1(self.temb(t))))
        e = e + self.label(torch.where(labels < 0, torch.full_like(labels, self.classes), labels))
        h = self.inp(x)
        skips = [h]
        for lvl, stages in enumerate(self.down):
            for s in stages:
                h = s(h, e)
                skips.append(h)
            if lvl < len(self.downsample):
                h = self.downsample[lvl](h)
                skips.append(h)
        h = self.mid2(self.mid1(h, e), e)
        for i, stages in enumerate(self.up):
            for s in stages:
                h = s(torch.cat([h, skips.pop()], 1), e)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(F.silu(self.out_norm(h)))


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
