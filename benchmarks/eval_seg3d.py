"""End to end on held-out data-engine homes: the map and scene graph the pipeline builds
with the shipped 2D model, without and with the 3D map refiner, beside ground-truth labels.

Per home (noisy frames along the robot path, 240x320), three runs of ``real3d.Pipeline``
with default settings, side by side:
  fusion:   the 2D model's class probabilities fused, the graph from the fused labels (what
            the pipeline gives without a 3D network);
  refined:  the same fused map refined once by the 3D network (``--seg3d``), then the
            graph rebuilt from it (what ``PipelineConfig(map_refiner=...)`` does before
            each graph update);
  labels_only, instances_only: the refiner's labels without its instances, and its
            instances on the fusion's labels (what each half changes);
  refined_islands: the refiner with ``min_island_voxels=--min-island`` (small
            single-class islands of its labels relabelled, ``clean_islands``; opt-in);
  fusion_islands: the fusion's labels with the same clean-up and no network: what the
            clean-up alone gives;
  gt:       ground-truth labels and 2D instance segments fused (an upper bound no robot
            has: named as such).
Scores: map semantic accuracy and mIoU of surface voxels against the labelled mesh
(``evaluate_map``), object F1 at 3D IoU 0.25 / 0.5 against the objects the frames show
(``evaluate_graph`` with ``visible_instances``), and the refiner's time per run.

    python benchmarks/eval_seg3d.py --seeds 0-15 --seg3d src/real3d/weights/seg3d-default.safetensors

``--samples DIR`` instead scores fused maps already on disk (``MapSample`` files from
tools/build_map_dataset.py; seconds per map, no pipeline run): per map, the mIoU as
``evaluate_map`` counts it (surface voxels, classes present in the ground truth or the
prediction), the same over ground-truth classes only, and the classes predicted that the
map does not hold, for the fusion and the network, each without and with the island
clean-up. It shows where the per-home mIoU is lost.

    python benchmarks/eval_seg3d.py --samples runs/maps3d/test --seg3d seg3d-default
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-15", help="home seeds, e.g. 0-15 or 0,3,5")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--model", default="rgbd-default", help="2D segmenter")
    ap.add_argument("--seg3d", required=True, help="3D network weights (.safetensors) or preset")
    ap.add_argument("--no-gt", action="store_true", help="skip the ground-truth upper bound")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("out/eval_seg3d"))
    ap.add_argument("--samples", type=Path, default=None, help="score MapSample files in this folder instead")
    ap.add_argument("--min-island", type=int, default=10, help="island clean-up size (voxels) of the clean-up rows")
    args = ap.parse_args()
    if args.samples is not None:
        return breakdown(args)

    import torch

    from real3d.cli.values import parse_seeds

    from real3d.core.machine import describe_machine
    from real3d.mapping.evaluate import evaluate_map, observed_surface_points
    from real3d.models import create_model
    from real3d.core.refinement import MapRefinement
    from real3d.models.map_refiner import MapRefiner
    from real3d.models.seg3d import clean_islands
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.scene import evaluate_graph
    from real3d.scene.evaluate import visible_instances
    from real3d.synth import generate_sequence

    torch.set_num_threads(args.threads)
    seg = create_model(args.model)
    refiner = MapRefiner(args.seg3d)

    # the whole refiner, and each half of it alone (on the same map)
    class IslandsOnly:
        """The fusion's labels with small islands relabelled; the fused instances kept."""

        def refine(self, semantic_map):
            labels, conf = semantic_map.fused_labels()
            sp = semantic_map.semantic_points()
            coords = semantic_map.voxel_arrays()["coords"]
            labels = labels.copy()
            labels[sp.rows] = clean_islands(coords[sp.rows], labels[sp.rows], args.min_island)
            semantic_map.set_refinement(MapRefinement(labels, conf, None, semantic_map.version, "islands"))

    variants = {
        "refined": refiner,
        "labels_only": MapRefiner(refiner.net, instances=False),
        "instances_only": MapRefiner(refiner.net, labels=False),
        "refined_islands": MapRefiner(refiner.net, min_island_voxels=args.min_island),
        "fusion_islands": IslandsOnly(),
    }
    print(describe_machine())
    print(f"2D model {args.model}, 3D model {refiner.name} ({args.seg3d}), {args.frames} frames per home")
    rows = []
    for seed in parse_seeds(args.seeds):
        t0 = time.perf_counter()
        seq = generate_sequence(seed, args.frames, size=(240, 320), kind="home", noise=True)
        ref_pts = observed_surface_points(seq.frames)
        visible = visible_instances(seq.frames)
        row = {"seed": seed}
        runs = ["fusion", "refined", "labels_only", "instances_only", "refined_islands", "fusion_islands"] + (
            [] if args.no_gt else ["gt"]
        )
        pipe = None
        for name in runs:
            refine_ms = 0.0
            if name in variants:
                # the "fusion" run's map, refined; the graph is rebuilt from it
                t = time.perf_counter()
                variants[name].refine(pipe.map)
                refine_ms = (time.perf_counter() - t) * 1e3
            else:
                gt = name == "gt"
                cfg = PipelineConfig(model=None, rgb_model=None) if gt else PipelineConfig()
                pipe = Pipeline(cfg, segmenter=None if gt else seg)
                for f in seq.frames:
                    pipe.step(f if gt else f.replace(labels=None, instances=None))
            mm = evaluate_map(pipe.map, seq.scene.mesh, ref_pts)
            gm = evaluate_graph(pipe.scene_graph, seq.scene, instance_ids=visible)
            d25, d50 = gm.detection[0.25], gm.detection[0.5]
            row[name] = {
                "acc": mm.semantic_accuracy,
                "miou": mm.miou,
                "f1_25": d25.f1,
                "f1_50": d50.f1,
                "tp": d25.true_positives,
                "pred": d25.n_predicted,
                "gt": d25.n_ground_truth,
                "refine_ms": refine_ms,
                "iou_per_class": {str(c): v for c, v in mm.iou_per_class.items()},
            }
        rows.append(row)
        print(
            f"home {seed:3d} ({time.perf_counter() - t0:.0f} s): "
            + "  ".join(
                f"{k} acc {row[k]['acc']:.3f} mIoU {row[k]['miou']:.3f} F1@.25 {row[k]['f1_25']:.3f} "
                f"({row[k]['tp']}/{row[k]['pred']}/{row[k]['gt']})"
                for k in ("fusion", "refined", "gt")
                if k in row
            ),
            flush=True,
        )
    print()
    print("| run | semantic acc | mIoU | F1@0.25 pooled (TP / pred / gt) | F1@0.25 mean | F1@0.5 mean |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for k in ("fusion", "fusion_islands", "refined", "refined_islands", "labels_only", "instances_only", "gt"):
        if k not in rows[0]:
            continue
        tp = sum(r[k]["tp"] for r in rows)
        pred = sum(r[k]["pred"] for r in rows)
        gt = sum(r[k]["gt"] for r in rows)
        pooled = 2 * tp / max(1, pred + gt)
        s = {m: float(np.mean([r[k][m] for r in rows])) for m in ("acc", "miou", "f1_25", "f1_50")}
        s["f1_25_pooled"] = pooled
        summary[k] = s
        label = {
            "gt": "ground-truth labels + instances (upper bound)",
            "fusion": "2D fusion",
            "refined": f"2D fusion + {refiner.name}",
            "labels_only": f"2D fusion + {refiner.name} labels only (no 3D instances)",
            "instances_only": f"2D fusion labels + {refiner.name} instances only",
            "fusion_islands": f"2D fusion + island clean-up ({args.min_island} voxels), no network",
            "refined_islands": f"2D fusion + {refiner.name} + island clean-up ({args.min_island} voxels)",
        }[k]
        print(
            f"| {label} | {s['acc']:.3f} | {s['miou']:.3f} | {pooled:.3f} ({tp} / {pred} / {gt}) | "
            f"{s['f1_25']:.3f} | {s['f1_50']:.3f} |"
        )
    ms = [r["refined"]["refine_ms"] for r in rows]
    print(f"\nrefiner: {np.mean(ms):.0f} ms mean per whole-map run ({args.threads} threads)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval_seg3d.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "summary": summary}, indent=2)
    )


def _home_scores(pred: np.ndarray, gt: np.ndarray, num_classes: int = 14) -> tuple[float, float, int, dict]:
    """(mIoU over classes in the ground truth or the prediction, as ``evaluate_map``;
    mIoU over ground-truth classes only; classes predicted but absent; {class: IoU})."""
    v = (pred > 0) & (gt > 0)
    conf = np.bincount(gt[v].astype(np.int64) * num_classes + pred[v], minlength=num_classes**2)
    conf = conf.reshape(num_classes, num_classes)
    inter = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    ious = {c: inter[c] / union[c] for c in range(1, num_classes) if union[c] > 0}
    in_gt = [c for c in ious if conf[c].sum() > 0]
    return float(np.mean(list(ious.values()))), float(np.mean([ious[c] for c in in_gt])), len(ious) - len(in_gt), ious


def breakdown(args) -> None:
    """``--samples``: where the per-map mIoU is lost (module docstring)."""
    import torch

    from real3d.core.labels import NYU13
    from real3d.models.seg3d import clean_islands, create_seg3d
    from real3d.train.map_data import MapSample
    from real3d.train.seg3d import sample_paths

    torch.set_num_threads(args.threads)
    net = create_seg3d(args.seg3d)
    runs = ("fusion", "fusion+islands", "network", "network+islands")
    acc = {k: {"miou": [], "miou_gt_classes": [], "spurious": 0, "ious": {}} for k in runs}
    for p in sample_paths(args.samples):
        s = MapSample.load(p)
        gt = np.where(s.surface, s.labels, 0)
        net_labels = net.predict(s).labels
        net_labels[s.class_weight <= 0] = 0
        for k in runs:
            pred = np.where(s.surface, s.fusion_labels() if k.startswith("fusion") else net_labels, 0)
            if k.endswith("islands"):
                rows = np.flatnonzero(pred > 0)
                pred[rows] = clean_islands(s.coords[rows], pred[rows], args.min_island)
            miou, miou_gt, spurious, ious = _home_scores(pred, gt)
            a = acc[k]
            a["miou"].append(miou)
            a["miou_gt_classes"].append(miou_gt)
            a["spurious"] += spurious
            for c, v in ious.items():
                a["ious"].setdefault(c, []).append(v)
    print(f"{len(acc['fusion']['miou'])} maps in {args.samples}, 3D model {args.seg3d}, islands < {args.min_island}")
    print("| run | mIoU (as evaluate_map) | mIoU over ground-truth classes | classes predicted but absent |")
    print("|---|---|---|---|")
    for k, a in acc.items():
        print(f"| {k} | {np.mean(a['miou']):.3f} | {np.mean(a['miou_gt_classes']):.3f} | {a['spurious']} |")
    print("\nper-class IoU, mean over the maps that score the class (maps with IoU 0 in brackets):")
    for k, a in acc.items():
        cells = []
        for c in sorted(a["ious"]):
            v = np.asarray(a["ious"][c])
            cells.append(f"{NYU13.names[c][:7]} {v.mean():.2f} ({int((v == 0).sum())})")
        print(f"{k:16s} " + "  ".join(cells))
    args.out.mkdir(parents=True, exist_ok=True)
    out = {
        k: {
            "miou": float(np.mean(a["miou"])),
            "miou_gt_classes": float(np.mean(a["miou_gt_classes"])),
            "spurious": a["spurious"],
        }
        for k, a in acc.items()
    }
    (args.out / "breakdown.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
