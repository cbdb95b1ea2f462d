"""Metric depth from RGB (real3d.models.depth) on held-out synthetic frames and on the real
frames with registered depth in the shared data.

Synthetic: robot trajectory frames and single views of seed stream 7 (no scene shared with
the training streams), scored against the clean depth, with and without the floor prior
(camera height = the pose's z). Real: ``joinmap_kinect_seq`` (5 Kinect v1 frames),
``tum_pair`` (2 TUM frames) and ``sunrgbd`` (2 SUN RGB-D frames), read with
``real3d.io.open_sequence`` and the options ``real3d.io.real_samples`` names, scored against
their sensor depth (no floor prior: their poses are not gravity-aligned with a known floor).
Each row: AbsRel, delta<1.25, RMSE, coverage (share of the reference depth the network
did not decline), the same after per-frame median scaling (shape without scale), the
median scale ratio (prediction / truth), and, as a floor to beat, the best constant depth
(the reference's own median over the set).

    python benchmarks/eval_depth.py --model depth-rgb-default --n 160 --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np


def constant_baseline(frames) -> dict:
    from real3d.train.depth import depth_errors

    gts = [f.depth_clean_m if f.depth_clean_m is not None else f.depth_m for f in frames]
    med = float(np.median(np.concatenate([g[g > 0] for g in gts])))
    return depth_errors(
        np.concatenate([np.where(g > 0, med, 0).ravel() for g in gts]), np.concatenate([g.ravel() for g in gts])
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="depth-rgb-default")
    ap.add_argument("--n", type=int, default=160, help="synthetic frames per set")
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args()

    import torch

    from real3d.io import open_sequence
    from real3d.io.real_samples import real_samples_dir, sample_options
    from real3d.models.depth import load_depth_model
    from real3d.train.depth import score_depth_frames, synth_frames

    torch.set_num_threads(args.threads)
    net = load_depth_model(args.model)
    sets = {
        "synth robot (seed 7)": (
            synth_frames(f"synth:kind=home,size={args.size},seed=7,n={args.n},camera=robot"),
            True,
        ),
        "synth views (seed 7)": (synth_frames(f"synth:kind=home,size={args.size},seed=7,n={args.n}"), True),
    }
    real = real_samples_dir(Path(__file__).resolve().parents[1])
    for name in ("joinmap_kinect_seq", "tum_pair", "sunrgbd"):
        folder = real / name
        if not folder.exists():
            print(f"{folder}: missing, skipped")
            continue
        frames = [f for f in open_sequence(folder, **sample_options(name)) if f.depth_m is not None]
        sets[f"real {name}"] = (frames, False)

    rows = []
    for name, (frames, has_floor) in sets.items():
        for prior in (False, True) if has_floor else (False,):
            r = score_depth_frames(net, frames, floor_prior=prior)
            r.update(set=name, floor_prior=prior)
            rows.append(r)
        rows.append({"set": name, "floor_prior": "constant", **constant_baseline(frames), "frames": len(frames)})

    print(
        f"{args.model}; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s)"
    )
    print(
        "| set | frames | scale | AbsRel | delta<1.25 | RMSE m | coverage | AbsRel (median-scaled) | "
        "delta<1.25 (median-scaled) | scale ratio | ms/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        how = {False: "focal", True: "floor prior", "constant": "best constant"}[r["floor_prior"]]
        if r["floor_prior"] == "constant":
            print(
                f"| {r['set']} | {r['frames']} | {how} | {r['abs_rel']:.3f} | {r['delta1']:.3f} | {r['rmse_m']:.3f} "
                f"| - | - | - | - | - |"
            )
            continue
        used = f" (used on {r['floor_used']})" if r["floor_prior"] else ""
        print(
            f"| {r['set']} | {r['frames']} | {how}{used}"
            f" | {r['abs_rel']:.3f} | {r['delta1']:.3f} | {r['rmse_m']:.3f} | {r['coverage']:.3f} | "
            f"{r['abs_rel_median_scaled']:.3f} | {r['delta1_median_scaled']:.3f} | {r['scale_ratio_median']:.3f} | "
            f"{r['predict_ms']:.1f} |"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
