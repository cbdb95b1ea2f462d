"""Scene graph and costmap refreshes: whole-map rebuild against incremental update.

    nice python benchmarks/bench_incremental.py [--frames 300] [--every 30] [--seed 0] [--size 240x320]

Fuses a generated home along a robot path (ground-truth labels and instances, the
pipeline's map settings) and, every ``--every`` frames, refreshes the scene graph and the
costmap both ways on the same map, in alternating order (rebuild first on even refreshes,
incremental first on odd ones): the rebuild is ``build_costmap`` and a ``SceneGraph``
update with its caches cleared (ids still carried over), the incremental one an
``IncrementalCostmap`` and a ``SceneGraph`` that keeps its caches. Every refresh checks
that both give the same costmap cells and the same graph. Prints a markdown table (ms
median and p95 per refresh, wall clock and process CPU time: the CPU time is less
disturbed by other work on a shared machine) with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
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
    cpu = {k: [] for k in t}
    partial = {"graph_labels_reused": [], "costmap_cells_share": [], "costmap_partial": []}
    k = 0
    for i in range(args.frames):
        m.integrate(src[i])
        if (i + 1) % args.every:
            continue

        def timed(key, fn):
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            t[key].append((time.perf_counter() - w0) * 1e3)
            cpu[key].append((time.process_time() - c0) * 1e3)
            return out

        def full():
            g_full._builder.reset_caches()
            timed("graph_full", lambda: g_full.update(m, force=True))
            objs = g_full.objects()
            return timed("costmap_full", lambda: build_costmap(m, ccfg, floor_z_m=g_full.floor_z_m, objects=objs))

        def inc():
            timed("graph_inc", lambda: g_inc.update(m, force=True))
            objs = g_inc.objects()
            return timed("costmap_inc", lambda: c_inc.update(m, floor_z_m=g_inc.floor_z_m, objects=objs))

        if k % 2 == 0:
            a, b = full(), inc()
        else:
            b, a = inc(), full()
        k += 1
        if not (np.array_equal(a.cost, b.cost) and g_full.to_dict() == g_inc.to_dict()):
            raise SystemExit(f"refresh after frame {i + 1}: incremental and rebuild differ")
        partial["graph_labels_reused"].append(g_inc._builder.reused_labels)
        partial["costmap_cells_share"].append(0.0 if c_inc.last_full else c_inc.last_cells / a.cost.size)
        partial["costmap_partial"].append(not c_inc.last_full)
        print(
            f"frame {i + 1}: voxels {len(m)}, CPU ms rebuild / incremental: graph {cpu['graph_full'][-1]:.0f} / "
            f"{cpu['graph_inc'][-1]:.0f}, costmap {cpu['costmap_full'][-1]:.0f} / {cpu['costmap_inc'][-1]:.0f} "
            f"({'full' if c_inc.last_full else f'{c_inc.last_cells} of {a.cost.size} cells'}), "
            f"classes reused {g_inc._builder.reused_labels}",
            flush=True,
        )

    host = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            host = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nhost: {host}, {os.cpu_count()} cores, load {load:.1f}, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"{args.frames} frames {args.size}, refresh every {args.every} frames, {k} refreshes, same results: yes\n")
    print("| refresh | clock | rebuild p50 ms | rebuild p95 ms | incremental p50 ms | incremental p95 ms |")
    print("|---|---|---|---|---|---|")
    part = np.array(partial["costmap_partial"])
    for name in ("graph", "costmap"):
        for clock, d in (("wall", t), ("cpu", cpu)):
            f, g = np.array(d[f"{name}_full"]), np.array(d[f"{name}_inc"])
            print(
                f"| {name} | {clock} | {np.median(f):.0f} | {np.percentile(f, 95):.0f} | {np.median(g):.0f} | "
                f"{np.percentile(g, 95):.0f} |"
            )
        if part.any() and not part.all():
            # The refreshes whose costmap grid kept its origin (the map's extent had settled).
            f, g = np.array(cpu[f"{name}_full"])[part], np.array(cpu[f"{name}_inc"])[part]
            print(
                f"| {name}, {int(part.sum())} refreshes on a settled extent | cpu | {np.median(f):.0f} | "
                f"{np.percentile(f, 95):.0f} | {np.median(g):.0f} | {np.percentile(g, 95):.0f} |"
            )


if __name__ == "__main__":
    main()
