"""Map quality and fusion time with the class probabilities handed to the map at the
network's size (``PipelineConfig(seg_network_probs=True)``) against the frame-size
probabilities (``False``, the default), on held-out data-engine homes along robot paths.

Per home: the same noisy frames (240x320) through two pipelines with the same 2D model,
alternating which runs first; the map's 3D mIoU and semantic accuracy (``evaluate_map``),
the scene graph's object F1 at 3D IoU 0.25, and the per-frame segment and fuse times
(medians of the run's own stage timings).

    python benchmarks/eval_network_probs.py --seeds 0-3 --threads 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-3", help="home seeds, e.g. 0-3 or 0,5")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--model", default="rgbd-default", help="2D segmenter")
    ap.add_argument("--backend", default="torch", help="backend of the 2D segmenter")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    args = ap.parse_args()

    import torch

    from real3d.cli.values import parse_seeds
    from real3d.core.machine import describe_machine
    from real3d.mapping.evaluate import evaluate_map, observed_surface_points
    from real3d.models import create_model
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.scene import evaluate_graph
    from real3d.scene.evaluate import visible_instances
    from real3d.synth import generate_sequence

    torch.set_num_threads(args.threads)
    seg = create_model(args.model, args.backend)
    print(describe_machine())
    print(f"2D model {args.model} ({args.backend}), {args.frames} frames per home, {args.threads} thread(s)")
    rows = []
    for i, seed in enumerate(parse_seeds(args.seeds)):
        seq = generate_sequence(seed, args.frames, size=(240, 320), kind="home", noise=True)
        ref_pts = observed_surface_points(seq.frames)
        visible = visible_instances(seq.frames)
        frames = [f.replace(labels=None, instances=None) for f in seq.frames]
        row = {"seed": seed}
        order = (True, False) if i % 2 == 0 else (False, True)
        for network_probs in order:
            pipe = Pipeline(PipelineConfig(seg_network_probs=network_probs, threads=args.threads), segmenter=seg)
            seg_ms, fuse_ms = [], []
            for f in frames:
                r = pipe.step(f)
                seg_ms.append(r.latency_ms.get("segment", np.nan))
                fuse_ms.append(r.latency_ms.get("fuse", np.nan))
            mm = evaluate_map(pipe.map, seq.scene.mesh, ref_pts)
            gm = evaluate_graph(pipe.scene_graph, seq.scene, instance_ids=visible)
            pipe.close()
            row["network" if network_probs else "frame"] = {
                "miou": mm.miou,
                "acc": mm.semantic_accuracy,
                "f1_25": gm.detection[0.25].f1,
                "segment_ms": float(np.nanmedian(seg_ms)),
                "fuse_ms": float(np.nanmedian(fuse_ms)),
            }
        rows.append(row)
        print(
            f"home {seed}: "
            + "  ".join(
                f"{k}: mIoU {row[k]['miou']:.4f} acc {row[k]['acc']:.4f} F1 {row[k]['f1_25']:.3f} "
                f"seg {row[k]['segment_ms']:.1f} ms fuse {row[k]['fuse_ms']:.1f} ms"
                for k in ("network", "frame")
            ),
            flush=True,
        )
    print()
    print("| probabilities | map mIoU | semantic acc | object F1@0.25 | segment ms (median) | fuse ms (median) |")
    print("|---|---|---|---|---|---|")
    for k, name in (("network", "network size"), ("frame", "frame size (default)")):
        m = {f: np.mean([r[k][f] for r in rows]) for f in ("miou", "acc", "f1_25", "segment_ms", "fuse_ms")}
        print(
            f"| {name} | {m['miou']:.4f} | {m['acc']:.4f} | {m['f1_25']:.3f} | {m['segment_ms']:.1f} | "
            f"{m['fuse_ms']:.1f} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
