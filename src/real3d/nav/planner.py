"""Grid path planning on a costmap: A* (own) or scikit-image's minimum-cost path, then
line-of-sight shortcutting.

Both backends minimise the same objective, the sum over moves of step length (1 or sqrt 2
cells) times the mean cost of the two cells, on the 8-connected grid.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from real3d.core.counts import ratio_count
from real3d.core.errors import ConfigError, InputError, NoPathError
from real3d.nav.costmap import Costmap

_SQRT2 = float(np.sqrt(2.0))
_MOVES = [
    (-1, 0, 1.0),
    (1, 0, 1.0),
    (0, -1, 1.0),
    (0, 1, 1.0),
    (-1, -1, _SQRT2),
    (-1, 1, _SQRT2),
    (1, -1, _SQRT2),
    (1, 1, _SQRT2),
]


@dataclass
class Path:
    """A planned path in the world frame.

    Attributes:
        waypoints: (N, 2) float64 world xy, metres, start first.
        length_m: polyline length in metres.
        cost: accumulated cost of the grid path (cells x cost units).
        cells: (M, 2) int64 (row, col) of the unsmoothed grid path.
    """

    waypoints: np.ndarray
    length_m: float
    cost: float
    cells: np.ndarray


def astar(cost: np.ndarray, start_rc, goal_rc) -> tuple[np.ndarray, float]:
    """A* on an 8-connected grid (heapq, octile heuristic scaled by the minimum cost).

    Args:
        cost: (H, W) float per-cell cost >= some c_min > 0; inf = blocked.
        start_rc, goal_rc: (row, col) integer cells.

    Returns:
        (cells (M, 2) int64 from start to goal, total cost).

    Raises:
        NoPathError: the goal cannot be reached.
    """
    h, w = cost.shape
    sr, sc = int(start_rc[0]), int(start_rc[1])
    gr, gc = int(goal_rc[0]), int(goal_rc[1])
    finite = np.isfinite(cost)
    if not finite[sr, sc] or not finite[gr, gc]:
        raise NoPathError("astar: start or goal cell is blocked")
    c_min = float(cost[finite].min())
    cost_l = cost.tolist()
    g_best = {(sr, sc): 0.0}
    parent: dict = {}
    heap = [(0.0, 0.0, sr, sc)]
    closed = set()
    while heap:
        _, g, r, c = heapq.heappop(heap)
        if (r, c) in closed:
            continue
        if r == gr and c == gc:
            cells = [(r, c)]
            while (r, c) in parent:
                r, c = parent[(r, c)]
                cells.append((r, c))
            return np.array(cells[::-1], np.int64), g
        closed.add((r, c))
        cc = cost_l[r][c]
        for dr, dc, step in _MOVES:
            nr, nc = r + dr, c + dc
            if nr < 0 or nr >= h or nc < 0 or nc >= w or (nr, nc) in closed:
                continue
            cn = cost_l[nr][nc]
            if cn == np.inf:
                continue
            ng = g + step * 0.5 * (cc + cn)
            if ng < g_best.get((nr, nc), np.inf):
                g_best[(nr, nc)] = ng
                parent[(nr, nc)] = (r, c)
                ddr, ddc = abs(nr - gr), abs(nc - gc)
                hh = c_min * (max(ddr, ddc) + (_SQRT2 - 1) * min(ddr, ddc))
                heapq.heappush(heap, (ng + hh, ng, nr, nc))
    raise NoPathError("astar: goal is not reachable from start")


def route_skimage(cost: np.ndarray, start_rc, goal_rc) -> tuple[np.ndarray, float]:
    """Minimum-cost path with ``skimage.graph.route_through_array`` (same contract as
    ``astar``). scikit-image treats inf as impassable only through negative/inf weights,
    so blocked cells are given cost -1 (which it skips)."""
    from skimage.graph import route_through_array

    finite = np.isfinite(cost)
    sr, sc = int(start_rc[0]), int(start_rc[1])
    gr, gc = int(goal_rc[0]), int(goal_rc[1])
    if not finite[sr, sc] or not finite[gr, gc]:
        raise NoPathError("route_skimage: start or goal cell is blocked")
    c = np.where(finite, cost, -1.0).astype(np.float64)
    try:
        cells, total = route_through_array(c, (sr, sc), (gr, gc), fully_connected=True, geometric=True)
    except ValueError as e:
        raise NoPathError(f"route_skimage: goal is not reachable from start ({e})") from None
    cells = np.asarray(cells, np.int64)
    if len(cells) == 0 or tuple(cells[-1]) != (gr, gc) or not np.isfinite(total):
        raise NoPathError("route_skimage: goal is not reachable from start")
    return cells, float(total)


PLANNERS = {"astar": astar, "skimage": route_skimage}


def _line_cells(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
    t = np.linspace(0.0, 1.0, max(n * 2, 2))
    pts = np.round(a[None, :] + t[:, None] * (b - a)[None, :]).astype(np.int64)
    return pts


def shortcut(
    cells: np.ndarray, cost: np.ndarray, clearance: np.ndarray | None = None, clearance_cap_m: float = np.inf
) -> np.ndarray:
    """Line-of-sight shortcutting: from each kept cell jump to the farthest later cell whose
    straight segment crosses no cell costlier than the worst cell of the path it replaces
    and costs no more in all (length times the mean cost of the cells it crosses) than
    that stretch of the path. Without the second test a path that starts in a costly zone
    (the safety margin, or next to unknown space) may cut through the margin of another
    obstacle further on, since the worst cell of the stretch is as costly as any cell of
    that margin.

    With ``clearance`` (H, W), each cell's distance to the nearest obstacle, a segment
    must also keep as far from obstacles as the stretch it replaces, up to
    ``clearance_cap_m``: a cheap line may otherwise cross the safety margin of an obstacle
    that the costlier grid path kept clear of.

    Returns the kept cells (K, 2), first and last included.
    """
    if len(cells) <= 2:
        return cells
    keep = [0]
    i = 0
    n = len(cells)
    path_cost = cost[cells[:, 0], cells[:, 1]]
    # Cost of the grid path up to each cell, as the planners count it.
    step = np.linalg.norm(np.diff(cells, axis=0).astype(np.float64), axis=1)
    acc = np.concatenate([[0.0], np.cumsum(step * 0.5 * (path_cost[1:] + path_cost[:-1]))])
    path_clear = None if clearance is None else np.minimum(clearance[cells[:, 0], cells[:, 1]], clearance_cap_m)
    while i < n - 1:
        j_best = i + 1
        lo, hi = i + 1, n - 1
        # Binary search for a far visible cell (visibility is not monotone along a path,
        # so it is not always the farthest).
        while lo <= hi:
            mid = (lo + hi) // 2
            floor_m = None if path_clear is None else float(path_clear[i : mid + 1].min())
            if _visible(
                cells[i], cells[mid], cost, float(path_cost[i : mid + 1].max()), acc[mid] - acc[i], clearance, floor_m
            ):
                j_best, lo = mid, mid + 1
            else:
                hi = mid - 1
        keep.append(j_best)
        i = j_best
    return cells[keep]


def _visible(a, b, cost, limit: float, budget: float, clearance=None, floor_m=None) -> bool:
    line = _line_cells(a, b)
    vals = cost[line[:, 0], line[:, 1]]
    if not np.all(vals <= limit + 1e-6):
        return False
    if clearance is not None and clearance[line[:, 0], line[:, 1]].min() < floor_m - 1e-6:
        return False
    length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
    return length * float(vals.mean()) <= budget * (1 + 1e-6) + 1e-6


def plan_on_costmap(
    costmap: Costmap, start_xy, goal_xy, method: str = "skimage", smooth: bool = True, goal_tolerance_m: float = 0.0
) -> Path:
    """Plan from ``start_xy`` to ``goal_xy`` (world metres) on a costmap, as it is (the
    grid search; ``plan_path`` plans a robot's path from where it stands, goal first).

    Args:
        method: "skimage" (default, faster on these grids, see docs/mapping.md) or "astar".
        smooth: apply line-of-sight shortcutting.
        goal_tolerance_m: when the goal cell is blocked (lethal or unknown), plan to the
            nearest passable cell within this distance instead; the path then ends there,
            not at ``goal_xy``. 0 (default) plans to the goal cell or fails.

    Raises:
        NoPathError: start/goal outside the map, on a blocked cell (the goal with no
            passable cell within the tolerance), or disconnected.
        ConfigError: unknown method.
    """
    if method not in PLANNERS:
        raise ConfigError(f"plan: unknown method {method!r}; valid: {', '.join(PLANNERS)}")
    s = np.asarray(start_xy, np.float64).reshape(-1)
    g = np.asarray(goal_xy, np.float64).reshape(-1)
    if s.shape != (2,) or g.shape != (2,) or not (np.isfinite(s).all() and np.isfinite(g).all()):
        raise InputError(f"plan: expected finite start_xy and goal_xy of shape (2,), got {s} and {g}")
    if not (np.isfinite(goal_tolerance_m) and goal_tolerance_m >= 0):
        raise InputError(f"plan: expected goal_tolerance_m >= 0, got {goal_tolerance_m}")
    rc = costmap.world_to_cell(np.stack([s, g]))
    inside = costmap.grid.inside(rc)
    if not inside.all():
        which = "start" if not inside[0] else "goal"
        raise NoPathError(f"plan: {which} {s if not inside[0] else g} lies outside the costmap")
    end = g
    if goal_tolerance_m > 0 and not np.isfinite(costmap.cost[rc[1, 0], rc[1, 1]]):
        near = _nearest_passable(costmap, g, goal_tolerance_m)
        if near is not None:
            rc[1] = near
            end = costmap.cell_to_world(near[None])[0]
    cells, total = PLANNERS[method](costmap.cost, rc[0], rc[1])
    cfg = costmap.config
    kept = (
        shortcut(cells, costmap.cost, costmap.obstacle_distance_m, cfg.robot_radius_m + cfg.safety_margin_m)
        if smooth
        else cells
    )
    wp = costmap.cell_to_world(kept)
    wp[0], wp[-1] = s, end
    length = float(np.linalg.norm(np.diff(wp, axis=0), axis=1).sum()) if len(wp) > 1 else 0.0
    return Path(wp, length, float(total), cells)


def plan_path(
    costmap: Costmap,
    goal_xy: ArrayLike,
    start_xy: ArrayLike,
    method: str = "skimage",
    goal_tolerance_m: float = 0.0,
    footprint_m: float | None = None,
) -> Path:
    """A robot's path from where it stands: ``plan_on_costmap`` on
    ``costmap.with_free_footprint(start_xy, footprint_m)`` (unknown cells under the robot
    count as free; ``footprint_m`` None: robot radius + ``FOOTPRINT_PAD_M``). The costmap
    itself is left as it is. Goal first, as in ``Pipeline.plan`` and
    ``RobotNavigator.plan``. Raises NoPathError as ``plan_on_costmap``."""
    return plan_on_costmap(
        costmap.with_free_footprint(start_xy, footprint_m),
        start_xy,
        goal_xy,
        method=method,
        goal_tolerance_m=goal_tolerance_m,
    )


def _nearest_passable(costmap: Costmap, xy: np.ndarray, radius_m: float):
    """(row, col) of the passable cell nearest to world ``xy`` within ``radius_m``, or None."""
    res = costmap.grid.resolution_m
    k = ratio_count(radius_m, res)
    rc = costmap.world_to_cell(xy[None])[0]
    h, w = costmap.cost.shape
    r0, r1, c0, c1 = max(0, rc[0] - k), min(h, rc[0] + k + 1), max(0, rc[1] - k), min(w, rc[1] + k + 1)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    centres = costmap.cell_to_world(np.stack([rr.ravel(), cc.ravel()], axis=1))
    d = np.linalg.norm(centres - xy, axis=1)
    ok = (d <= radius_m) & np.isfinite(costmap.cost[rr.ravel(), cc.ravel()])
    if not ok.any():
        return None
    i = np.flatnonzero(ok)[np.argmin(d[ok])]
    return np.array([rr.ravel()[i], cc.ravel()[i]], np.int64)
