"""Navigation scoring against a synthetic scene's ground-truth occupancy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import ndimage

from real3d.core.errors import NoPathError
from real3d.mapping.grid2d import Grid2D
from real3d.nav.costmap import Costmap, CostmapConfig, clear_footprint, costmap_from_grid
from real3d.nav.planner import plan_on_costmap
from real3d.synth.types import OccupancyGrid


@dataclass
class NavMetrics:
    """Figures over start/goal pairs that are connected in the ground truth.

    Attributes:
        n_pairs: evaluated pairs.
        success_rate: fraction where the planner on the map returned a path.
        collision_rate: fraction of returned paths that come closer than the robot radius to
            a ground-truth obstacle (checked every 2 cm along the polyline).
        length_ratio_mean: mean of path length / optimal length (planner on the ground truth).
        plan_ms_median: median planning time on the map's costmap.
    """

    n_pairs: int
    success_rate: float
    collision_rate: float
    length_ratio_mean: float
    plan_ms_median: float

    def to_dict(self) -> dict:
        return asdict(self)


def gt_costmap(occ: OccupancyGrid, config: CostmapConfig) -> Costmap:
    """Costmap of the ground-truth occupancy (cells outside the building are obstacles).
    The safety margin is lethal here whatever ``config.margin_cost`` says: a pair counts as
    connected only when the robot passes with the full margin."""
    grid = Grid2D(occ.occupied | ~occ.known, occ.known & ~occ.occupied, tuple(occ.origin_xy),
                  occ.resolution_m, occ.z_min_m, occ.z_max_m)
    return costmap_from_grid(grid, replace(config, margin_cost=float("inf")))


def collides(path_xy: np.ndarray, occ: OccupancyGrid, radius_m: float, step_m: float = 0.02) -> bool:
    """Whether a polyline (N, 2) passes within ``radius_m`` of a ground-truth obstacle."""
    dist = ndimage.distance_transform_edt(~occ.occupied) * occ.resolution_m
    pts = [path_xy[:1]]
    for a, b in zip(path_xy[:-1], path_xy[1:]):
        n = max(2, int(np.ceil(np.linalg.norm(b - a) / step_m)) + 1)
        pts.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    pts = np.concatenate(pts)
    rc = occ.world_to_cell(pts)
    h, w = occ.occupied.shape
    ok = (rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)
    if not ok.all():
        return True
    # Cell-centre distances undershoot by up to half a cell diagonal; allow for that.
    return bool((dist[rc[:, 0], rc[:, 1]] + 0.71 * occ.resolution_m < radius_m).any())


def sample_pairs(occ: OccupancyGrid, config: CostmapConfig, n_pairs: int, seed: int = 0,
                 min_dist_m: float = 1.5, clearance_m: float = 0.1, accept=None,
                 explored: Grid2D | None = None):
    """Start/goal pairs on ground-truth free cells, at least ``min_dist_m`` apart, and
    connected on the ground-truth costmap (same robot radius and margin).

    Start and goal keep ``clearance_m`` beyond the lethal radius from ground-truth
    obstacles: a robot does not stand or aim at the very edge of the lethal zone, and a
    map quantised at 5 cm cannot place that edge to better than a voxel. ``accept``, when
    given, is a predicate on a world xy (2,) that both ends must pass. With ``explored``
    (a map's grid) the ground-truth path must stay on cells that grid knows (free or
    occupied): a map cannot plan through rooms it never saw.
    """
    gt = gt_costmap(occ, config)
    if explored is not None:
        rc = explored.world_to_cell(gt.cell_to_world(np.argwhere(np.ones(gt.cost.shape, bool))))
        inside = explored.inside(rc)
        known = np.zeros(rc.shape[0], bool)
        known[inside] = (explored.free | explored.occupied)[rc[inside, 0], rc[inside, 1]]
        gt.cost[~known.reshape(gt.cost.shape)] = np.inf
    r_lethal = config.robot_radius_m + config.safety_margin_m
    free_rc = np.argwhere(np.isfinite(gt.cost) & occ.known
                          & (gt.obstacle_distance_m >= r_lethal + clearance_m))
    rng = np.random.default_rng(seed)
    pairs = []
    tries = 0
    while len(pairs) < n_pairs and tries < 50 * n_pairs and len(free_rc) > 1:
        tries += 1
        a, b = free_rc[rng.integers(0, len(free_rc), 2)]
        pa, pb = gt.cell_to_world(np.stack([a, b]))
        if np.linalg.norm(pa - pb) < min_dist_m:
            continue
        if accept is not None and not (accept(pa) and accept(pb)):
            continue
        try:
            opt = plan_on_costmap(gt, pa, pb)
        except NoPathError:
            continue
        pairs.append((pa, pb, opt.length_m))
    return pairs


def evaluate_navigation(costmap: Costmap, occ: OccupancyGrid, n_pairs: int = 20, seed: int = 0,
                        method: str = "skimage", clearance_m: float = 0.1,
                        observed_only: bool = True, goal_tolerance_m: float = 0.0) -> NavMetrics:
    """Plan on ``costmap`` between ground-truth-connected pairs (``sample_pairs``) and score
    the paths. With ``observed_only`` both ends must lie on cells the map has seen free and
    the ground-truth path between them on cells the map knows (a map of a partly explored
    home cannot plan into or through rooms it never saw). A path counts as a success when
    it exists; with ``goal_tolerance_m`` > 0 it may end that close to a goal that the map
    puts on a blocked cell (the planner's goal tolerance, like a success radius)."""
    import time

    cfg = costmap.config

    def observed(xy) -> bool:
        rc = costmap.world_to_cell(xy[None])
        return bool(costmap.grid.inside(rc)[0] and costmap.grid.free[rc[0, 0], rc[0, 1]])

    pairs = sample_pairs(occ, cfg, n_pairs, seed, clearance_m=clearance_m,
                         accept=observed if observed_only else None,
                         explored=costmap.grid if observed_only else None)
    ok = coll = 0
    ratios, times = [], []
    for s, g, opt_len in pairs:
        cm = Costmap(costmap.cost.copy(), costmap.grid, costmap.obstacle_distance_m, cfg)
        # The robot's own body at the start is free space the camera never saw; nothing
        # is assumed about the goal's surroundings (unknown there may hide an obstacle).
        clear_footprint(cm, s, cfg.robot_radius_m)
        t0 = time.perf_counter()
        try:
            path = plan_on_costmap(cm, s, g, method=method, goal_tolerance_m=goal_tolerance_m)
        except NoPathError:
            continue
        finally:
            times.append((time.perf_counter() - t0) * 1e3)
        ok += 1
        coll += collides(path.waypoints, occ, cfg.robot_radius_m)
        ratios.append(path.length_m / max(opt_len, 1e-9))
    n = len(pairs)
    return NavMetrics(
        n_pairs=n,
        success_rate=ok / n if n else float("nan"),
        collision_rate=coll / ok if ok else float("nan"),
        length_ratio_mean=float(np.mean(ratios)) if ratios else float("nan"),
        plan_ms_median=float(np.median(times)) if times else float("nan"),
    )
