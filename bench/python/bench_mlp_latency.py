#!/usr/bin/env python3
"""The bench_mlp_latency figure in Python torch (Debian's python3-torch), back to back with rflow's.

One sample (batch 1, also 8 and 64) of a 3 x 256 SiLU MLP field on 2-D with 100 Euler steps, one
thread, under torch.no_grad: the network as rflow builds it (python/rflow's MLP, weights as
initialised) and a plain Euler loop. Median and p99 over many repeats. Prints one JSON object.
Usage: bench_mlp_latency.py [repeats = 2000]
"""
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from rflow.fields import MlpVelocity  # noqa: E402
from latency import timed  # noqa: E402
from system_info import system_info  # noqa: E402


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    torch.set_num_threads(1)
    torch.manual_seed(0)
    field = MlpVelocity({"hidden": 256, "depth": 3, "time_dim": 64, "activation": "silu"}, [2])
    half = 32
    field.temb.freqs.copy_(torch.exp(torch.arange(half) * (-math.log(10000.0) / half)) * 100.0)
    field.eval()
    out = {"bench": "mlp_latency_python", "threads": 1, "torch": torch.__version__, "steps": 100,
           "parameters": sum(p.numel() for p in field.parameters())}
    with torch.no_grad():
        for b in (1, 8, 64):
            reps = repeats if b == 1 else max(50, repeats // (4 if b == 8 else 16))
            x0 = torch.randn(b, 2)

            def euler():
                x = x0.clone()
                for i in range(100):
                    x += field(x, torch.full((b,), i / 100)) * 0.01
                return x

            out[f"batch_{b}"] = {"python_loop": timed(euler, reps)}
    out["system"] = system_info()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
