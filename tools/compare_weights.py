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

    from real3d.eval import compare_labellings
    from real3d.models import load_model
    from real3d.train.data import open_data, parse_synth_spec

    torch.set_num_threads(args.threads)
    if not args.heldout.startswith("synth"):
        raise SystemExit("--heldout: expected a synth: spec (its views are grouped by scene)")
    a, b = load_model(args.a), load_model(args.b)
    cmp = compare_labellings(
        lambda f: a.predict(f, head=args.head).labels,
        lambda f: b.predict(f, head=args.head).labels,
        open_data(args.heldout, args.cache),
        parse_synth_spec(args.heldout).fps,
        n_boot=args.resamples,
    )
    print(f"{cmp.views} views, {cmp.scenes} scenes, {args.head} head")
    print(cmp.summary())


if __name__ == "__main__":
    main()
