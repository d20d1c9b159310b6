"""rflow in Python: load a run (or one checkpoint weight file) that rflow's C++ tools trained,
rebuild its velocity field in PyTorch and sample it — no compiled extension, only numpy and torch.

    import rflow
    field = rflow.load("runs/demo_2d")                 # EMA weights, eval mode
    x = rflow.solve(field, torch.randn(1000, 2), solver="heun", steps=4)
"""

import json
import os

from .fields import build_field
from .safetensors_io import read_safetensors
from .solvers import SOLVERS, guided, solve

__all__ = ["load", "load_weights_file", "read_safetensors", "solve", "guided", "SOLVERS"]
__version__ = "0.1.0"


def _checkpoint_dir(path):
    """A step_* folder from a run directory, its checkpoints/ folder or the folder itself."""
    if os.path.isfile(os.path.join(path, "model.safetensors")):
        return path
    root = path if os.path.basename(os.path.normpath(path)) == "checkpoints" else os.path.join(path, "checkpoints")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{path}: no checkpoints (pass a run directory, its checkpoints/ or a step_* folder)")
    steps = sorted(d for d in os.listdir(root) if d.startswith("step_") and not d.endswith(".damaged")
                   and os.path.isfile(os.path.join(root, d, "model.safetensors")))
    if not steps:
        raise FileNotFoundError(f"{root}: no step_* checkpoint with weights")
    return os.path.join(root, steps[-1])


def load_weights_file(path):
    """The field of one weight file (model.safetensors / ema.safetensors): its header carries the
    run config, the sample shape and the step. Returns the module in eval mode; its `.rflow` holds
    {"config", "sample_shape", "step", "written_by"}."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != "rflow" or "config" not in meta or "sample_shape" not in meta:
        raise ValueError(f"{path}: not a self-describing rflow weight file (written by an rflow older than 0.1, "
                         "or not by rflow): the C++ tools still load it; retrain it to load it in Python")
    config = json.loads(meta["config"])
    method = config.get("method", {})
    if method.get("name") == "perflow" and method.get("perflow", {}).get("parameterization") == "jump":
        raise NotImplementedError(f"{path}: a PeRFlow student with parameterization = jump outputs jumps, not "
                                  "velocities; sample it with rflow's tools (rflow sample)")
    shape = json.loads(meta["sample_shape"])
    field = build_field(config, shape)
    field.load_state_dict(tensors, strict=True)
    field.eval()
    field.rflow = {"config": config, "sample_shape": shape, "step": int(meta.get("step", 0)),
                   "written_by": meta.get("rflow_version", "")}
    return field


def load(path, ema=True):
    """The field of a run directory, checkpoints/ folder, step_* folder or weight file."""
    if os.path.isfile(path):
        return load_weights_file(path)
    ckpt = _checkpoint_dir(path)
    name = "ema.safetensors" if ema and os.path.isfile(os.path.join(ckpt, "ema.safetensors")) else "model.safetensors"
    return load_weights_file(os.path.join(ckpt, name))
