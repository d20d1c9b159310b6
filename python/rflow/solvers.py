"""Fixed-step solvers of dx/dt = v(x, t) on a uniform grid from t0 to t1, the same Runge–Kutta
tableaus and grid as rflow's C++ solvers (t = 0 noise, t = 1 data)."""

import torch

# (a, b, c) of each method, as in rflow/solve/butcher.cpp.
_TABLEAUS = {
    "euler": ([[]], [1.0], [0.0]),
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], [0.0, 0.5, 0.5, 1.0]),
}

SOLVERS = tuple(_TABLEAUS)


@torch.no_grad()
def solve(field, x0, solver="euler", steps=100, t0=0.0, t1=1.0, labels=None):
    """x at t1 from x0 at t0, with `steps` steps of `solver` (euler, midpoint, heun, rk4)."""
    if solver not in _TABLEAUS:
        raise ValueError(f"unknown solver {solver!r}: use one of {', '.join(SOLVERS)}")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    a, b, c = _TABLEAUS[solver]
    x = x0.clone().float()
    n = x.shape[0]
    for i in range(steps):
        t = t0 + (t1 - t0) * i / steps
        dt = t0 + (t1 - t0) * (i + 1) / steps - t
        k = []
        for s in range(len(b)):
            xs = x
            for j, aj in enumerate(a[s]):
                if aj != 0.0:
                    xs = xs + k[j] * (dt * aj)
            k.append(field(xs, torch.full((n,), t + c[s] * dt, dtype=torch.float32), labels))
        step = sum(k[s] * b[s] for s in range(len(b)) if b[s] != 0.0)
        x = x + step * dt
    return x
