from types import SimpleNamespace

import numpy as np

from real3d.nav.goals import auto_goal, plan_for_report


def _costmap():
    from real3d.mapping.grid2d import Grid2D
    from real3d.nav.costmap import CostmapConfig, costmap_from_grid

    occ = np.zeros((40, 40), bool)
    occ[:, 20] = True  # a wall splits the grid; the right half is unreachable
    grid = Grid2D(occ, ~occ, (0.0, 0.0), 0.1, 0.1, 1.5)
    return costmap_from_grid(grid, CostmapConfig(robot_radius_m=0.1, safety_margin_m=0.0, inflation_m=0.0))


def test_auto_goal_is_the_farthest_reachable_cell():
    cm = _costmap()
    goal = auto_goal(cm, (0.5, 0.5))
    assert goal is not None and goal[0] < 2.0  # on the start's side of the wall
    assert np.hypot(*(goal - 0.5)) > 2.5  # and far from the start
    assert auto_goal(cm, (-5.0, -5.0)) is None  # outside the map


def _pipeline(cm, trajectory):
    from real3d.nav import plan

    return SimpleNamespace(costmap=cm, trajectory=trajectory, plan=lambda goal, start: plan(cm, start, goal))


def test_plan_for_report():
    cm = _costmap()
    assert plan_for_report(_pipeline(None, []))["status"] == "no map"
    out = plan_for_report(_pipeline(cm, [np.array([0.5, 0.5, 0.3])]))
    assert out["status"] == "ok" and out["goal_source"].startswith("auto")
    assert out["start_xy"] == [0.5, 0.5] and len(out["waypoints"]) >= 2 and out["length_m"] > 2.5
    given = plan_for_report(_pipeline(cm, [np.array([0.5, 0.5, 0.3])]), goal_xy=(3.0, 0.5))
    assert given["goal_source"] == "given" and given["status"].startswith("no path")
