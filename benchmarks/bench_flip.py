"""Test-time augmentation: what ``predict(frame, flip=True, scales=...)`` gains in held-out
mIoU and costs in time.

Each held-out view is labelled twice by one model, with variant A (default: plain) and
variant B (default: flip, the mirrored frame's class distribution averaged in); the mIoU
difference is bootstrapped over whole scenes (as in ``tools/compare_weights.py``). Then
``predict`` is timed both ways on one frame per size (the whole call: resizing, the
network, upsampling and softmax), alternating the two so that a drifting machine affects
both alike; medians of ``--repeats``. A variant is ``plain``, ``flip``, ``flip@1,1.2``
(flip at scales 1 and 1.2) or ``@1,1.2`` (scales alone), each with bilinear upsampling of
the class distributions; ``guided``, ``flip+guided`` or ``flip+guided@1,1.2`` upsample them
along the colour image's edges instead (the model's ``guide_radius``, ``real3d.nn.guided``).

    python benchmarks/bench_flip.py --model rgbd-default --cache runs/cache/heldout832
    python benchmarks/bench_flip.py --a flip --b flip@1,1.2 --cache runs/cache/heldout832
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image


def parse_variant(v: str) -> dict:
    """``plain`` | ``flip`` | ``guided`` | ``flip+guided``, each optionally ``@s1,s2,...``
    -> keyword arguments of ``predict``."""
    name, _, scales = v.partition("@")
    parts = set(name.split("+")) - {""}
    if not parts <= {"plain", "flip", "guided"} or ("plain" in parts and len(parts) > 1):
        raise SystemExit(f"variant {v!r}: expected plain, flip, guided or flip+guided, optionally @1,1.2")
    kw = {"flip": "flip" in parts, "guided": "guided" in parts}
    if scales:
        kw["scales"] = tuple(float(x) for x in scales.split(","))
    return kw


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
    ap.add_argument("--a", default="plain", help="variant A: plain | flip | guided | flip+guided, optionally @1,1.2")
    ap.add_argument("--b", default="flip", help="variant B, as --a")
    args = ap.parse_args()
    kw = {False: parse_variant(args.a), True: parse_variant(args.b)}

    import torch

    from real3d.eval import compare_labellings, sample_to_frame
    from real3d.models import load_model
    from real3d.train.data import open_data, parse_synth_spec

    torch.set_num_threads(args.threads)
    if not args.heldout.startswith("synth"):
        raise SystemExit("--heldout: expected a synth: spec (its views are grouped by scene)")
    net = load_model(args.model)
    data = open_data(args.heldout, args.cache)
    t0 = time.perf_counter()
    cmp = compare_labellings(
        lambda f: net.predict(f, **kw[False]).labels,
        lambda f: net.predict(f, **kw[True]).labels,
        data,
        parse_synth_spec(args.heldout).fps,
        max_samples=args.eval_samples,
        n_boot=args.resamples,
    )
    print(f"{args.model}: {cmp.views} views, {cmp.scenes} scenes, {time.perf_counter() - t0:.0f} s")
    print(cmp.summary((args.a, args.b)))

    from real3d.core.machine import describe_machine

    print(f"\nmachine: {describe_machine(('torch',))}; {args.threads} threads; predict(), median of {args.repeats}")
    print(f"| size | {args.a} ms | {args.b} ms | ratio |\n|---|---|---|---|")
    base = sample_to_frame(data[0], 0)
    for s in args.sizes.split(","):
        h, w = (int(v) for v in s.split("x"))
        frame = (
            base
            if (h, w) == base.size_hw
            else base.replace(  # the held-out view, rescaled
                rgb=np.asarray(Image.fromarray(base.rgb).resize((w, h), Image.BILINEAR)),
                depth_m=np.asarray(Image.fromarray(base.depth_m).resize((w, h), Image.NEAREST)),
                intrinsics=base.intrinsics.resized(w, h),
                labels=None,
            )
        )
        times: dict[bool, list[float]] = {False: [], True: []}
        with torch.no_grad():
            for k in range(3 + args.repeats):
                for side in (False, True):
                    t = time.perf_counter()
                    net.predict(frame, **kw[side])
                    if k >= 3:
                        times[side].append(1000 * (time.perf_counter() - t))
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {h}x{w} | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
