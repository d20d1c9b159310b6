"""Velocity fields rebuilt in PyTorch from an rflow config, with rflow's parameter names, so a
checkpoint's weights load as they are. Each module's forward(x, t, labels=None) equals the C++ one."""

import math
import os

import torch
from torch import nn
import torch.nn.functional as F


class TimeEmbedding(nn.Module):
    """[sin(f·t), cos(f·t)]; the frequencies are a stored buffer (`freqs`), loaded with the weights."""

    def __init__(self, dim):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(dim // 2))

    def forward(self, t):
        args = t.float().unsqueeze(1) * self.freqs.unsqueeze(0)
        return torch.cat([torch.sin(args), torch.cos(args)], 1)


_ACTIVATIONS = {"silu": F.silu, "gelu": F.gelu, "tanh": torch.tanh, "relu": torch.relu}


def _label_rows(labels, b, num_classes, device):
    """Rows of the label embedding: missing labels and −1 select the last, "no label" row."""
    lab = torch.full((b,), -1, dtype=torch.int64, device=device) if labels is None else labels.long()
    return torch.where(lab < 0, torch.full_like(lab, num_classes), lab)


def _observations(module, obs, b):
    if obs is None:
        raise ValueError(f"this policy needs observations [B, {module.obs_dim}] (obs=...)")
    return obs.float().reshape(b, module.obs_dim)


def _add_variance_head(module, options, dim, time_dim):
    """AdaFlow's variance head, a small MLP on [x, emb(t), obs] → log σ, with the names rflow gives
    it on every policy backbone (var_in_x, var_in_t, var_in_o, var_h<i>, var_out)."""
    vh, module.var_depth = options.get("variance_hidden", 0), options.get("variance_depth", 2)
    if vh > 0:
        module.var_in_x = nn.Linear(dim, vh)
        module.var_in_t = nn.Linear(time_dim, vh, bias=False)
        if module.obs_dim > 0:
            module.var_in_o = nn.Linear(module.obs_dim, vh, bias=False)
        for i in range(module.var_depth - 1):
            module.add_module(f"var_h{i}", nn.Linear(vh, vh))
        module.var_out = nn.Linear(vh, 1)
    module.has_variance = vh > 0


def _variance(module, x, t, obs, act):
    if not module.has_variance:
        raise ValueError("this model has no variance head (model.<arch>.variance_hidden = 0)")
    b = x.shape[0]
    h = module.var_in_x(x.reshape(b, -1)) + module.var_in_t(module.temb(t))
    if module.obs_dim > 0:
        h = h + module.var_in_o(_observations(module, obs, b))
    h = act(h)
    for i in range(module.var_depth - 1):
        h = act(getattr(module, f"var_h{i}")(h))
    return torch.exp(module.var_out(h).squeeze(1).clamp(-10.0, 10.0))


class MlpVelocity(nn.Module):
    """model.arch = "mlp": [x, emb(t) (, emb(label))] → depth hidden layers → velocity."""

    def __init__(self, options, sample_shape, num_classes=0):
        super().__init__()
        self.shape = list(sample_shape)
        self.dim = math.prod(self.shape)
        hidden, depth, time_dim = options["hidden"], options["depth"], options["time_dim"]
        self.act = _ACTIVATIONS[options["activation"]]
        self.num_classes = num_classes
        self.temb = TimeEmbedding(time_dim)
        self.in_x = nn.Linear(self.dim, hidden)
        self.in_t = nn.Linear(time_dim, hidden, bias=False)
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, hidden)  # the last row: no label
        self.obs_dim = options.get("obs_dim", 0)
        if self.obs_dim > 0:  # a policy: conditioned on observations
            self.in_o = nn.Linear(self.obs_dim, hidden, bias=False)
        for i in range(depth - 1):
            self.add_module(f"h{i}", nn.Linear(hidden, hidden))
        self.depth = depth
        self.out = nn.Linear(hidden, self.dim)
        _add_variance_head(self, options, self.dim, time_dim)

    def forward(self, x, t, labels=None, obs=None):
        b = x.shape[0]
        h = self.in_x(x.reshape(b, self.dim)) + self.in_t(self.temb(t))
        if self.num_classes > 0:
            h = h + self.label_emb(_label_rows(labels, b, self.num_classes, self.label_emb.weight.device))
        if self.obs_dim > 0:
            h = h + self.in_o(_observations(self, obs, b))
        h = self.act(h)
        for i in range(self.depth - 1):
            h = self.act(getattr(self, f"h{i}")(h))
        return self.out(h).view(b, *self.shape)

    def variance(self, x, t, obs=None):
        """AdaFlow's σ(x, t | obs) [B]: the head's estimate of the velocity's RMS error."""
        return _variance(self, x, t, obs, self.act)


