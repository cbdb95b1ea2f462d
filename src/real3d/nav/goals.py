"""Choosing where a run's robot should go: a goal that crosses the explored space, and the
plan to it as a run's outputs record it (``path.json``)."""

from __future__ import annotations

import time

import numpy as np

PATH_SCHEMA = "real3d.path"
PATH_SCHEMA_VERSION = 1


def auto_goal(costmap, start_xy) -> np.ndarray | None:
    """The reachable free cell farthest (in path cost) from ``start_xy``: a goal that makes
    the planner cross the explored space. None when nothing is reachable."""
    from skimage.graph import MCP_Geometric

    from real3d.nav.costmap import clear_footprint

    cost = costmap.cost.copy()
    cm = type(costmap)(cost, costmap.grid, costmap.obstacle_distance_m, costmap.config)
    clear_footprint(cm, start_xy, costmap.config.robot_radius_m + 0.1)
    rc = costmap.world_to_cell(np.asarray(start_xy, float)[None])[0]
    if not costmap.grid.inside(rc[None])[0] or not np.isfinite(cm.cost[rc[0], rc[1]]):
        return None
    finite = np.isfinite(cm.cost)
    c = np.where(finite, cm.cost, -1.0)  # negative = impassable for MCP
    mcp = MCP_Geometric(c, fully_connected=True)
    acc, _ = mcp.find_costs([tuple(int(v) for v in rc)])
    acc = np.where(np.isfinite(acc) & finite, acc, -1.0)
    if acc.max() <= 0:
        return None
    r, col = np.unravel_index(int(np.argmax(acc)), acc.shape)
    return costmap.cell_to_world(np.array([[r, col]]))[0]


def plan_for_report(pipeline, goal_xy=None, header: dict | None = None) -> dict:
    """Plan from the last camera position to ``goal_xy`` (or ``auto_goal``); a dict for
    path.json (``status`` "ok" or the reason there is no path; schema
    ``real3d/schemas/path.schema.json``).

    Args:
        pipeline: the ``Pipeline`` (its ``costmap``, ``trajectory`` and ``plan``).
        goal_xy: (2,) metres in the map frame; None picks ``auto_goal``.
        header: the frame keys (``real3d.scene.graph.frame_header``); default: those of
            the pipeline's ``gravity_T_world`` and ``gravity_note``, no time.

    Every position (``start_xy``, ``goal_xy``, ``waypoints``) is (x, y) in the map frame,
    metres.
    """
    from real3d.core.errors import NoPathError
    from real3d.scene.graph import frame_header

    if header is None:
        header = frame_header(getattr(pipeline, "gravity_T_world", None), getattr(pipeline, "gravity_note", None))
    out = {
        "schema": PATH_SCHEMA,
        "version": PATH_SCHEMA_VERSION,
        **header,
        "status": "no map",
        "start_xy": None,
        "goal_xy": None,
        "goal_source": "given" if goal_xy is not None else "auto: farthest reachable free cell",
        "waypoints": [],
        "length_m": None,
        "plan_ms": None,
    }
    cm = pipeline.costmap
    if cm is None or not pipeline.trajectory:
        return out
    start = np.asarray(pipeline.trajectory[-1][:2], float)
    out["start_xy"] = start.tolist()
    goal = np.asarray(goal_xy, float) if goal_xy is not None else auto_goal(cm, start)
    if goal is None:
        out["status"] = "no reachable free space around the start"
        return out
    out["goal_xy"] = [float(v) for v in goal]
    t0 = time.perf_counter()
    try:
        path = pipeline.plan(goal, start)
    except NoPathError as e:
        out["status"] = f"no path: {e}"
        return out
    out.update(
        status="ok",
        waypoints=path.waypoints.tolist(),
        length_m=float(path.length_m),
        plan_ms=(time.perf_counter() - t0) * 1e3,
    )
    return out
