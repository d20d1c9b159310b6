#!/usr/bin/env python3
"""The training loop of Meta's flow_matching 2-D example, in plain Python torch, as a baseline.

The flow_matching package itself is not installable here (no PyPI), so this re-implements the loop
of its examples/2d_flow_matching.ipynb step for step: checkerboard data, x_0 ~ N(0, I), t ~ U(0, 1),
the CondOT affine path (x_t = (1 - t) x_0 + t x_1, target x_1 - x_0), an MLP on [x, t] with Swish
(sigmoid(h) * h), squared error, Adam(1e-3), zero_grad / backward / step, the loss read back only
when printing. The notebook uses 4 hidden layers of 512 at batch 4096; here width, depth and batch
are arguments so the loop can be compared with rflow's at the same size.
Usage: bench_fm_recipe.py [threads] [hidden = 256] [depth = 3] [batch = 256] [steps = 1500]
Prints one JSON object.
"""
import json
import sys
import time

import torch

from system_info import system_info


class Swish(torch.nn.Module):
    def forward(self, h):
        return torch.sigmoid(h) * h


class Mlp(torch.nn.Module):
    def __init__(self, hidden, depth):
        super().__init__()
        layers = [torch.nn.Linear(3, hidden), Swish()]
        for _ in range(depth - 1):
            layers += [torch.nn.Linear(hidden, hidden), Swish()]
        layers.append(torch.nn.Linear(hidden, 2))
        self.main = torch.nn.Sequential(*layers)

    def forward(self, x, t):
        t = t.reshape(-1, 1).expand(x.shape[0], 1)
        return self.main(torch.cat([x, t], dim=1))


def checkerboard(n):
    x1 = torch.rand(n) * 4 - 2
    x2 = torch.rand(n) - torch.randint(high=2, size=(n,)) * 2 + (torch.floor(x1) % 2)
    return torch.cat([x1[:, None], x2[:, None]], dim=1) / 0.45


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    model = Mlp(hidden, depth)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run(n):
        loss = None
        for _ in range(n):
            opt.zero_grad()
            x1 = checkerboard(batch)
            x0 = torch.randn_like(x1)
            t = torch.rand(x1.shape[0])
            tt = t.reshape(-1, 1)
            xt = (1 - tt) * x0 + tt * x1
            loss = torch.pow(model(xt, t) - (x1 - x0), 2).mean()
            loss.backward()
            opt.step()
        return loss.item()

    run(20)
    t0 = time.perf_counter()
    run(steps)
    sec = time.perf_counter() - t0
    out = {"bench": "fm_recipe_python", "threads": threads, "hidden": hidden, "depth": depth, "batch": batch,
           "train_steps_per_s": steps / sec, "system": system_info()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
