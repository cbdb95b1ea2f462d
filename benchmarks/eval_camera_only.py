"""Camera-only 3D against RGB-D: the map and navigation of held-out data-engine homes when
the depth camera is gone and the pipeline fuses predicted depth.

For each home (``generate_sequence(seed, frames)``, noisy 240x320 robot frames; the seeds
default to 200.. which no training stream of the depth network or the segmentation models
uses) two pipeline runs over the same frames:

  rgbd:   the frames as they are (``--rgbd-model``, shipped rgbd-default);
  camera: every frame's depth dropped; ``--rgb-model`` segments and ``--depth-model``
          predicts metric depth, fused with ``--weight`` and ``--trunc-scale`` times the
          map's truncation (``PipelineConfig.depth_model``), rescaled to the camera's
          height (the pose's z) unless ``--no-floor-prior``.

Scored as ``eval_mapping.py`` scores maps: 3D semantic accuracy and mIoU of the surface
voxels against the labelled mesh, geometric accuracy (voxel -> mesh, cm) and completeness
(observed clean-depth surface within 5 cm of a voxel); navigation on the costmap built
from each map (the scene graph's floor and objects) over 20 start/goal pairs per home:
``own`` pairs are those each map saw free (as eval_mapping.py), ``shared`` pairs are the
same ground-truth-connected pairs for both runs (``observed_only=False``, so a map that
never saw a place fails there).

    python benchmarks/eval_camera_only.py --seeds 200 201 202 --frames 150 --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def run_home(seq, cfg, drop_depth: bool):
    """Fuse ``seq`` through a Pipeline; returns (pipeline, status counts, fps)."""
    from real3d.pipeline import Pipeline

    p = Pipeline(cfg)
    counts: dict = {}
    t0 = time.perf_counter()
    for f in seq:
        if drop_depth:
            f = f.replace(depth_m=None, depth_clean_m=None)
        r = p.step(f)
        key = f"{r.status}:{r.depth_source}" if r.depth_source else r.status
        counts[key] = counts.get(key, 0) + 1
    fps = len(seq) / (time.perf_counter() - t0)
    p.close()
    return p, counts, fps


def score(p, seq, seed: int, pairs: int) -> dict:
    from real3d.mapping.evaluate import evaluate_map, observed_surface_points
    from real3d.nav import CostmapConfig, build_costmap
    from real3d.nav.evaluate import evaluate_navigation

    mm = evaluate_map(p.map, seq.scene.mesh, observed_surface_points(seq.frames))
    g = p.scene_graph
    occ = seq.scene.occupancy
    cfg = CostmapConfig(z_min_m=occ.z_min_m, z_max_m=occ.z_max_m)
    cm = build_costmap(p.map, cfg, floor_z_m=g.floor_z_m, objects=g.objects())
    own = evaluate_navigation(cm, occ, n_pairs=pairs, seed=seed, mesh=seq.scene.mesh)
    shared = evaluate_navigation(cm, occ, n_pairs=pairs, seed=seed, mesh=seq.scene.mesh, observed_only=False)
    return {
        "voxels": len(p.map),
        "miou": mm.miou,
        "accuracy": mm.semantic_accuracy,
        "geo_cm": mm.accuracy_cm_median,
        "completeness": mm.completeness,
        "free_cells": int(cm.grid.free.sum()),
        "occupied_cells": int(cm.grid.occupied.sum()),
        "nav_own": own.to_dict(),
        "nav_shared": shared.to_dict(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[200, 201, 202])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--rgbd-model", default="rgbd-default")
    ap.add_argument("--rgb-model", default="rgb-default")
    ap.add_argument("--depth-model", default="depth-rgb-default")
    ap.add_argument("--weight", type=float, default=0.3, help="PipelineConfig.predicted_depth_weight")
    ap.add_argument("--trunc-scale", type=float, default=2.0, help="PipelineConfig.predicted_truncation_scale")
    ap.add_argument("--no-floor-prior", action="store_true", help="PipelineConfig.depth_floor_prior=False")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args()

    import torch

    from real3d.pipeline import PipelineConfig
    from real3d.synth import generate_sequence

    torch.set_num_threads(args.threads)
    base = dict(
        rgb_model=args.rgb_model,
        backend="torch",
        threads=args.threads,
        graph_every=30,
        costmap_every=0,
        background_refresh=False,
    )
    rgbd_cfg = PipelineConfig(model=args.rgbd_model, **base)
    cam_cfg = PipelineConfig(
        model=args.rgbd_model,
        depth_model=args.depth_model,
        predicted_depth_weight=args.weight,
        predicted_truncation_scale=args.trunc_scale,
        depth_floor_prior=not args.no_floor_prior,
        **base,
    )
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        seq = generate_sequence(seed, args.frames, size=(240, 320), kind="home", noise=True)
        row = {"seed": seed, "frames": len(seq), "gen_s": round(time.perf_counter() - t0, 1)}
        for name, cfg, drop in (("rgbd", rgbd_cfg, False), ("camera", cam_cfg, True)):
            p, counts, fps = run_home(seq, cfg, drop)
            row[name] = {"counts": counts, "fps": round(fps, 2), **score(p, seq, seed, args.pairs)}
        rows.append(row)
        for name in ("rgbd", "camera"):
            r = row[name]
            print(
                f"home {seed} {name:6s}: mIoU {r['miou']:.3f} acc {r['accuracy']:.3f} geo {r['geo_cm']:.1f} cm "
                f"compl {r['completeness']:.3f} voxels {r['voxels']} | nav own {r['nav_own']['success_rate']:.2f} "
                f"of {r['nav_own']['n_pairs']} (coll {r['nav_own']['collision_rate']:.2f}), shared "
                f"{r['nav_shared']['success_rate']:.2f} of {r['nav_shared']['n_pairs']} "
                f"(coll {r['nav_shared']['collision_rate']:.2f}) | {r['fps']} fps {r['counts']}",
                flush=True,
            )

    def mean(run: str, key: str, sub: str | None = None) -> float:
        vals = [(r[run][key] if sub is None else r[run][key][sub]) for r in rows]
        return float(np.nanmean(vals))

    print(
        f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
        f"homes {args.seeds}, {args.frames} frames; camera run: {args.depth_model}, weight {args.weight}, "
        f"truncation x{args.trunc_scale}, floor prior {'off' if args.no_floor_prior else 'on'}"
    )
    print("| run | map mIoU | sem. acc | geo cm (median) | completeness | nav own pairs | nav shared pairs |")
    print("|---|---|---|---|---|---|---|")
    for run in ("rgbd", "camera"):
        print(
            f"| {run} | {mean(run, 'miou'):.3f} | {mean(run, 'accuracy'):.3f} | {mean(run, 'geo_cm'):.1f} | "
            f"{mean(run, 'completeness'):.3f} | {mean(run, 'nav_own', 'success_rate'):.2f} "
            f"(coll {mean(run, 'nav_own', 'collision_rate'):.2f}) | {mean(run, 'nav_shared', 'success_rate'):.2f} "
            f"(coll {mean(run, 'nav_shared', 'collision_rate'):.2f}) |"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
