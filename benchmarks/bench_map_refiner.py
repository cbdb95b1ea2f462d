"""Cost of the 3D map refiner inside the pipeline: incremental (changed blocks) against
whole-map runs, on the same data-engine home, and how far the incremental labels are from
the whole-map ones at the end.

Both pipelines segment the same noisy frames with the shipped rgbd-default (torch) and
refine every ``--every`` fused frames; printed: refiner ms per call (median, max), rows the
network ran on per call (mean), the refiner's share of the pipeline time, and the final
agreement of labels and object counts.

    python benchmarks/bench_map_refiner.py --seed 0 --frames 300 --every 30 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--seg3d", default="seg3d-default")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from real3d.core.machine import describe_machine
    from real3d.models import create_model
    from real3d.models.map_refiner import MapRefiner
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.synth import generate_sequence

    torch.set_num_threads(args.threads)
    print(describe_machine())
    seq = generate_sequence(args.seed, args.frames, size=(240, 320), kind="home", noise=True)
    frames = [f.replace(labels=None, instances=None) for f in seq.frames]
    seg = create_model("rgbd-default")
    results = {}
    for name, incremental in (("whole map", False), ("incremental", True)):
        refiner = MapRefiner(args.seg3d, incremental=incremental)
        ms, rows = [], []
        inner = refiner.refine

        def timed(m, inner=inner, refiner=refiner, ms=ms, rows=rows):
            t = time.perf_counter()
            out = inner(m)
            ms.append((time.perf_counter() - t) * 1e3)
            rows.append(refiner.last_rows_run)
            return out

        refiner.refine = timed
        pipe = Pipeline(PipelineConfig(refine_every=args.every), segmenter=seg, map_refiner=refiner)
        t0 = time.perf_counter()
        for f in frames:
            pipe.step(f)
        total = time.perf_counter() - t0
        graph = pipe.scene_graph
        results[name] = (pipe, graph)
        print(
            f"{name:12s}: {len(ms)} refinements, {np.median(ms):.0f} ms median, {max(ms):.0f} ms max, "
            f"{np.mean(rows):,.0f} rows run per call (map {len(pipe.map):,} voxels); refiner "
            f"{100 * sum(ms) / 1e3 / total:.1f} % of {total:.0f} s; {len(graph.objects())} objects"
        )
    (pw, _), (pi, _) = results["whole map"], results["incremental"]
    a, b = pw.map.refinement.labels, pi.map.refinement.labels
    n = min(len(a), len(b))
    lab = (a[:n] > 0) | (b[:n] > 0)
    print(
        f"final labels: incremental equals whole-map on {100 * (a[:n][lab] == b[:n][lab]).mean():.2f} % "
        f"of {lab.sum():,} labelled voxels"
    )


if __name__ == "__main__":
    main()
