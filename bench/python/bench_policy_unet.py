#!/usr/bin/env python3
"""The bench_policy_unet figures in Python torch (Debian's python3-torch), back to back with rflow's.

The temporal U-Net policy as rflow builds it (python/rflow mirrors it module for module: chunks
[4, 2], observation 2, 32 channels, mult [1, 2], variance head 64), one thread: AdaFlow training
steps/s at batch 256 (flow matching + the Gaussian NLL of the detached error, Adam, clipping at 1,
an EMA update), one evaluation (velocity + sigma) at batch 1 and 20 Euler steps under no_grad.
Random observations and moves stand in for the maze demonstrations (the cost does not depend on
the values). Prints one JSON object. Usage: bench_policy_unet.py
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from rflow.fields import TemporalUNetVelocity  # noqa: E402
from latency import timed  # noqa: E402
from system_info import system_info  # noqa: E402


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    opts = {"channels": 32, "channel_mult": [1, 2], "kernel": 3, "norm_groups": 8, "time_dim": 64, "obs_dim": 2,
            "variance_hidden": 64, "variance_depth": 2}
    model = TemporalUNetVelocity(opts, [4, 2])
    half = 32
    with torch.no_grad():
        model.temb.freqs.copy_(torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * 100.0)
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batch = 256

    def step():
        obs = torch.rand(batch, 2) * 2 - 1
        x1 = torch.randint(-1, 2, (batch, 4, 2)).float()
        x0 = torch.randn_like(x1)
        t = torch.rand(batch)
        xt = x0 + t[:, None, None] * (x1 - x0)
        v = model(xt, t, obs=obs)
        sigma = model.variance(xt, t, obs=obs)
        err = (x1 - x0 - v).detach().pow(2).flatten(1).sum(1)
        loss = F.mse_loss(v, x1 - x0) + (err / (2 * sigma.pow(2)) + sigma.log()).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.lerp_(p, 1 - 0.99)

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(60):
        step()
    out = {"bench": "policy_temporal_unet_python", "threads": 1,
           "parameters": sum(p.numel() for p in model.parameters()),
           "train_steps_per_s_b256": 60 / (time.perf_counter() - t0)}
    model.eval()
    obs = torch.tensor([[-1.0, 0.0]])
    x, t = torch.randn(1, 4, 2), torch.full((1,), 0.5)
    with torch.no_grad():
        out["evaluation_b1"] = timed(lambda: (model(x, t, obs=obs), model.variance(x, t, obs=obs)), 500)

        def euler20():
            y = torch.randn(1, 4, 2)
            for i in range(20):
                y = y + model(y, torch.full((1,), i / 20), obs=obs) * 0.05
            return y

        out["euler20_action"] = timed(euler20, 100)
    out["system"] = system_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
