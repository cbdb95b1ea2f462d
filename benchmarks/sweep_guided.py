"""Guided upsampling: mIoU of ``predict`` over a grid of the filter's radius and eps.

The network runs once per view (at the size ``predict`` uses); its logits are then turned
into labels at the view's size by ``predict``'s own post-processing
(``real3d.models.segmentation.tta_predict`` given those logits), bilinear and guided with
every (radius, eps) pair. Prints
each setting's mIoU and its difference from the plain path on the same views. Choose the
setting on views the held-out figures do not use, e.g. those the class offsets were fitted
on:

    python benchmarks/sweep_guided.py --model rgbd-default \
        --data "synth:kind=mixed,size=240x320,seed=0,first=200000,n=1600" --cache runs/cache/val2 --first 0 --n 320
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rgbd-default", help="pretrained name or .safetensors path")
    ap.add_argument("--data", default="synth:kind=mixed,size=240x320,seed=0,first=200000,n=1600")
    ap.add_argument("--cache", type=Path, default=None, help="render the views once into this folder")
    ap.add_argument("--first", type=int, default=0, help="first view of --data to use")
    ap.add_argument("--n", type=int, default=320, help="views to use (0 = to the end)")
    ap.add_argument("--radii", default="2,3,4", help="comma-separated window radii on the refined head's grid")
    ap.add_argument("--eps", default="1e-4,3e-4,1e-3,3e-3", help="comma-separated regularisations")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import dataclasses

    import torch

    from real3d.eval import confusion_matrix, metrics_from_confusion, sample_to_frame
    from real3d.models import load_model
    from real3d.models.segmentation import frame_to_tensors, tta_predict
    from real3d.train.data import open_data

    torch.set_num_threads(args.threads)
    net = load_model(args.model).eval()
    if not net.uses_rgb:
        raise SystemExit(f"{args.model}: the guided filter needs an RGB model")
    data = open_data(args.data, args.cache)
    last = len(data) if args.n <= 0 else min(len(data), args.first + args.n)
    if not 0 <= args.first < last:
        raise SystemExit(f"--first {args.first} / --n {args.n}: outside the {len(data)} views of --data")
    settings = list(itertools.product((int(r) for r in args.radii.split(",")), (float(e) for e in args.eps.split(","))))
    configs = {s: dataclasses.replace(net.config, guide_radius=s[0], guide_eps=s[1]) for s in settings}
    confs = {s: np.zeros((14, 14), np.int64) for s in ["plain", *settings]}
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(args.first, last):
            frame = sample_to_frame(data[i], i)
            rgb_t, depth_t, _ = frame_to_tensors(frame, net.config)
            logits = net(rgb_t, depth_t)

            def run(rgb, depth, out=logits):  # the network's answer for this view, computed once
                return out

            res = tta_predict(run, frame, net.config, "refined", guided=False)
            confs["plain"] += confusion_matrix(res.labels, frame.labels)
            for s in settings:
                res = tta_predict(run, frame, configs[s], "refined", guided=True)
                confs[s] += confusion_matrix(res.labels, frame.labels)
    base = metrics_from_confusion(confs["plain"]).miou * 100
    print(f"{args.model}: views {args.first}-{last - 1} of {args.data}, {time.perf_counter() - t0:.0f} s")
    print("| radius | eps | mIoU | vs plain |\n|---|---|---|---|")
    print(f"| plain | | {base:.2f} | |")
    for r, e in settings:
        m = metrics_from_confusion(confs[(r, e)]).miou * 100
        print(f"| {r} | {e:g} | {m:.2f} | {m - base:+.2f} |")


if __name__ == "__main__":
    main()
