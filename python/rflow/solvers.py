"""Fixed-step solvers of dx/dt = v(x, t) on a uniform grid from t0 to t1, the same Runge–Kutta
tableaus and grid as rflow's C++ solvers (t = 0 noise, t = 1 data)."""

import math

import torch

# (a, b, c) of each method, as in rflow/solve/butcher.cpp.
_TABLEAUS = {
    "euler": ([[]], [1.0], [0.0]),
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], [0.0, 0.5, 0.5, 1.0]),
}

SOLVERS = tuple(_TABLEAUS)


def guided(field, labels, guidance):
    """v(x, t) of a class-conditional field with classifier-free guidance, as rflow's C++ solvers
    do it: v_null + w·(v_label − v_null), label −1 being "no label"; w = 1 is the plain
    conditional field, w = 0 the unconditional one."""
    if labels is None or guidance == 1.0:
        return lambda x, t: field(x, t, labels)
    if not math.isfinite(guidance):
        raise ValueError("guidance must be finite (typical: 1 to 7)")
    null = torch.full_like(labels, -1)
    if guidance == 0.0:
        return lambda x, t: field(x, t, null)

    def v(x, t):
        both = field(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
        vc, vu = both[: x.shape[0]], both[x.shape[0]:]
        return vu + (vc - vu) * guidance

    return v


@torch.no_grad()
def solve(field, x0, solver="euler", steps=100, t0=0.0, t1=1.0, labels=None, guidance=1.0):
    """x at t1 from x0 at t0, with `steps` steps of `solver` (euler, midpoint, heun, rk4).
    labels: int64 class labels of a conditional field (−1 = none); guidance: the CFG scale."""
    if solver not in _TABLEAUS:
        raise ValueError(f"unknown solver {solver!r}: use one of {', '.join(SOLVERS)}")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if guidance != 1.0 and labels is None:
        raise ValueError("guidance needs labels (classifier-free guidance steers towards a label)")
    v = guided(field, None if labels is None else labels.long(), float(guidance))
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
            k.append(v(xs, torch.full((n,), t + c[s] * dt, dtype=torch.float32)))
        step = sum(k[s] * b[s] for s in range(len(b)) if b[s] != 0.0)
        x = x + step * dt
    return x
