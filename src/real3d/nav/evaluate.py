"""Navigation scoring against a synthetic scene's ground truth.

Clearance is measured to the exact outlines of the scene's parts in the robot's height
band when the scene mesh is given (``obstacle_footprints``), else on the ground-truth
raster, whose cells count as occupied only when their centre lies inside a part: distances
between cell centres there overstate the clearance by up to a cell diagonal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from itertools import pairwise

import numpy as np
from scipy import ndimage

from real3d.core.counts import ratio_count
from real3d.core.errors import InputError, NoPathError
from real3d.core.gt import OccupancyGrid, SceneMesh
from real3d.mapping.grid2d import Grid2D
from real3d.nav.costmap import Costmap, CostmapConfig, costmap_from_grid
from real3d.nav.planner import plan_on_costmap


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
        clearance: "outlines" when clearance was measured to the exact outlines of the
            scene's parts, "raster" when on the ground-truth raster (no mesh, or a mesh
            without ``face_part``).
    """

    n_pairs: int
    success_rate: float
    collision_rate: float
    length_ratio_mean: float
    plan_ms_median: float
    clearance: str = "raster"

    def to_dict(self) -> dict:
        return asdict(self)


def _hull_2d(pts: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of (N, 2) points; the two extreme points when they are
    collinear, the point itself when there is one."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(np.round(pts, 6), axis=0)
    if len(pts) >= 3:
        try:
            return pts[ConvexHull(pts).vertices]
        except QhullError:  # collinear
            pass
    if len(pts) < 2:
        return pts
    d = pts - pts[0]
    s = d @ d[np.argmax((d * d).sum(axis=1))]
    return pts[[np.argmin(s), np.argmax(s)]]


@dataclass
class Footprints:
    """Top-down outlines of the obstacles in a height band: one convex polygon (K, 2),
    counter-clockwise, per closed part of the scene that reaches into the band."""

    polygons: list[np.ndarray]

    def __post_init__(self) -> None:
        self._lo = np.array([p.min(axis=0) for p in self.polygons]).reshape(-1, 2)
        self._hi = np.array([p.max(axis=0) for p in self.polygons]).reshape(-1, 2)

    def distance(self, xy, cap_m: float = 1.0) -> np.ndarray:
        """(N,) distance in metres from each world point (N, 2) to the nearest outline, 0
        inside one; ``cap_m`` where none lies within ``cap_m``."""
        xy = np.asarray(xy, np.float64)
        if xy.ndim not in (1, 2) or xy.shape[-1] != 2:
            raise InputError(f"Footprints.distance: expected points (N, 2) or (2,), got shape {xy.shape}")
        xy = xy.reshape(-1, 2)
        out = np.full(len(xy), float(cap_m))
        for poly, lo, hi in zip(self.polygons, self._lo, self._hi):
            near = np.flatnonzero(((xy >= lo - cap_m) & (xy <= hi + cap_m)).all(axis=1))
            if not len(near):
                continue
            p = xy[near]
            a = poly
            b = np.roll(poly, -1, axis=0) if len(poly) > 1 else poly
            ab = b - a  # (K, 2)
            ap = p[:, None, :] - a[None]  # (M, K, 2)
            t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-18), 0.0, 1.0)
            d = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)
            if len(poly) >= 3:
                cross = ab[None, :, 0] * ap[..., 1] - ab[None, :, 1] * ap[..., 0]
                d[(cross >= 0).all(axis=1)] = 0.0
            out[near] = np.minimum(out[near], d)
        return out