def _conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def _norm_silu(norm, x):
    return F.silu(norm(x))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the projected embedding, → GroupNorm → SiLU → conv, plus the skip."""

    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = _conv(cin, cout, 3)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = _conv(cout, cout, 3)
        self.skip = _conv(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(_norm_silu(self.norm1, x))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(_norm_silu(self.norm2, h))  # dropout: none at inference
        return (x if self.skip is None else self.skip(x)) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H·W positions, with a residual connection."""

    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = _conv(channels, 3 * channels, 1)
        self.out = _conv(channels, channels, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        d = c // self.heads
        qkv = self.qkv(self.norm(x)).view(b, 3, self.heads, d, hh * ww)
        q, k, v = (qkv[:, i].transpose(2, 3).reshape(b * self.heads, hh * ww, d) for i in range(3))
        w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(d), -1)
        h = torch.bmm(w, v).view(b, self.heads, hh * ww, d).transpose(2, 3).reshape(b, c, hh, ww)
        return x + self.out(h)


class UNetVelocity(nn.Module):
    """model.arch = "unet": the image U-Net, module for module and name for name as rflow builds it
    (down path with skips, two middle stages, up path with one extra stage per level)."""

    def __init__(self, options, sample_shape, num_classes=0):
        super().__init__()
        self.shape = list(sample_shape)
        if len(self.shape) != 3:
            raise ValueError(f"the U-Net needs image samples [C, H, W], got {self.shape}")
        ch, mult, blocks = options["channels"], list(options["channel_mult"]), options["res_blocks"]
        heads, g, attn = options["heads"], options["norm_groups"], set(options["attn_resolutions"])
        emb_dim = 4 * ch
        self.num_classes = num_classes
        self.temb = TimeEmbedding(ch)
        self.emb1 = nn.Linear(ch, emb_dim)
        self.emb2 = nn.Linear(emb_dim, emb_dim)
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, emb_dim)  # the last row: no label
        # rflow names the input conv "in", a Python keyword that TorchScript cannot serialise: it is
        # in_conv here, and rflow's "in.*" tensors are renamed on loading.
        self.in_conv = _conv(self.shape[0], ch, 3)
        self._register_load_state_dict_pre_hook(self._rflow_names)

        def stage(name, cin, cout, with_attn):
            self.add_module(name + "_res", ResBlock(cin, cout, emb_dim, g))
            if with_attn:
                self.add_module(name + "_attn", AttentionBlock(cout, heads, g))
            return name

        levels = len(mult)
        skip_ch, cur, res = [ch], ch, self.shape[1]
        self.down, self.up = [], []
        for lvl in range(levels):
            out = ch * mult[lvl]
            names = []
            for blk in range(blocks):
                names.append(stage(f"down{lvl}_{blk}", cur, out, res in attn))
                cur = out
                skip_ch.append(cur)
            self.down.append(names)
            if lvl + 1 < levels:
                self.add_module(f"downsample{lvl}", _conv(cur, cur, 3, 2))
                skip_ch.append(cur)
                res //= 2
        stage("mid1", cur, cur, True)
        stage("mid2", cur, cur, False)
        for lvl in reversed(range(levels)):
            out = ch * mult[lvl]
            names = []
            for blk in range(blocks + 1):
                names.append(stage(f"up{lvl}_{blk}", cur + skip_ch.pop(), out, res in attn))
                cur = out
            self.up.append((lvl, names))
            if lvl > 0:
                self.add_module(f"upsample{lvl}", _conv(cur, cur, 3))
                res *= 2
        self.out_norm = nn.GroupNorm(g, cur)
        self.out = _conv(cur, self.shape[0], 3)
        self.levels = levels

    @staticmethod
    def _rflow_names(state_dict, prefix, *args):
        for key in [k for k in state_dict if k.startswith(prefix + "in.")]:
            state_dict[prefix + "in_conv." + key[len(prefix) + 3:]] = state_dict.pop(key)

    def _stage(self, name, x, emb):
        h = getattr(self, name + "_res")(x, emb)
        attn = getattr(self, name + "_attn", None)
        return h if attn is None else attn(h)

    def forward(self, x, t, labels=None):
        b = x.shape[0]
        emb = self.emb2(F.silu(self.emb1(self.temb(t))))
        if self.num_classes > 0:
            emb = emb + self.label_emb(_label_rows(labels, b, self.num_classes, self.label_emb.weight.device))
        h = self.in_conv(x)
        skips = [h]
        for lvl, names in enumerate(self.down):
            for name in names:
                h = self._stage(name, h, emb)
                skips.append(h)
            if lvl + 1 < self.levels:
                h = getattr(self, f"downsample{lvl}")(h)
                skips.append(h)
        h = self._stage("mid2", self._stage("mid1", h, emb), emb)
        for lvl, names in self.up:
            for name in names:
                h = self._stage(name, torch.cat([h, skips.pop()], 1), emb)
            if lvl > 0:
                h = getattr(self, f"upsample{lvl}")(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.out(_norm_silu(self.out_norm, h))


class TemporalBlock(nn.Module):
    """conv → GroupNorm → SiLU → FiLM (h·(1 + scale) + shift) → conv → GroupNorm → SiLU, plus the skip."""

    def __init__(self, cin, cout, cond_dim, k, groups):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, k, padding=k // 2)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.conv2 = nn.Conv1d(cout, cout, k, padding=k // 2)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x, cond):
        h = F.silu(self.norm1(self.conv1(x)))
        scale, shift = self.film(cond).unsqueeze(2).chunk(2, 1)
        h = shift + h * (scale + 1.0)
        h = F.silu(self.norm2(self.conv2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class TemporalUNetVelocity(nn.Module):
    """model.arch = "temporal_unet": the 1-D U-Net over action chunks [H, A] (or single actions [A])."""

    def __init__(self, options, sample_shape, num_classes=0):
        super().__init__()
        self.shape = list(sample_shape)
        if len(self.shape) not in (1, 2):
            raise ValueError(f"the temporal U-Net needs action chunks [H, A] or actions [A], got {self.shape}")
        self.horizon = self.shape[0] if len(self.shape) == 2 else 1
        self.action = self.shape[-1]
        ch, mult, k, g = options["channels"], list(options["channel_mult"]), options["kernel"], options["norm_groups"]
        time_dim, cond_dim = options["time_dim"], 4 * options["channels"]
        self.num_classes, self.obs_dim = num_classes, options.get("obs_dim", 0)
        self.temb = TimeEmbedding(time_dim)
        self.emb1 = nn.Linear(time_dim, cond_dim)
        self.emb2 = nn.Linear(cond_dim, cond_dim)
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, cond_dim)  # the last row: no label
        if self.obs_dim > 0:
            self.obs_emb = nn.Linear(self.obs_dim, cond_dim, bias=False)
        self.in_conv = nn.Conv1d(self.action, ch, k, padding=k // 2)
        self.levels, self.halves = len(mult), []
        cur, length = ch, self.horizon
        for i, m in enumerate(mult):
            c = ch * m
            self.add_module(f"down{i}_0", TemporalBlock(cur, c, cond_dim, k, g))
            self.add_module(f"down{i}_1", TemporalBlock(c, c, cond_dim, k, g))
            cur = c
            if i + 1 < self.levels:
                halve = length % 2 == 0 and length >= 2  # odd lengths stay
                self.halves.append(halve)
                length //= 2 if halve else 1
                self.add_module(f"downsample{i}", nn.Conv1d(c, c, 3, stride=2 if halve else 1, padding=1))
        self.mid1 = TemporalBlock(cur, cur, cond_dim, k, g)
        self.mid2 = TemporalBlock(cur, cur, cond_dim, k, g)
        for i in reversed(range(self.levels)):
            c = ch * mult[i]
            self.add_module(f"up{i}_0", TemporalBlock(cur + c, c, cond_dim, k, g))
            self.add_module(f"up{i}_1", TemporalBlock(c, c, cond_dim, k, g))
            cur = c
            if i > 0:
                cur = ch * mult[i - 1]
                self.add_module(f"upsample{i}", nn.Conv1d(c, cur, 3, padding=1))
        self.out_norm = nn.GroupNorm(g, cur)
        self.out = nn.Conv1d(cur, self.action, 1)
        _add_variance_head(self, options, self.horizon * self.action, time_dim)

    def forward(self, x, t, labels=None, obs=None):
        b = x.shape[0]
        cond = self.emb2(F.silu(self.emb1(self.temb(t))))
        if self.num_classes > 0:
            cond = cond + self.label_emb(_label_rows(labels, b, self.num_classes, self.label_emb.weight.device))
        if self.obs_dim > 0:
            cond = cond + self.obs_emb(_observations(self, obs, b))
        cond = F.silu(cond)
        h = self.in_conv(x.reshape(b, self.horizon, self.action).transpose(1, 2))
        skips = []
        for i in range(self.levels):
            h = getattr(self, f"down{i}_1")(getattr(self, f"down{i}_0")(h, cond), cond)
            skips.append(h)
            if i + 1 < self.levels:
                h = getattr(self, f"downsample{i}")(h)
        h = self.mid2(self.mid1(h, cond), cond)
        for i in reversed(range(self.levels)):
            h = torch.cat([h, skips.pop()], 1)
            h = getattr(self, f"up{i}_1")(getattr(self, f"up{i}_0")(h, cond), cond)
            if i > 0:
                if self.halves[i - 1]:
                    h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = getattr(self, f"upsample{i}")(h)
        h = self.out(F.silu(self.out_norm(h))).transpose(1, 2)
        return h.reshape(b, *self.shape)

    def variance(self, x, t, obs=None):
        """AdaFlow's σ(x, t | obs) [B]: the head's estimate of the velocity's RMS error."""
        return _variance(self, x, t, obs, F.silu)


def _rope_angles(pos, dim, theta=10000.0):
    """pos · θ^(−2j/dim) for j < dim/2, in float32 as rflow computes them."""
    omega = torch.exp(torch.arange(dim // 2, dtype=torch.float32) * (-2.0 * math.log(theta) / dim))
    return pos.float().unsqueeze(-1) * omega


def _patch_coordinates(rows, cols, base):
    """(col, row) of each patch, row-major; base > 0 centres the grid into a base × base box."""
    if base == 0:
        r, c = torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32)
    else:
        b = float(base)
        if rows > cols:
            rh, rw = b, float(round(b * cols / rows))
        else:
            rh, rw = float(round(b * rows / cols)), b

        def axis(n, start, extent):
            return (torch.arange(n, dtype=torch.float64) * (extent / n) + start).float()

        r, c = axis(rows, round((b - rh) / 2), rh), axis(cols, round((b - rw) / 2), rw)
    gr, gc = torch.meshgrid(r, c, indexing="ij")
    return gc.reshape(-1), gr.reshape(-1)


def _apply_rope(x, angles):
    """Rotates adjacent pairs (2j, 2j+1) of x [..., T, d] by angles [T, d/2]."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(x.shape)


def _attention(q, k, v, keys=None):
    """keys: [B, Tk] bool, the keys a query may read; a query with none reads 0 (as rflow's)."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if keys is None:
        return torch.matmul(torch.softmax(scores, -1), v)
    scores = scores.masked_fill(~keys.view(keys.shape[0], 1, 1, -1), float("-inf"))
    return torch.matmul(torch.softmax(scores, -1).nan_to_num(0.0), v)


class TextEncoder(nn.Module):
    """rflow/nn/layers/text_encoder.cpp: token and position embeddings, pre-LayerNorm blocks of
    self-attention (padding keys masked) and a GELU feed-forward, a final LayerNorm."""

    def __init__(self, vocab, length, dim, layers, heads):
        super().__init__()
        self.heads, self.layers = heads, layers
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Parameter(torch.zeros(length, dim))
        for i in range(layers):
            self.add_module(f"norm1_{i}", nn.LayerNorm(dim, eps=1e-6))
            self.add_module(f"qkv{i}", nn.Linear(dim, 3 * dim))
            self.add_module(f"proj{i}", nn.Linear(dim, dim))
            self.add_module(f"norm2_{i}", nn.LayerNorm(dim, eps=1e-6))
            self.add_module(f"fc1_{i}", nn.Linear(dim, 4 * dim))
            self.add_module(f"fc2_{i}", nn.Linear(4 * dim, dim))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, ids, mask):
        b, t = ids.shape
        d = self.positions.shape[1]
        keys = mask.bool()
        h = self.tokens(ids) + self.positions[:t]
        for i in range(self.layers):
            qkv = getattr(self, f"qkv{i}")(getattr(self, f"norm1_{i}")(h))
            q, k, v = qkv.view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            h = h + getattr(self, f"proj{i}")(_attention(q, k, v, keys).transpose(1, 2).reshape(b, t, d))
            f = F.gelu(getattr(self, f"fc1_{i}")(getattr(self, f"norm2_{i}")(h)), approximate="tanh")
            h = h + getattr(self, f"fc2_{i}")(f)
        return self.final_norm(h)


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MoE(nn.Module):
    """DeepSeekMoE as rflow/nn/layers/moe.cpp: shared experts + top-k routed ones chosen with a routing
    bias (a buffer, moved by update_bias) that never enters the mixing weights."""

    def __init__(self, dim, o):
        super().__init__()
        self.o = o
        e = o["experts"]
        self.gate = nn.Parameter(torch.randn(e, dim) / math.sqrt(dim))
        self.register_buffer("routing_bias", torch.zeros(e))
        self.experts = nn.ModuleList([SwiGLU(dim, o["hidden"]) for _ in range(e)])
        if o["shared"] > 0:
            self.shared = SwiGLU(dim, o["shared"] * o["hidden"])
        # Tokens per expert since the last bias update: a buffer, so it follows .to(device).
        self.register_buffer("load", torch.zeros(e, dtype=torch.float64), persistent=False)

    def route(self, x):
        o, e, k = self.o, self.o["experts"], self.o["top_k"]
        logits = F.linear(x.float(), self.gate.float())
        scores = torch.sigmoid(logits) if o["score"] == "sigmoid" else torch.softmax(logits, -1)
        sel = scores.detach() + self.routing_bias.float()
        if o["groups"] > 1:
            g, per = o["groups"], e // o["groups"]
            grouped = sel.view(-1, g, per)
            gscore = grouped.topk(min(2, per), -1).values.sum(-1)
            keep = gscore.topk(o["limited_groups"], -1).indices
            gmask = torch.zeros(sel.shape[0], g, dtype=torch.bool, device=sel.device).scatter_(1, keep, True)
            sel = grouped.masked_fill(~gmask.unsqueeze(-1), float("-inf")).view(-1, e)
        experts = sel.topk(k, -1).indices
        weights = scores.gather(1, experts)
        if o["score"] == "sigmoid":
            weights = weights / weights.sum(-1, keepdim=True)
        return experts, weights * o["route_scale"]

    def forward(self, x):
        x2 = x.reshape(-1, x.shape[-1])
        experts, weights = self.route(x2)
        y = self.shared(x2) if hasattr(self, "shared") else torch.zeros_like(x2)
        for e, expert in enumerate(self.experts):
            rows, slot = (experts == e).nonzero(as_tuple=True)
            if rows.numel():
                y = y.index_add(0, rows, expert(x2[rows]) * weights[rows, slot].unsqueeze(1).to(x.dtype))
        if self.training and torch.is_grad_enabled():
            self.load += torch.bincount(experts.reshape(-1), minlength=self.o["experts"]).double()
        return y.view(x.shape)

    @torch.no_grad()
    def update_bias(self):
        load, self.load = self.load, torch.zeros_like(self.load)
        if load.mean() > 0:
            self.routing_bias += (torch.sign(load.mean() - load) * self.o["bias_rate"]).float()


class DiTBlock(nn.Module):
    def __init__(self, o, moe, skip_in):
        super().__init__()
        d, hd = o["hidden"], o["hidden"] // o["heads"]
        self.heads, self.skip_in = o["heads"], skip_in
        self.ada = nn.Linear(d, 6 * d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.qk_norm = o["qk_norm"]
        if self.qk_norm:
            self.q_norm = nn.LayerNorm(hd, eps=1e-6)
            self.k_norm = nn.LayerNorm(hd, eps=1e-6)
        self.cross = o["context_dim"] > 0
        if self.cross:
            self.cross_norm = nn.LayerNorm(d, eps=1e-6)
            self.cq = nn.Linear(d, d)
            self.ckv = nn.Linear(d, 2 * d)
            self.cproj = nn.Linear(d, d)
            if self.qk_norm:
                self.cq_norm = nn.LayerNorm(hd, eps=1e-6)
                self.ck_norm = nn.LayerNorm(hd, eps=1e-6)
        if skip_in:
            self.skip_norm = nn.LayerNorm(2 * d, eps=1e-6)
            self.skip_linear = nn.Linear(2 * d, d)
        self.use_moe = moe
        if moe:
            self.moe = MoE(d, o["moe"])
        else:
            h = max(1, round(o["mlp_ratio"] * d))
            self.fc1 = nn.Linear(d, h)
            self.fc2 = nn.Linear(h, d)

    def _heads(self, x):
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, c, angles, ctx, skip):
        b, t, d = x.shape
        if self.skip_in:
            x = self.skip_linear(self.skip_norm(torch.cat([x, skip], -1)))
        m = self.ada(F.silu(c)).chunk(6, -1)
        h = torch.addcmul(m[0].unsqueeze(1), F.layer_norm(x, (d,), eps=1e-6), m[1].unsqueeze(1) + 1.0)
        q, k, v = (self._heads(z) for z in self.qkv(h).chunk(3, -1))
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if angles is not None:
            q, k = _apply_rope(q, angles), _apply_rope(k, angles)
        x = x + m[2].unsqueeze(1) * self.proj(_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        if ctx is not None:
            cq = self._heads(self.cq(self.cross_norm(x)))
            ck, cv = (self._heads(z) for z in self.ckv(ctx).chunk(2, -1))
            if self.qk_norm:
                cq, ck = self.cq_norm(cq), self.ck_norm(ck)
            if angles is not None:
                cq = _apply_rope(cq, angles)
            x = x + self.cproj(_attention(cq, ck, cv).transpose(1, 2).reshape(b, t, d))
        h = torch.addcmul(m[3].unsqueeze(1), F.layer_norm(x, (d,), eps=1e-6), m[4].unsqueeze(1) + 1.0)
        f = self.moe(h) if self.use_moe else self.fc2(F.gelu(self.fc1(h), approximate="tanh"))
        return x + m[5].unsqueeze(1) * f


class DiTVelocity(nn.Module):
    """model.arch = "dit": the diffusion transformer of rflow/nn/dit.cpp, name for name (patch
    tokens, adaLN-Zero blocks, 2-D rotary positions, long skips, optional context and MoE)."""

    def __init__(self, options, sample_shape, num_classes=0):
        super().__init__()
        o = options
        self.shape = list(sample_shape)
        if len(self.shape) != 3:
            raise ValueError(f"the DiT needs image samples [C, H, W], got {self.shape}")
        tx = o.get("text", {})
        if tx.get("words", 0) > 0:  # Hunyuan-DiT's two encoders; their states are the context
            o = dict(o, context_dim=tx["word_dim"], context_len=tx["word_len"] + tx["char_len"])
            self.word_enc = TextEncoder(tx["words"], tx["word_len"], tx["word_dim"], tx["word_layers"], tx["heads"])
            if tx["char_len"] > 0:
                self.char_enc = TextEncoder(260, tx["char_len"], tx["char_dim"], tx["char_layers"], tx["heads"])
                self.char_fc1 = nn.Linear(tx["char_dim"], 4 * tx["word_dim"])
                self.char_fc2 = nn.Linear(4 * tx["word_dim"], tx["word_dim"])
        self.text = tx if tx.get("words", 0) > 0 else None
        c, hgt, wid = self.shape
        p, d = o["patch"], o["hidden"]
        self.o, self.num_classes = o, num_classes
        self.rows, self.cols = hgt // p, wid // p
        self.temb = TimeEmbedding(o["time_dim"])
        self.t1 = nn.Linear(o["time_dim"], d)
        self.t2 = nn.Linear(d, d)
        if num_classes > 0:
            self.label_emb = nn.Embedding(num_classes + 1, d)
        self.patch_embed = nn.Conv2d(c, d, p, stride=p)
        if o["rope"]:
            col, row = _patch_coordinates(self.rows, self.cols, o["rope_base"])
            hd = d // o["heads"]
            self.register_buffer("angles", torch.cat([_rope_angles(col, hd // 2), _rope_angles(row, hd // 2)], -1),
                                 persistent=False)
        else:
            self.pos_emb = nn.Parameter(torch.zeros(self.rows * self.cols, d))
        if o["context_dim"] > 0:
            self.ctx_proj = nn.Linear(o["context_dim"], d)
            self.ctx_padding = nn.Parameter(torch.zeros(o["context_len"], d))
            self.ctx_pool = nn.Linear(d, d)
        depth = o["depth"]
        n = (depth - 1) // 2 if o["long_skips"] else 0
        self.pairs = n
        for i in range(depth):
            moe = o["ffn"] == "moe" and i >= o["moe_from"]
            self.add_module(f"block{i}", DiTBlock(o, moe, i >= depth - n and n > 0))
        self.final_norm = nn.LayerNorm(d, eps=1e-6, elementwise_affine=False)
        self.final_ada = nn.Linear(d, 2 * d)
        self.final = nn.Linear(d, p * p * c)

    def moe_layers(self):
        return [m for m in self.modules() if isinstance(m, MoE)]

    def encode_text(self, ids, mask):
        """Token ids [B, word_len + char_len] (words, then characters) and their mask → states."""
        lw, lc = self.text["word_len"], self.text["char_len"]
        if ids.dim() != 2 or ids.shape[1] != lw + lc:
            raise ValueError(f"text conditioning needs token ids [B, {lw + lc}] (words then characters), got {list(ids.shape)}")
        mask = torch.ones_like(ids, dtype=torch.float32) if mask is None else mask
        states = self.word_enc(ids[:, :lw], mask[:, :lw])
        if lc == 0:
            return states
        ch = self.char_enc(ids[:, lw:], mask[:, lw:])
        return torch.cat([states, self.char_fc2(F.silu(self.char_fc1(ch)))], 1)

    def forward(self, x, t, labels=None, context=None, mask=None):
        """context: a float context [B, T, context_dim], or for a text-conditioned DiT the token
        ids [B, word_len + char_len] (int64) of its prompts; mask [B, T]: 1 where a token is."""
        if self.text is not None and context is not None:
            context = self.encode_text(context.long(), mask)
        b = x.shape[0]
        o, p = self.o, self.o["patch"]
        cond = self.t2(F.silu(self.t1(self.temb(t))))
        if self.num_classes > 0:
            cond = cond + self.label_emb(_label_rows(labels, b, self.num_classes, self.label_emb.weight.device))
        ctx = None
        if o["context_dim"] > 0:
            length, d = o["context_len"], o["hidden"]
            ctx = self.ctx_padding.unsqueeze(0).expand(b, length, d)
            if context is not None:
                n = context.shape[1]
                proj = F.pad(self.ctx_proj(context.float()), (0, 0, 0, length - n))
                present = torch.zeros(b, length, dtype=torch.bool, device=ctx.device)
                present[:, :n] = True if mask is None else mask.bool()
                ctx = torch.where(present.unsqueeze(-1), proj, ctx)
            cond = cond + self.ctx_pool(ctx.mean(1))
        rows, cols = x.shape[2] // p, x.shape[3] // p
        h = self.patch_embed(x).flatten(2).transpose(1, 2)
        angles = self.angles.to(h.dtype) if o["rope"] else None
        if o["rope"] and (rows, cols) != (self.rows, self.cols):
            # another aspect ratio (a model of several layouts): its own grid's positions
            col, row = _patch_coordinates(rows, cols, o["rope_base"])
            hd = o["hidden"] // o["heads"]
            angles = torch.cat([_rope_angles(col, hd // 2), _rope_angles(row, hd // 2)], -1).to(h.device, h.dtype)
        if not o["rope"]:
            h = h + self.pos_emb
        skips = []
        depth = o["depth"]
        for i in range(depth):
            skip = skips.pop() if self.pairs > 0 and i >= depth - self.pairs else None
            h = getattr(self, f"block{i}")(h, cond, angles, ctx, skip)
            if i < self.pairs:
                skips.append(h)
        m = self.final_ada(F.silu(cond)).chunk(2, -1)
        h = self.final(torch.addcmul(m[0].unsqueeze(1), self.final_norm(h), m[1].unsqueeze(1) + 1.0))
        c = self.shape[0]
        return h.view(b, rows, cols, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(x.shape)


class TorchScriptVelocity(nn.Module):
    """model.arch = "torchscript": the run's own TorchScript file (the code; it is not in the
    checkpoint, so it must still be where model.torchscript.path says) with the run's weights."""

    def __init__(self, options, sample_shape, num_classes=0):
        super().__init__()
        path = options["path"]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: the run's TorchScript file (model.torchscript.path) is not there; "
                                    "the checkpoint holds its weights but not its code")
        self.net = torch.jit.load(path, map_location="cpu")
        self.shape = list(sample_shape)
        self.num_classes = num_classes
        self.labels = bool(options.get("labels", False))
        self._register_load_state_dict_pre_hook(self._rflow_names)

    def _rflow_names(self, state_dict, prefix, *args):
        # rflow registers the module's tensors with each '.' of a name written as '__'.
        for name in self.net.state_dict():
            key = prefix + name.replace(".", "__")
            if key in state_dict:
                state_dict[prefix + "net." + name] = state_dict.pop(key)

    def forward(self, x, t, labels=None):
        if not self.labels:
            return self.net(x, t)
        lab = torch.full((x.shape[0],), -1, dtype=torch.int64) if labels is None else labels.long()
        return self.net(x, t, lab)


ARCHITECTURES = {"mlp": MlpVelocity, "unet": UNetVelocity, "temporal_unet": TemporalUNetVelocity,
                 "dit": DiTVelocity, "torchscript": TorchScriptVelocity}


def build_field(config, sample_shape):
    """The field of a run config (dict, as in config.json) for samples of `sample_shape`."""
    model = config["model"]
    arch = model["arch"]
    if arch not in ARCHITECTURES:
        raise NotImplementedError(f"model.arch = {arch!r} has no Python mirror: {', '.join(ARCHITECTURES)} have")
    return ARCHITECTURES[arch](model[arch], sample_shape, model.get("num_classes", 0))
