"""Navigation scoring of costmap settings on saved maps of data-engine homes.

Fuses each home once (300 noisy frames at 240x320, ground-truth labels and instances, or
with ``--model`` a segmentation network's class probabilities and no instances,
``SemanticMap(pixel_stride=4)``, the scene graph updated every 10 frames with the shipped
box refiner, as ``eval_mapping.py`` does; ``real3d.testing.fusion.fused_home``) and keeps the
map, the graph's objects and the scene under ``--maps``; then scores navigation as
``eval_mapping.py`` does (20 pairs per home, clearance to the exact outlines, without and
with a 0.1 m goal tolerance) for the costmap settings given, so that settings can be
compared on the same maps in minutes.

    python benchmarks/eval_nav_maps.py --seeds 0..75 --maps runs/navmaps --costmap margin_cost=200

``--time-costmap N`` also times ``build_costmap`` on each map (median of N).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", default=["0..7"], help="seeds or ranges A..B")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--maps", default="runs/navmaps", help="folder keeping the fused maps")
    ap.add_argument(
        "--band-offset",
        type=float,
        default=0.0,
        help="costmap band bottom above the ground truth's (eval_mapping.py uses the same)",
    )
    ap.add_argument(
        "--costmap",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a CostmapConfig field (repeatable)",
    )
    ap.add_argument(
        "--model",
        default=None,
        help="fuse this segmentation model's probabilities instead of the ground-truth "
        "labels (a pretrained name such as rgbd-default, or a .safetensors path)",
    )
    ap.add_argument(
        "--time-costmap",
        type=int,
        default=0,
        metavar="N",
        help="also time build_costmap on each home's map N times and print the median",
    )
    args = ap.parse_args()
    model = None
    if args.model is not None:
        import torch

        from real3d.models import load_model

        torch.set_num_threads(1)
        model = load_model(args.model)

    from real3d.cli.values import config_from_overrides, parse_seeds
    from real3d.core.errors import ConfigError
    from real3d.testing.fusion import fused_home
    from real3d.nav import CostmapConfig, build_costmap
    from real3d.nav.evaluate import evaluate_navigation

    try:
        seeds = parse_seeds(args.seeds)
    except ConfigError as e:
        raise SystemExit(f"--seeds: {e}") from None

    t0 = time.perf_counter()
    n = ok = coll = ok_t = coll_t = 0
    ratios, bad = [], []
    for seed in seeds:
        m, d = fused_home(seed, args.maps, args.frames, args.model, model)
        occ = d["scene"].occupancy
        try:
            cfg = config_from_overrides(
                CostmapConfig, args.costmap, z_min_m=occ.z_min_m + args.band_offset, z_max_m=occ.z_max_m
            )
        except ConfigError as e:
            raise SystemExit(str(e)) from None
        cm = build_costmap(m, cfg, floor_z_m=d["floor_z"], objects=d["objects"])
        if args.time_costmap > 0:
            ts = []
            for _ in range(args.time_costmap):
                t1 = time.perf_counter()
                build_costmap(m, cfg, floor_z_m=d["floor_z"], objects=d["objects"])
                ts.append((time.perf_counter() - t1) * 1e3)
            print(
                f"home {seed}: build_costmap {np.median(ts):.1f} ms (median of {len(ts)}; {len(m)} voxels, "
                f"{cm.cost.shape[0]}x{cm.cost.shape[1]} cells)",
                flush=True,
            )
        res = [
            evaluate_navigation(cm, occ, n_pairs=20, seed=seed, goal_tolerance_m=tol, mesh=d["scene"].mesh)
            for tol in (0.0, 0.1)
        ]
        k = [round(r.success_rate * r.n_pairs) for r in res]
        c = [round(r.collision_rate * kk) if kk else 0 for r, kk in zip(res, k)]
        n += res[0].n_pairs
        ok, ok_t, coll, coll_t = ok + k[0], ok_t + k[1], coll + c[0], coll_t + c[1]
        ratios.append(res[0].length_ratio_mean)
        if c[0] or c[1] or k[0] < res[0].n_pairs:
            bad.append(f"home {seed}: {res[0].n_pairs - k[0]} failed, {c[0]} / {c[1]} colliding")
        print(
            f"home {seed}: {k[0]}/{res[0].n_pairs} paths, {c[0]} colliding; with goal tolerance "
            f"{k[1]}, {c[1]} colliding; length ratio {res[0].length_ratio_mean:.3f}",
            flush=True,
        )
    print(
        f"\nlabels: {args.model or 'ground truth'}; costmap overrides: {' '.join(args.costmap) or 'none'}; "
        f"band bottom +{args.band_offset} m"
    )
    print(
        f"pairs {n}: success {ok} ({ok / max(n, 1):.4f}), colliding {coll}; with goal tolerance 0.1 m: "
        f"success {ok_t}, colliding {coll_t}; length ratio {np.nanmean(ratios):.4f} (mean per home); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    for b in bad:
        print(" ", b)


if __name__ == "__main__":
    main()
