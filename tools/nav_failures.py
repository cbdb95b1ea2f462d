"""Why navigation failed on a data-engine home: for every pair ``eval_nav_maps.py`` scores
that finds no path, where the ground-truth path (over the cells the map knows) crosses cells
the map's costmap makes lethal, and what those cells are: occupied, unknown, or free but
within the robot radius of a map obstacle (with that distance).

Uses the map that ``benchmarks/eval_nav_maps.py`` keeps for the home under ``--maps``
(``real3d.testing.fusion.fused_home``), fusing it first if it is not there yet.

    python tools/nav_failures.py 141
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seed", type=int)
    ap.add_argument("--maps", default="runs/navmaps")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=20)
    args = ap.parse_args()

    from real3d.core.errors import NoPathError
    from real3d.testing.fusion import fused_home
    from real3d.nav import CostmapConfig, build_costmap
    from real3d.nav.costmap import Costmap, clear_footprint
    from real3d.nav.evaluate import gt_costmap, limit_to_explored, obstacle_footprints, sample_pairs
    from real3d.nav.planner import plan_on_costmap

    m, d = fused_home(args.seed, args.maps, args.frames)
    occ = d["scene"].occupancy
    cfg = CostmapConfig(z_min_m=occ.z_min_m, z_max_m=occ.z_max_m)
    cm = build_costmap(m, cfg, floor_z_m=d["floor_z"], objects=d["objects"])
    fp = obstacle_footprints(d["scene"].mesh, occ.z_min_m, occ.z_max_m)
    grid = cm.grid

    def observed(xy) -> bool:
        rc = cm.world_to_cell(xy[None])
        return bool(grid.inside(rc)[0] and grid.free[rc[0, 0], rc[0, 1]])

    # the same pairs as evaluate_navigation, and the ground-truth costmap over the known cells
    pairs = sample_pairs(
        occ, cfg, args.pairs, args.seed, clearance_m=0.1, accept=observed, explored=grid, footprints=fp
    )
    gt = gt_costmap(occ, cfg, fp)
    limit_to_explored(gt, grid)

    failed = 0
    for s, g, _ in pairs:
        c = Costmap(cm.cost.copy(), grid, cm.obstacle_distance_m, cfg)
        clear_footprint(c, s, cfg.robot_radius_m)
        try:
            plan_on_costmap(c, s, g)
            continue
        except NoPathError:
            failed += 1
        ref = plan_on_costmap(gt, s, g)
        w = ref.waypoints
        pts = np.concatenate(
            [
                a + (b - a) * np.linspace(0, 1, int(np.ceil(np.linalg.norm(b - a) / 0.02)) + 1)[:, None]
                for a, b in zip(w[:-1], w[1:])
            ]
        )
        rc = cm.world_to_cell(pts)
        cells = np.unique(rc[~np.isfinite(c.cost[rc[:, 0], rc[:, 1]])], axis=0)
        print(
            f"pair {np.round(s, 2)} -> {np.round(g, 2)}: ground-truth path {ref.length_m:.2f} m crosses "
            f"{len(cells)} lethal cells"
        )
        for r, col in cells:
            kind = "occupied" if grid.occupied[r, col] else ("free" if grid.free[r, col] else "unknown")
            xy = cm.cell_to_world(np.array([[r, col]]))[0]
            print(f"    cell ({xy[0]:.2f}, {xy[1]:.2f}) {kind}, map obstacle at {cm.obstacle_distance_m[r, col]:.3f} m")
    print(f"home {args.seed}: {failed} of {len(pairs)} pairs without a path; robot radius {cfg.robot_radius_m} m")


if __name__ == "__main__":
    main()
