"""Accuracy of the semantic map, scene graph and navigation on data-engine sequences.

Fuses each sequence with ground-truth labels and ground-truth 2D instance segments (the
segment ids are only associated by overlap, never matched to the scene's ids; with
``--no-instances`` the graph separates objects by class and connectivity alone), then scores:
  map: 3D semantic accuracy and mIoU of surface voxels against the labelled mesh (nearest
       face), geometric accuracy (voxel -> mesh) and completeness (observed clean-depth
       surface -> voxels, 5 cm);
  graph: object P/R/F1 at 3D IoU 0.25 and 0.5 against the objects the frames show (>= 400
       instance pixels with a depth reading over the sequence; also reported against all
       objects), relation
       accuracy;
  nav: success on ground-truth-connected start/goal pairs (clearance measured to the exact
       outlines of the scene's parts in the robot's band) whose ends the map saw free and
       whose ground-truth path stays in space the map knows, collisions with the
       ground-truth obstacles, path length over the optimum (same planner on the
       ground-truth grid); the same pairs again with a 0.1 m goal tolerance.
Writes a top-down PNG, a scene-graph PNG, a semantic PLY and the graph JSON per sequence.

    python benchmarks/eval_mapping.py --seeds 0 1 2 3 4 5 6 7 --frames 300 --out out/eval_mapping
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    ap.add_argument("--kind", default="home")
    ap.add_argument("--no-noise", action="store_true", help="clean depth and images")
    ap.add_argument("--stride", type=int, default=4, help="SemanticMap pixel_stride")
    ap.add_argument("--pairs", type=int, default=20, help="start/goal pairs per scene")
    ap.add_argument("--toy", action="store_true", help="use real3d.testing.toyscene instead")
    ap.add_argument("--no-instances", action="store_true", help="fuse class labels only, no 2D instance segments")
    ap.add_argument("--no-refine", action="store_true", help="scene graph without the learnt box refiner (rules only)")
    ap.add_argument("--refiner", default=None, help="box-refiner weights (.safetensors) instead of the shipped ones")
    ap.add_argument(
        "--graph",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a SceneGraphConfig field (repeatable), e.g. min_cluster_voxels=6",
    )
    ap.add_argument(
        "--costmap",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a CostmapConfig field (repeatable), e.g. free_column_top_m=none",
    )
    ap.add_argument(
        "--raster-clearance",
        action="store_true",
        help="score navigation clearance on the ground-truth raster (cell-centre distances) "
        "instead of the exact outlines of the scene's parts",
    )
    ap.add_argument("--out", default="out/eval_mapping")
    ap.add_argument("--cache", default=None, help="folder keeping generated sequences (pickle) for reruns")
    args = ap.parse_args()

    from real3d.cli.values import config_from_overrides
    from real3d.core.errors import ConfigError
    from real3d.core.machine import describe_machine
    from real3d.testing.fusion import fuse_sequence
    from real3d.mapping.evaluate import evaluate_map, observed_surface_points
    from real3d.mapping.export import export_point_cloud_ply
    from real3d.nav import CostmapConfig, build_costmap
    from real3d.nav.draw import save_topdown_png
    from real3d.nav.evaluate import evaluate_navigation
    from real3d.scene import SceneGraphConfig, evaluate_graph
    from real3d.core.files import atomic_path
    from real3d.viz.mapview import render_scene_graph
    from real3d.scene.evaluate import visible_instances

    def config_from(cls, overrides, **base):
        try:
            return config_from_overrides(cls, overrides, **base)
        except ConfigError as e:
            raise SystemExit(str(e)) from None

    gcfg = config_from(SceneGraphConfig, args.graph, refine_boxes=not args.no_refine)
    refiner = None
    if args.refiner and not args.no_refine:
        from real3d.scene.refine import BoxRefiner

        refiner = BoxRefiner.load(args.refiner)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        if args.toy:
            from real3d.testing.toyscene import toy_sequence

            seq = toy_sequence(seed, args.frames, size=tuple(args.size), depth_noise_m=0.0 if args.no_noise else 0.0025)
        else:
            import pickle

            from real3d.synth import generate_sequence

            cached = None
            if args.cache:
                from real3d.synth import engine_fingerprint

                cached = Path(args.cache) / (
                    f"{args.kind}_{seed}_{args.frames}_{args.size[0]}x{args.size[1]}"
                    f"_{'clean' if args.no_noise else 'noisy'}_{engine_fingerprint()}.pkl"
                )
            if cached is not None and cached.exists():
                with open(cached, "rb") as fh:
                    seq = pickle.load(fh)
            else:
                seq = generate_sequence(
                    seed, args.frames, size=tuple(args.size), kind=args.kind, noise=not args.no_noise
                )
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    with open(cached, "wb") as fh:
                        pickle.dump(seq, fh, protocol=5)
        t_gen = time.perf_counter() - t0
        m, g, fuse_ms, graph_ms = fuse_sequence(seq, args.stride, gcfg, refiner, args.no_instances)
        mm = evaluate_map(m, seq.scene.mesh, observed_surface_points(seq.frames))
        gm = evaluate_graph(g, seq.scene, instance_ids=visible_instances(seq.frames))
        gm_all = evaluate_graph(g, seq.scene)
        ccfg = config_from(
            CostmapConfig, args.costmap, z_min_m=seq.scene.occupancy.z_min_m, z_max_m=seq.scene.occupancy.z_max_m
        )
        t = time.perf_counter()
        cm = build_costmap(m, ccfg, floor_z_m=g.floor_z_m, objects=g.objects())
        costmap_ms = (time.perf_counter() - t) * 1e3
        mesh = None if args.raster_clearance else seq.scene.mesh
        nm = evaluate_navigation(cm, seq.scene.occupancy, n_pairs=args.pairs, seed=seed, mesh=mesh)
        # The same pairs with a 0.1 m goal tolerance (a goal the map puts inside an
        # obstacle's inflation is approached as close as the map allows).
        nm_tol = evaluate_navigation(
            cm, seq.scene.occupancy, n_pairs=args.pairs, seed=seed, goal_tolerance_m=0.1, mesh=mesh
        )

        tag = f"{'toy' if args.toy else args.kind}_{seed}"
        traj = np.array([f.world_T_cam[:3, 3] for f in seq])
        path = None
        try:
            from real3d.nav import plan
            from real3d.nav.evaluate import sample_pairs

            s, goal, _ = sample_pairs(
                seq.scene.occupancy,
                ccfg,
                1,
                seed=seed + 100,
                min_dist_m=2.5,
                accept=lambda xy: bool(cm.grid.free[tuple(cm.world_to_cell(xy[None])[0])]),
            )[0]
            path = plan(cm, s, goal)
        except Exception:  # no pair or no path: the picture goes without one
            path, goal = None, None
        save_topdown_png(out / f"{tag}_topdown.png", cm, objects=g.objects(), path=path, trajectory=traj, goal_xy=goal)
        with atomic_path(out / f"{tag}_graph.png") as tmp:
            render_scene_graph(g).save(tmp, format="PNG")
        export_point_cloud_ply(m, out / f"{tag}_semantic.ply")
        g.to_json(out / f"{tag}_graph.json")
        row = {
            "seed": seed,
            "frames": len(seq),
            "gen_s": round(t_gen, 1),
            "fuse_ms_median": float(np.median(fuse_ms)),
            "graph_ms_median": float(np.median(graph_ms)),
            "costmap_ms": costmap_ms,
            "voxels": len(m),
            "map_MB": m.nbytes / 1e6,
            "map": mm.to_dict(),
            "graph": gm.to_dict(),
            "graph_all_gt": gm_all.to_dict(),
            "nav": nm.to_dict(),
            "nav_goal_tol_0.1": nm_tol.to_dict(),
        }
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("map", "graph", "nav", "nav_goal_tol_0.1")}))
        d25, d50 = gm.detection[0.25], gm.detection[0.5]
        print(
            f"  map: acc {mm.semantic_accuracy:.3f} mIoU {mm.miou:.3f} geo {mm.accuracy_cm_mean:.2f} cm "
            f"(median {mm.accuracy_cm_median:.2f}) completeness@5cm {mm.completeness:.3f}"
        )
        print(
            f"  graph: F1@.25 {d25.f1:.3f} (P {d25.precision:.2f} R {d25.recall:.2f}, {d25.n_predicted} pred / "
            f"{d25.n_ground_truth} gt)  F1@.5 {d50.f1:.3f}  relations {gm.relation_accuracy:.3f} "
            f"(n={gm.n_relations_evaluated}); F1@.25 against all {gm_all.detection[0.25].n_ground_truth} "
            f"gt objects {gm_all.detection[0.25].f1:.3f}"
        )
        print(
            f"  nav: success {nm.success_rate:.3f} collisions {nm.collision_rate:.3f} length ratio "
            f"{nm.length_ratio_mean:.3f} (n={nm.n_pairs}) plan {nm.plan_ms_median:.1f} ms; with goal tolerance "
            f"0.1 m: success {nm_tol.success_rate:.3f} collisions {nm_tol.collision_rate:.3f}"
        )

    def mean(key, sub=None):
        vals = [r[sub][key] if sub else r[key] for r in rows]
        vals = [v for v in vals if v == v]
        return float(np.mean(vals)) if vals else float("nan")

    print(f"\nmachine: {describe_machine(('numpy', 'real3d'))}")
    if args.graph:
        print("scene graph overrides:", " ".join(args.graph))
    if args.costmap:
        print("costmap overrides:", " ".join(args.costmap))
    if refiner is not None:
        print("box refiner:", args.refiner)
    print(
        f"mean over seeds {args.seeds} ({args.frames} frames, {args.size[0]}x{args.size[1]}, "
        f"noise={not args.no_noise}, stride={args.stride}):"
    )
    print(
        "| semantic acc | mIoU | geo acc cm | completeness@5cm | F1@0.25 | F1@0.5 | relation acc "
        "| nav success | collisions | length ratio | nav success, goal tol. 0.1 m | collisions |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    f25 = np.mean([r["graph"]["detection"]["0.25"]["f1"] for r in rows])
    f50 = np.mean([r["graph"]["detection"]["0.5"]["f1"] for r in rows])
    print(
        f"| {mean('semantic_accuracy', 'map'):.3f} | {mean('miou', 'map'):.3f} | "
        f"{mean('accuracy_cm_mean', 'map'):.2f} | {mean('completeness', 'map'):.3f} | {f25:.3f} | {f50:.3f} | "
        f"{mean('relation_accuracy', 'graph'):.3f} | {mean('success_rate', 'nav'):.3f} | "
        f"{mean('collision_rate', 'nav'):.3f} | {mean('length_ratio_mean', 'nav'):.3f} | "
        f"{mean('success_rate', 'nav_goal_tol_0.1'):.3f} | {mean('collision_rate', 'nav_goal_tol_0.1'):.3f} |"
    )
    (out / "summary.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
