"""How segmentation models transfer to real rooms, without labels: every real capture in the
shared data (``shared/data/real``, the synthetic ICL-NUIM sequence left out) is segmented
and the predictions are compared with the statistics of the 654 official NYUv2 test label
maps (``shared/data/nyuv2_meta``): class shares (Jensen-Shannon divergence), vertical
layout per class (earth mover's distance over 8 bands), frequent real classes never
predicted, and impossible layouts (ceiling in the bottom half, floor in the top quarter);
beside them mIoU and pixel accuracy on the one labelled NYUv2 frame. docs/segmentation.md
("Transfer to real rooms without labels") says what each figure means.

Prints one row per model and writes transfer.json, transfer.md and a contact sheet per
model (each frame beside its predicted labels) under --out. Any number of models:

    python benchmarks/eval_real_transfer.py --models rgbd-default,rgb-default[,runs/x/model.safetensors,...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rgbd-default,rgb-default", help="comma-separated names or .safetensors paths")
    ap.add_argument("--out", default="runs/transfer")
    ap.add_argument("--real", default=None, help="folder of the real captures (default: shared/data/real)")
    ap.add_argument("--stats", default=None, help="NYUv2-13 label statistics JSON (default: shared nyuv2_meta)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()

    import torch

    from real3d.cli.eval_cmd import run_transfer
    from real3d.core.machine import describe_machine

    torch.set_num_threads(args.threads)
    print(describe_machine(("torch", "numpy")) + f", {args.threads} torch thread(s)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    t0 = time.perf_counter()
    run_transfer(
        models,
        Path(args.out),
        Path(args.real) if args.real else None,
        Path(args.stats) if args.stats else None,
    )
    print(f"{len(models)} model(s) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
