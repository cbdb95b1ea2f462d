"""Test-time flip: what ``predict(frame, flip=True)`` gains in held-out mIoU and costs in time.

Each held-out view is labelled twice by one model, plainly and with the mirrored frame's
class distribution averaged in; the mIoU difference is bootstrapped over whole scenes (as in
``tools/compare_weights.py``). Then ``predict`` is timed both ways on one frame per size
(the whole call: resizing, the network, upsampling and softmax), alternating the two so
that a drifting machine affects both alike; medians of ``--repeats``.

    python benchmarks/bench_flip.py --model rgbd-default --cache runs/cache/heldout832
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rgbd-default", help="pretrained name or .safetensors path")
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=832")
    ap.add_argument("--cache", type=Path, default=None, help="render the held-out views once into this folder")
    ap.add_argument("--eval-samples", type=int, default=0, help="first N views (0 = all; whole scenes)")
    ap.add_argument("--sizes", default="240x320,480x640")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()

    import torch

    from real3d.core.labels import NYU13
    from real3d.eval import bootstrap_miou_draws, confusion_matrix, metrics_from_confusion
    from real3d.eval.segmentation import sample_to_frame
    from real3d.models import load_model
    from real3d.train.data import open_data, parse_synth_spec

    torch.set_num_threads(args.threads)
    if not args.heldout.startswith("synth"):
        raise SystemExit("--heldout: expected a synth: spec (its views are grouped by scene)")
    per_scene = parse_synth_spec(args.heldout).fps
    net = load_model(args.model)
    data = open_data(args.heldout, args.cache)
    n = len(data) if args.eval_samples <= 0 else min(args.eval_samples, len(data))
    n = n // per_scene * per_scene
    if n < 2 * per_scene:
        raise SystemExit(f"need at least two scenes of {per_scene} views, got {n} views")
    per_view: list[list[np.ndarray]] = [[], []]
    t0 = time.perf_counter()
    for i in range(n):
        f = sample_to_frame(data[i], i)
        per_view[0].append(confusion_matrix(net.predict(f).labels, f.labels))
        per_view[1].append(confusion_matrix(net.predict(f, flip=True).labels, f.labels))
    conf = [np.stack(v).reshape(-1, per_scene, *v[0].shape).sum(axis=1) for v in per_view]
    m = [metrics_from_confusion(c.sum(axis=0)) for c in conf]
    d = 100 * bootstrap_miou_draws(conf[1], reference=conf[0], n_boot=args.resamples)
    print(f"{args.model}: {n} views, {len(conf[0])} scenes, {time.perf_counter() - t0:.0f} s")
    print(f"mIoU plain {100 * m[0].miou:.2f}  flip-averaged {100 * m[1].miou:.2f}  "
          f"difference {100 * (m[1].miou - m[0].miou):+.2f} (scene bootstrap std {d.std():.2f}, "
          f"95 % {np.quantile(d, 0.025):+.2f} to {np.quantile(d, 0.975):+.2f})")
    print("per-class IoU, flip - plain:", ", ".join(
        f"{NYU13.names[i + 1]} {100 * (m[1].iou[i] - m[0].iou[i]):+.1f}" for i in range(len(m[0].iou))))

    print(f"\nmachine: {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"torch {torch.__version__}, python {platform.python_version()}; predict(), median of {args.repeats}")
    print("| size | plain ms | flip ms | ratio |\n|---|---|---|---|")
    base = sample_to_frame(data[0], 0)
    for s in args.sizes.split(","):
        h, w = (int(v) for v in s.split("x"))
        rng = np.random.default_rng(0)
        frame = base if (h, w) == base.size_hw else base.replace(
            rgb=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            depth_m=rng.uniform(0.5, 6.0, (h, w)).astype(np.float32),
            intrinsics=base.intrinsics.resized(w, h), labels=None)
        times: dict[bool, list[float]] = {False: [], True: []}
        with torch.no_grad():
            for k in range(3 + args.repeats):
                for flip in (False, True):
                    t = time.perf_counter()
                    net.predict(frame, flip=flip)
                    if k >= 3:
                        times[flip].append(1000 * (time.perf_counter() - t))
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {h}x{w} | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
