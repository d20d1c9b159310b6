"""Velocity fields rebuilt in PyTorch from an rflow config, with rflow's parameter names, so a
checkpoint's weights load as they are. Each module's forward(x, t, labels=None) equals the C++ one."""

import math

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
        for i in range(depth - 1):
            self.add_module(f"h{i}", nn.Linear(hidden, hidden))
        self.depth = depth
        self.out = nn.Linear(hidden, self.dim)

    def forward(self, x, t, labels=None):
        b = x.shape[0]
        h = self.in_x(x.reshape(b, self.dim)) + self.in_t(self.temb(t))
        if self.num_classes > 0:
            lab = torch.full((b,), -1, dtype=torch.int64) if labels is None else labels.long()
            lab = torch.where(lab < 0, torch.full_like(lab, self.num_classes), lab)
            h = h + self.label_emb(lab)
        h = self.act(h)
        for i in range(self.depth - 1):
            h = self.act(getattr(self, f"h{i}")(h))
        return self.out(h).view(b, *self.shape)


def build_field(config, sample_shape):
    """The field of a run config (dict, as in config.json) for samples of `sample_shape`."""
    model = config["model"]
    arch = model["arch"]
    if arch == "mlp":
        return MlpVelocity(model["mlp"], sample_shape, model.get("num_classes", 0))
    raise NotImplementedError(f"model.arch = {arch!r} has no Python mirror yet (mlp has)")
