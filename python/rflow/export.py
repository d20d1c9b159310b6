"""TorchScript out: a trained rflow field as a self-contained TorchScript file that PyTorch
(torch.jit.load) and LibTorch (torch::jit::load, or rflow's own model.arch = "torchscript") load
without rflow. LibTorch's C++ frontend cannot turn its modules into TorchScript, so the export
rebuilds the field here and traces it.

    python3 -m rflow.export runs/demo_2d field.pt
"""

import argparse
import io
import os

import torch

from . import load


def export(path, out, ema=True):
    """Traces the field of `path` (run directory, checkpoint folder or weight file) into `out`.
    The file's forward is (x, t) for unconditional fields and (x, t, labels) for conditional ones."""
    field = load(path, ema=ema)
    if getattr(field, "text", None) is not None:
        raise ValueError(f"{path}: a text-conditioned DiT has no TorchScript export yet; sample it in Python with "
                         "rflow.solve(field, x0, context=ids, mask=mask) (rflow sample --prompt writes the ids "
                         "as <out>.context.npy and <out>.mask.npy)")
    shape = field.rflow["sample_shape"]
    x = torch.randn(2, *shape)
    t = torch.rand(2)
    if getattr(field, "num_classes", 0) > 0:
        labels = torch.tensor([0, -1])
        traced = torch.jit.trace(field, (x, t, labels), check_inputs=[(torch.randn(3, *shape), torch.rand(3), torch.tensor([1, -1, 0]))])
    else:
        traced = torch.jit.trace(field, (x, t), check_inputs=[(torch.randn(3, *shape), torch.rand(3))])
    # Serialised in memory and written by Python's own file object: a failed write (a full disk)
    # is then an OSError with its errno, where torch's file writer aborts the process.
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    with open(out, "wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    return traced


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run directory, checkpoints/ or step_* folder, or a weight file")
    parser.add_argument("out", help="the TorchScript file to write")
    parser.add_argument("--no-ema", action="store_true", help="the raw weights instead of the EMA")
    args = parser.parse_args()
    try:
        export(args.run, args.out, ema=not args.no_ema)
    except (OSError, ValueError, NotImplementedError) as e:  # the user's input: one line, no traceback
        raise SystemExit(f"rflow.export: error: {e}")
    print(f"{args.out}: TorchScript of {args.run}")


if __name__ == "__main__":
    main()
