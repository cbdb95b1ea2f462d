"""Recompute the BatchNorm running statistics of segmentation weights for the frames
``predict`` sees, and write weights that carry them.

Runs ``real3d.train.batchnorm.recalibrate_batchnorm``: ``--views`` whole views of ``--data``
(views the weights will not be judged on), resized as ``predict`` resizes a frame and, unless
``--no-flip``, mirrored as well, in training mode without gradients; every BatchNorm layer's
running mean and variance become the average over those batches. Useful after a weight
average (whose statistics are the average of its inputs' statistics, not those of the
averaged network). The output card is the input card plus ``batchnorm_recalibration``
(what was run, the command); its ``metrics`` are dropped: run ``tools/card_metrics.py``.

    python tools/recalibrate_bn.py src/real3d/weights/rgbd-default.safetensors \\
        --data "synth:kind=mixed,size=240x320,seed=0,first=214400,n=1600" --cache runs/cache/bn \\
        --out runs/rgbd-bn/model.safetensors
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="name or .safetensors")
    ap.add_argument("--data", required=True, help="views to gather the statistics on (a data spec)")
    ap.add_argument("--cache", type=Path, default=None, help="render the views once into this folder")
    ap.add_argument("--views", type=int, default=1600)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--no-flip", action="store_true", help="do not also run each batch mirrored")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from real3d.models import load_model, save_weights
    from real3d.models.cards import derived_card, tool_command
    from real3d.train.batchnorm import recalibrate_batchnorm
    from real3d.train.data import open_data

    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    t = time.perf_counter()
    data = open_data(args.data, args.cache, workers=args.threads)
    stats = recalibrate_batchnorm(model, data, max_views=args.views, batch_size=args.batch_size, flip=not args.no_flip)
    print(
        f"{stats.layers} BatchNorm layers, {stats.views} views in {stats.batches} batches"
        f"{' (and mirrored)' if stats.flip else ''} at {stats.size_hw[0]}x{stats.size_hw[1]}; "
        f"largest mean shift {stats.mean_shift:.3f} std ({time.perf_counter() - t:.0f} s)"
    )
    card = derived_card(model)
    card["batchnorm_recalibration"] = dict(
        stats.to_dict(), data=args.data, command=tool_command("tools/recalibrate_bn.py")
    )
    print("wrote", save_weights(model, args.out, card))


if __name__ == "__main__":
    main()
