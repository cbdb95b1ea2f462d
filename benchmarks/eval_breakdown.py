"""Accuracy of the shipped segmentation models by distance from the camera and by class, on
held-out synthetic views: where the labels fail, and what the data engine should make more of.

    python benchmarks/eval_breakdown.py [--models rgbd-default,rgb-default]
        [--heldout synth:...] [--cache runs/cache] [--out runs/breakdown]

Prints, per model, pixel accuracy per depth bin (the frame's sensor depth) and the classes
with the lowest accuracy in the far bins; writes ``breakdown.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from real3d.core.files import atomic_write_text
    from real3d.core.labels import NYU13
    from real3d.core.machine import describe_machine
    from real3d.eval.breakdown import DistanceBreakdown
    from real3d.eval.segmentation import sample_to_frame
    from real3d.models import load_model
    from real3d.train.data import open_data, spec_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rgbd-default,rgb-default")
    ap.add_argument("--heldout", default="synth:kind=mixed,size=240x320,seed=7,n=208")
    ap.add_argument("--cache", default="runs/cache")
    ap.add_argument("--out", default="runs/breakdown")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cache = spec_cache_dir(args.cache, args.heldout) if args.cache else None
    data = open_data(args.heldout, cache)
    out = {"machine": describe_machine(("numpy", "torch")), "heldout": args.heldout, "models": {}}
    print(out["machine"])
    names = NYU13.names[1:]
    for name in args.models.split(","):
        model = load_model(name)
        b = DistanceBreakdown(num_classes=len(names))
        for i in range(len(data)):
            f = sample_to_frame(data[i], i)
            b.update(model.predict(f).labels, f.labels, f.depth_m)
        r = b.result()
        out["models"][name] = r
        print(f"\n{name} on {args.heldout} ({len(data)} views)")
        print("| depth bin | pixels | share % | accuracy % | three weakest classes (accuracy %, pixels) |")
        print("|---|---|---|---|---|")
        total = sum(r["pixels"])
        for k, bin_name in enumerate(r["bins"]):
            if not r["pixels"][k]:
                continue
            acc = r["class_accuracy"][bin_name]
            px = r["class_pixels"][bin_name]
            weak = sorted((a, c) for c, a in enumerate(acc) if a is not None and px[c] >= 500)[:3]
            weak_s = ", ".join(f"{names[c]} {100 * a:.1f} ({px[c]})" for a, c in weak)
            print(
                f"| {bin_name} | {r['pixels'][k]} | {100 * r['pixels'][k] / total:.1f} | "
                f"{100 * r['accuracy'][k]:.2f} | {weak_s} |"
            )
    dst = Path(args.out)
    dst.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dst / "breakdown.json", json.dumps(out, indent=1))
    print(f"\nwrote {dst / 'breakdown.json'}")


if __name__ == "__main__":
    main()