def obstacle_footprints(mesh: SceneMesh, z_min_m: float, z_max_m: float) -> Footprints:
    """Exact outlines of the mesh's closed parts clipped to the band [z_min_m, z_max_m]
    (parts whose top is at or below z_min_m or whose bottom is at or above z_max_m are
    left out, as in the ground-truth raster). Needs ``mesh.face_part``."""
    if mesh.face_part is None:
        raise InputError("obstacle_footprints: expected a SceneMesh with face_part (the closed part of each face)")
    if not z_max_m > z_min_m:
        raise InputError(f"obstacle_footprints: expected z_max_m > z_min_m, got [{z_min_m}, {z_max_m}]")
    v = np.asarray(mesh.vertices, np.float64)
    tri = np.asarray(mesh.triangles, np.int64)
    part = np.asarray(mesh.face_part)
    order = np.argsort(part, kind="stable")
    bounds = np.flatnonzero(np.diff(part[order])) + 1
    polygons = []
    for faces in np.split(order, bounds):
        t = tri[faces]
        z = v[t.ravel(), 2]
        if z.max() <= z_min_m or z.min() >= z_max_m:
            continue
        edges = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1), axis=0)
        pa, pb = v[edges[:, 0]], v[edges[:, 1]]
        keep = [v[np.unique(t)]]
        keep[0] = keep[0][(keep[0][:, 2] >= z_min_m) & (keep[0][:, 2] <= z_max_m)]
        for zc in (z_min_m, z_max_m):
            cross = (pa[:, 2] - zc) * (pb[:, 2] - zc) < 0
            if cross.any():
                f = (zc - pa[cross, 2]) / (pb[cross, 2] - pa[cross, 2])
                keep.append(pa[cross] + f[:, None] * (pb[cross] - pa[cross]))
        pts = np.concatenate(keep)
        if len(pts):
            polygons.append(_hull_2d(pts[:, :2]))
    return Footprints(polygons)


def gt_costmap(occ: OccupancyGrid, config: CostmapConfig, footprints: Footprints | None = None) -> Costmap:
    """Costmap of the ground-truth occupancy (cells outside the building are obstacles).
    The safety margin is lethal here whatever ``config.margin_cost`` says: a pair counts as
    connected only when the robot passes with the full margin. With ``footprints`` the
    clearance of each cell centre is measured to the exact outlines."""
    grid = Grid2D(
        occ.occupied | ~occ.known,
        occ.known & ~occ.occupied,
        tuple(occ.origin_xy),
        occ.resolution_m,
        occ.z_min_m,
        occ.z_max_m,
    )
    dist = None
    if footprints is not None:
        dist = ndimage.distance_transform_edt(~grid.occupied) * occ.resolution_m
        cells = grid.cell_to_world(np.argwhere(np.ones(grid.shape, bool)))
        cap = config.robot_radius_m + config.safety_margin_m + config.inflation_m + occ.resolution_m
        exact = footprints.distance(cells, cap_m=cap).reshape(grid.shape)
        # Beyond the cap only the cost's inflation tail is affected: the raster's distance.
        dist = np.where(grid.occupied, 0.0, np.where(exact >= cap, np.maximum(dist, cap), exact))
    return costmap_from_grid(grid, replace(config, margin_cost=float("inf")), obstacle_distance_m=dist)


def _densify(path_xy: np.ndarray, step_m: float) -> np.ndarray:
    pts = [path_xy[:1]]
    for a, b in pairwise(path_xy):
        n = max(2, ratio_count(float(np.linalg.norm(b - a)), step_m) + 1)
        pts.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    return np.concatenate(pts)


def collides(
    path_xy: np.ndarray, occ: OccupancyGrid, radius_m: float, step_m: float = 0.02, footprints: Footprints | None = None
) -> bool:
    """Whether a polyline (N, 2) passes within ``radius_m`` of a ground-truth obstacle
    (checked every ``step_m``): of an exact outline when ``footprints`` is given, else of an
    occupied raster cell (with half a cell diagonal of allowance for cell-centre
    distances)."""
    pts = _densify(np.asarray(path_xy, np.float64).reshape(-1, 2), step_m)
    rc = occ.world_to_cell(pts)
    h, w = occ.occupied.shape
    ok = (rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)
    if not ok.all() or not occ.known[rc[:, 0], rc[:, 1]].all():
        return True
    if footprints is not None:
        return bool((footprints.distance(pts, cap_m=radius_m + 0.1) < radius_m).any())
    dist = ndimage.distance_transform_edt(~occ.occupied) * occ.resolution_m
    # Cell-centre distances undershoot by up to half a cell diagonal; allow for that.
    return bool((dist[rc[:, 0], rc[:, 1]] + 0.71 * occ.resolution_m < radius_m).any())


def limit_to_explored(gt: Costmap, explored: Grid2D) -> None:
    """Make the cells of ``gt`` that ``explored`` (a map's grid) does not know (neither free
    nor occupied, or outside it) lethal, in place: ground-truth paths over what a map saw."""
    rc = explored.world_to_cell(gt.cell_to_world(np.argwhere(np.ones(gt.cost.shape, bool))))
    inside = explored.inside(rc)
    known = np.zeros(rc.shape[0], bool)
    known[inside] = (explored.free | explored.occupied)[rc[inside, 0], rc[inside, 1]]
    gt.cost[~known.reshape(gt.cost.shape)] = np.inf


