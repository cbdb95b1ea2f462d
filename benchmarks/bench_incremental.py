"""Scene graph and costmap refreshes: whole-map rebuild against incremental update.

    nice python benchmarks/bench_incremental.py [--frames 300] [--every 30] [--seed 0] [--size 240x320]

Fuses a generated home along a robot path (ground-truth labels and instances, the
pipeline's map settings) and, every ``--every`` frames, refreshes the scene graph and the
costmap both ways on the same map, in alternating order (rebuild first on even refreshes,
incremental first on odd ones): the rebuild is ``build_costmap`` and a ``SceneGraph``
update with its caches cleared (ids still carried over), the incremental one an
``IncrementalCostmap`` and a ``SceneGraph`` that keeps its caches. Every refresh checks
that both give the same costmap cells and the same graph. Prints a markdown table (ms
median and p95 per refresh) with the machine.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="240x320")
    args = ap.parse_args()

    from real3d.mapping import SemanticMap
    from real3d.mapping.config import PIPELINE_MAP_CONFIG
    from real3d.nav.costmap import CostmapConfig, IncrementalCostmap, build_costmap
    from real3d.scene import SceneGraph
    from real3d.synth import SyntheticStream, TextureBank

    hw = tuple(int(v) for v in args.size.split("x"))
    src = SyntheticStream(args.seed, args.frames, size=hw, bank=TextureBank(0))
    m = SemanticMap(PIPELINE_MAP_CONFIG)
    ccfg = CostmapConfig()
    g_full, g_inc = SceneGraph(), SceneGraph()
    c_inc = IncrementalCostmap(ccfg)
    t = {k: [] for k in ("graph_full", "graph_inc", "costmap_full", "costmap_inc")}
    partial = {"graph_labels_reused": [], "costmap_cells_share": []}
    k = 0
    for i in range(args.frames):
        m.integrate(src[i])
        if (i + 1) % args.every:
            continue

        def full():
            t0 = time.perf_counter()
            g_full._builder.reset_caches()
            g_full.update(m, force=True)
            t1 = time.perf_counter()
            cm = build_costmap(m, ccfg, floor_z_m=g_full.floor_z_m, objects=g_full.objects())
            t2 = time.perf_counter()
            t["graph_full"].append((t1 - t0) * 1e3)
            t["costmap_full"].append((t2 - t1) * 1e3)
            return cm

        def inc():
            t0 = time.perf_counter()
            g_inc.update(m, force=True)
            t1 = time.perf_counter()
            cm = c_inc.update(m, floor_z_m=g_inc.floor_z_m, objects=g_inc.objects())
            t2 = time.perf_counter()
            t["graph_inc"].append((t1 - t0) * 1e3)
            t["costmap_inc"].append((t2 - t1) * 1e3)
            return cm

        if k % 2 == 0:
            a, b = full(), inc()
        else:
            b, a = inc(), full()
        k += 1
        if not (np.array_equal(a.cost, b.cost) and g_full.to_dict() == g_inc.to_dict()):
            raise SystemExit(f"refresh after frame {i + 1}: incremental and rebuild differ")
        partial["graph_labels_reused"].append(g_inc._builder.reused_labels)
        partial["costmap_cells_share"].append(0.0 if c_inc.last_full else c_inc.last_cells / a.cost.size)
        print(
            f"frame {i + 1}: voxels {len(m)}, graph {t['graph_full'][-1]:.0f} / {t['graph_inc'][-1]:.0f} ms, "
            f"costmap {t['costmap_full'][-1]:.0f} / {t['costmap_inc'][-1]:.0f} ms "
            f"({'full' if c_inc.last_full else f'{c_inc.last_cells} of {a.cost.size} cells'}), "
            f"classes reused {g_inc._builder.reused_labels}",
            flush=True,
        )

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"\nhost: {cpu}, python {platform.python_version()}, numpy {np.__version__}")
    print(f"{args.frames} frames {args.size}, refresh every {args.every} frames, {k} refreshes, same results: yes\n")
    print("| refresh | rebuild p50 ms | rebuild p95 ms | incremental p50 ms | incremental p95 ms |")
    print("|---|---|---|---|---|")
    for name in ("graph", "costmap"):
        f, g = np.array(t[f"{name}_full"]), np.array(t[f"{name}_inc"])
        print(
            f"| {name} | {np.median(f):.0f} | {np.percentile(f, 95):.0f} | {np.median(g):.0f} | "
            f"{np.percentile(g, 95):.0f} |"
        )


if __name__ == "__main__":
    main()
