#!/usr/bin/env python3
"""The bench_mlp recipe in Python torch (Debian's python3-torch), for a back-to-back comparison.

Same network (3 hidden layers x 256, SiLU, sinusoidal time embedding of 100 t, 64 features),
same data (N(0, I) -> 8 gaussians of radius 4, std 0.25), same loss, Adam(1e-3) with warmup and
cosine LR, clipping at 1.0 and an EMA (lerp) update each step. Prints one JSON object.
Usage: bench_mlp.py [threads]
"""
import json
import math
import sys
import time

import torch

from system_info import system_info  # also gives OpenBLAS the kernels rflow would pick


class Mlp(torch.nn.Module):
    def __init__(self, dim=2, hidden=256, depth=3, tdim=64):
        super().__init__()
        half = tdim // 2
        self.register_buffer("freqs", torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * 100.0)
        layers = [torch.nn.Linear(dim + tdim, hidden), torch.nn.SiLU()]
        for _ in range(depth - 1):
            layers += [torch.nn.Linear(hidden, hidden), torch.nn.SiLU()]
        layers.append(torch.nn.Linear(hidden, dim))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x, t):
        a = t[:, None] * self.freqs[None]
        return self.net(torch.cat([x, torch.sin(a), torch.cos(a)], 1))


def eight_gaussians(n):
    k = torch.randint(0, 8, (n,)).float() * (math.pi / 4)
    return torch.stack([torch.cos(k), torch.sin(k)], 1) * 4.0 + torch.randn(n, 2) * 0.25


def train(batch, steps, warm=20):
    torch.manual_seed(0)
    model = Mlp()
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run(n):
        for step in range(n):
            lr = 1e-3 * min(1.0, (step + 1) / 200)
            for g in opt.param_groups:
                g["lr"] = lr
            x0 = torch.randn(batch, 2)
            x1 = eight_gaussians(batch)
            t = torch.rand(batch) * (1 - 1e-3) + 1e-3
            xt = x0 + t[:, None] * (x1 - x0)
            loss = torch.nn.functional.mse_loss(model(xt, t), x1 - x0)
            if not math.isfinite(loss.item()):
                raise RuntimeError("nan")
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for e, p in zip(ema, model.parameters()):
                    e.lerp_(p, 1 - 0.999)

    run(warm)
    t0 = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t0)


@torch.no_grad()
def sample(model, x, steps=100):
    dt = 1.0 / steps
    t = torch.empty(x.shape[0])
    for i in range(steps):
        t.fill_(i * dt)
        x = x + dt * model(x, t)
    return x


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    out = {"bench": "mlp_2d_python", "threads": threads, "torch": torch.__version__}
    out["train_steps_per_s_b256"] = train(256, 1500)
    out["train_steps_per_s_b4096"] = train(4096, 150)
    model = Mlp().eval()
    x = torch.randn(10000, 2)
    sample(model, x)
    t0 = time.perf_counter()
    sample(model, x)
    s = time.perf_counter() - t0
    out["sample_10k_x100_euler_s"] = s
    out["sample_points_per_s"] = 10000 / s
    x1 = torch.randn(1, 2)
    sample(model, x1)
    t0 = time.perf_counter()
    for _ in range(50):
        sample(model, x1)
    lat = (time.perf_counter() - t0) / 50
    out["batch1_100step_latency_ms"] = lat * 1e3
    out["batch1_per_step_us"] = lat * 1e6 / 100
    out["system"] = system_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
