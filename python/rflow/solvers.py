"""Solvers of dx/dt = v(x, t) from t0 to t1 as rflow's C++ ones (t = 0 noise, t = 1 data): fixed-step
Runge–Kutta on a uniform grid with the same tableaus, and AdaFlow's variance-adaptive Euler steps."""

import math

import torch

# (a, b, c) of each method, as in rflow/solve/butcher.cpp.
_TABLEAUS = {
    "euler": ([[]], [1.0], [0.0]),
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "heun": ([[], [1.0]], [0.5, 0.5], [0.0, 1.0]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], [0.0, 0.5, 0.5, 1.0]),
}

SOLVERS = tuple(_TABLEAUS) + ("adaflow",)


def guided(field, labels, guidance, context=None, mask=None):
    """v(x, t) of a conditional field with classifier-free guidance, as rflow's C++ solvers do it:
    v_null + w·(v_cond − v_null), the null being label −1 and the empty prompt (ids 0, mask 0);
    w = 1 is the plain conditional field, w = 0 the unconditional one."""
    def call(x, t, lab, ctx, msk):
        return field(x, t, lab) if ctx is None else field(x, t, lab, context=ctx, mask=msk)

    if (labels is None and context is None) or guidance == 1.0:
        return lambda x, t: call(x, t, labels, context, mask)
    if not math.isfinite(guidance):
        raise ValueError("guidance must be finite (typical: 1 to 7)")
    null = None if labels is None else torch.full_like(labels, -1)
    null_ctx = None if context is None else torch.zeros_like(context)
    null_mask = None if mask is None else torch.zeros_like(mask)
    if guidance == 0.0:
        return lambda x, t: call(x, t, null, null_ctx, null_mask)

    def both(a, b):
        return None if a is None else torch.cat([a, b])

    def v(x, t):
        out = call(torch.cat([x, x]), torch.cat([t, t]), both(labels, null), both(context, null_ctx), both(mask, null_mask))
        vc, vu = out[: x.shape[0]], out[x.shape[0]:]
        return vu + (vc - vu) * guidance

    return v


@torch.no_grad()
def solve(field, x0, solver="euler", steps=100, t0=0.0, t1=1.0, labels=None, guidance=1.0, obs=None, eta=0.1,
          context=None, mask=None):
    """x at t1 from x0 at t0, with `steps` steps of `solver` (euler, midpoint, heun, rk4), or with
    solver="adaflow" per-sample steps Δt = min(max(η/σ, 1/steps), 1 − t) by the field's variance head
    (at most `steps`). labels: int64 class labels of a conditional field (−1 = none); guidance: the
    CFG scale; obs: a policy's observations [B, O]; context, mask: a text-conditioned field's prompt
    token ids [B, L] and mask [B, L] (as rflow's data encode them; see rflow sample --prompt)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}: use one of {', '.join(SOLVERS)}")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if guidance != 1.0 and labels is None and context is None:
        raise ValueError("guidance needs labels or a prompt (classifier-free guidance steers towards them)")
    if solver == "adaflow":
        if labels is not None or context is not None:
            raise ValueError("adaflow solves policies (obs); labels and prompts go with the Runge-Kutta solvers")
        return _adaflow(field, x0, steps, t0, t1, eta, obs)
    if obs is not None and context is not None:
        raise ValueError("a policy's observations and a prompt together are not supported")
    if obs is not None:
        policy = field

        def field(x, t, lab=None):  # noqa: F811 (the policy with its observations bound)
            return policy(x, t, obs=obs)
    v = guided(field, None if labels is None else labels.long(), float(guidance), context, mask)
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


def _adaflow(field, x0, steps, t0, t1, eta, obs):
    """Each sample steps by its own Δt (in double, so the steps sum to t1 exactly) until it reaches
    t1; only the samples still on their way are evaluated. Returns x; x.nfe holds each one's steps."""
    if not t1 > t0:
        raise ValueError("adaflow integrates forward in time (t0 < t1)")
    if not (math.isfinite(eta) and eta > 0):
        raise ValueError("eta must be > 0")
    if not getattr(field, "has_variance", False):
        raise ValueError("the adaflow solver needs a model with a variance head (model.<arch>.variance_hidden > 0)")
    kw = (lambda rows: {}) if obs is None else (lambda rows: {"obs": obs[rows]})
    x = x0.clone().float()
    n, span = x.shape[0], t1 - t0
    t = torch.full((n,), float(t0), dtype=torch.float64)
    nfe = torch.zeros(n, dtype=torch.int64)
    while True:
        rows = ((t < t1 - 1e-9 * span) & (nfe < steps)).nonzero().squeeze(1)
        if rows.numel() == 0:
            break
        xs, ts = x[rows], t[rows]
        tf = ts.float()
        sigma, v = field.variance(xs, tf, **kw(rows)), field(xs, tf, **kw(rows))
        dt = (eta * span / sigma.double().clamp_min(1e-12)).clamp_min(span / steps)
        dt = torch.minimum(dt, t1 - ts)
        x[rows] = xs + v * dt.float().view(-1, *([1] * (x.dim() - 1)))
        t[rows] = ts + dt
        nfe[rows] += 1
    x.nfe = nfe
    return x