def sample_pairs(
    occ: OccupancyGrid,
    config: CostmapConfig,
    n_pairs: int,
    seed: int = 0,
    min_dist_m: float = 1.5,
    clearance_m: float = 0.1,
    accept=None,
    explored: Grid2D | None = None,
    footprints: Footprints | None = None,
):
    """Start/goal pairs on ground-truth free cells, at least ``min_dist_m`` apart, and
    connected on the ground-truth costmap (same robot radius and margin).

    Start and goal keep ``clearance_m`` beyond the lethal radius from ground-truth
    obstacles: a robot does not stand or aim at the very edge of the lethal zone, and a
    map quantised at 5 cm cannot place that edge to better than a voxel. ``accept``, when
    given, is a predicate on a world xy (2,) that both ends must pass. With ``explored``
    (a map's grid) the ground-truth path must stay on cells that grid knows (free or
    occupied): a map cannot plan through rooms it never saw. ``footprints``: measure
    clearance to the exact outlines (``obstacle_footprints``).
    """
    gt = gt_costmap(occ, config, footprints)
    if explored is not None:
        limit_to_explored(gt, explored)
    r_lethal = config.robot_radius_m + config.safety_margin_m
    free_rc = np.argwhere(np.isfinite(gt.cost) & occ.known & (gt.obstacle_distance_m >= r_lethal + clearance_m))
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


def evaluate_navigation(
    costmap: Costmap,
    occ: OccupancyGrid,
    n_pairs: int = 20,
    seed: int = 0,
    method: str = "skimage",
    clearance_m: float = 0.1,
    observed_only: bool = True,
    goal_tolerance_m: float = 0.0,
    mesh: SceneMesh | None = None,
) -> NavMetrics:
    """Plan on ``costmap`` between ground-truth-connected pairs (``sample_pairs``) and score
    the paths. With ``observed_only`` both ends must lie on cells the map has seen free and
    the ground-truth path between them on cells the map knows (a map of a partly explored
    home cannot plan into or through rooms it never saw). A path counts as a success when
    it exists; with ``goal_tolerance_m`` > 0 it may end that close to a goal that the map
    puts on a blocked cell (the planner's goal tolerance, like a success radius). With the
    scene ``mesh`` (and its ``face_part``), clearance for connectivity and collisions is
    measured to the exact outlines of its parts in the band of ``occ``."""
    import time

    cfg = costmap.config
    fp = None
    if mesh is not None and mesh.face_part is not None:
        fp = obstacle_footprints(mesh, occ.z_min_m, occ.z_max_m)

    def observed(xy) -> bool:
        rc = costmap.world_to_cell(xy[None])
        return bool(costmap.grid.inside(rc)[0] and costmap.grid.free[rc[0, 0], rc[0, 1]])

    pairs = sample_pairs(
        occ,
        cfg,
        n_pairs,
        seed,
        clearance_m=clearance_m,
        accept=observed if observed_only else None,
        explored=costmap.grid if observed_only else None,
        footprints=fp,
    )
    ok = coll = 0
    ratios, times = [], []
    for s, g, opt_len in pairs:
        # The robot's own body at the start is free space the camera never saw; nothing
        # is assumed about the goal's surroundings (unknown there may hide an obstacle).
        cm = Costmap(costmap.cost, costmap.grid, costmap.obstacle_distance_m, cfg).with_free_footprint(
            s, cfg.robot_radius_m
        )
        t0 = time.perf_counter()
        try:
            path = plan_on_costmap(cm, s, g, method=method, goal_tolerance_m=goal_tolerance_m)
        except NoPathError:
            continue
        finally:
            times.append((time.perf_counter() - t0) * 1e3)
        ok += 1
        coll += collides(path.waypoints, occ, cfg.robot_radius_m, footprints=fp)
        ratios.append(path.length_m / max(opt_len, 1e-9))
    n = len(pairs)
    return NavMetrics(
        n_pairs=n,
        success_rate=ok / n if n else float("nan"),
        collision_rate=coll / ok if ok else float("nan"),
        length_ratio_mean=float(np.mean(ratios)) if ratios else float("nan"),
        plan_ms_median=float(np.median(times)) if times else float("nan"),
        clearance="raster" if fp is None else "outlines",
    )
