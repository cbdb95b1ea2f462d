"""Compare two segmentation weights on the same held-out scenes (a paired comparison).

Both models label every held-out view; the difference of their mIoU is bootstrapped over
whole scenes, so what varies between scenes (which the two share) cancels out. Two phases a
few tenths of a point apart can be ranked this way where each figure's own spread (about
0.6 on 832 views) could not. Prints both mIoUs, the difference with its spread and 95 %
range, the share of resamples where B beats A, and the per-class IoU changes.

    python tools/compare_weights.py src/real3d/weights/rgbd-default.safetensors \\
        runs/candidate/model.safetensors --cache runs/cache/heldout832
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="weights A (name or .safetensors), the reference")
    ap.add_argument("b", help="weights B, the candidate")
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=832")
    ap.add_argument("--cache", type=Path, default=None, help="render the held-out views once into this folder")
    ap.add_argument("--head", default="refined", help="refined | coarse")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
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
    data = open_data(args.heldout, args.cache)
    nets = [load_model(args.a), load_model(args.b)]
    n = len(data) // per_scene * per_scene
    if n < 2 * per_scene:
        raise SystemExit(f"--heldout: need at least two scenes of {per_scene} views, got {len(data)} views")
    per_view = [[], []]
    for i in range(n):
        f = sample_to_frame(data[i], i)
        for k, net in enumerate(nets):
            per_view[k].append(confusion_matrix(net.predict(f, head=args.head).labels, f.labels))
    conf = [np.stack(v).reshape(-1, per_scene, *v[0].shape).sum(axis=1) for v in per_view]
    m = [metrics_from_confusion(c.sum(axis=0)) for c in conf]
    d = 100 * bootstrap_miou_draws(conf[1], reference=conf[0], n_boot=args.resamples)
    print(f"{n} views, {len(conf[0])} scenes, {args.head} head")
    print(f"A {100 * m[0].miou:.2f}  B {100 * m[1].miou:.2f}  B - A {100 * (m[1].miou - m[0].miou):+.2f}"
          f"  (scene bootstrap std {d.std():.2f}, 95 % {np.quantile(d, 0.025):+.2f} to {np.quantile(d, 0.975):+.2f},"
          f" B ahead in {100 * np.mean(d > 0):.1f} % of resamples)")
    print("per-class IoU, B - A:", ", ".join(f"{NYU13.names[i + 1]} {100 * (m[1].iou[i] - m[0].iou[i]):+.1f}"
                                             for i in range(len(m[0].iou))))


if __name__ == "__main__":
    main()
