from dataclasses import replace

import numpy as np
import pytest

from real3d.core import ConfigError, InputError, NoPathError
from real3d.mapping.grid2d import Grid2D
from real3d.nav import CostmapConfig, astar, costmap_from_grid, plan, route_skimage, shortcut

RES = 0.1


def grid_from(occupied: np.ndarray) -> Grid2D:
    occ = np.asarray(occupied, bool)
    return Grid2D(occ, ~occ, (0.0, 0.0), RES, 0.1, 1.5)


def cfg(radius=0.0, margin=0.0, inflation=0.0):
    return CostmapConfig(resolution_m=RES, robot_radius_m=radius, safety_margin_m=margin, inflation_m=inflation)


@pytest.mark.parametrize("planner", [astar, route_skimage])
def test_open_grid_costs_match_the_octile_distance(planner):
    cost = np.ones((20, 30))
    cells, total = planner(cost, (2, 3), (12, 23))
    # 10 diagonal moves and 10 straight moves at unit cell cost.
    assert total == pytest.approx(10 * np.sqrt(2) + 10)
    assert tuple(cells[0]) == (2, 3) and tuple(cells[-1]) == (12, 23)
    steps = np.abs(np.diff(cells, axis=0))
    assert steps.max() == 1


def test_planners_agree_and_detour_through_the_gap():
    occ = np.zeros((30, 30), bool)
    occ[:, 15] = True
    occ[25, 15] = False  # the only gap
    cm = costmap_from_grid(grid_from(occ), cfg())
    a_cells, a_cost = astar(cm.cost, (5, 5), (5, 25))
    s_cells, s_cost = route_skimage(cm.cost, (5, 5), (5, 25))
    assert a_cost == pytest.approx(s_cost)
    for cells in (a_cells, s_cells):
        assert (25, 15) in {tuple(c) for c in cells}
        assert not occ[cells[:, 0], cells[:, 1]].any()
    # Through the gap: (5, 5) -> (25, 15) -> (5, 25), each leg 10 diagonal + 10 straight moves.
    assert a_cost == pytest.approx(2 * (10 * np.sqrt(2) + 10))


@pytest.mark.parametrize("method", ["astar", "skimage"])
def test_no_path_raises(method):
    occ = np.zeros((20, 20), bool)
    occ[:, 10] = True
    cm = costmap_from_grid(grid_from(occ), cfg())
    with pytest.raises(NoPathError):
        plan(cm, (0.25, 0.25), (1.75, 0.25), method=method)
    with pytest.raises(NoPathError):  # goal outside the map
        plan(cm, (0.25, 0.25), (50.0, 0.25), method=method)
    with pytest.raises(NoPathError):  # goal on an obstacle
        plan(cm, (0.25, 0.25), (1.05, 0.55), method=method)


def test_bad_arguments():
    cm = costmap_from_grid(grid_from(np.zeros((10, 10), bool)), cfg())
    with pytest.raises(ConfigError):
        plan(cm, (0.1, 0.1), (0.5, 0.5), method="dijkstra9000")
    with pytest.raises(InputError):
        plan(cm, (np.nan, 0.1), (0.5, 0.5))
    with pytest.raises(InputError):
        plan(cm, (0.1, 0.1, 0.0), (0.5, 0.5))


def test_inflation_makes_cells_near_obstacles_lethal():
    occ = np.zeros((41, 41), bool)
    occ[20, 20] = True
    cm = costmap_from_grid(grid_from(occ), cfg(radius=0.3, margin=0.05, inflation=0.3))
    d = np.hypot(*np.meshgrid(np.arange(41) - 20, np.arange(41) - 20)) * RES
    assert np.all(~np.isfinite(cm.cost[d < 0.3]))
    # The safety margin costs margin_cost on top of the inflation's peak: passable, but far
    # dearer than open floor.
    margin = (d >= 0.3) & (d < 0.35)
    c = CostmapConfig()
    assert margin.any() and np.allclose(cm.cost[margin], 1 + c.inflation_weight + c.margin_cost)
    assert np.all(np.isfinite(cm.cost[d >= 0.3]))
    strict = costmap_from_grid(grid_from(occ), replace(cfg(radius=0.3, margin=0.05, inflation=0.3), margin_cost=np.inf))
    assert np.all(~np.isfinite(strict.cost[d < 0.35])) and np.all(np.isfinite(strict.cost[d >= 0.36]))
    with pytest.raises(InputError):
        costmap_from_grid(grid_from(occ), replace(cfg(), margin_cost=0.5))
    ring = (d > 0.4) & (d < 0.6)
    far = d > 0.7
    assert cm.cost[ring].min() > 1.0 and np.all(cm.cost[far] == 1.0)
    # Unknown space is kept apart and not planned through by default.
    g = grid_from(np.zeros((10, 10), bool))
    g.free[:, 5] = False
    assert not np.isfinite(costmap_from_grid(g, cfg()).cost[:, 5]).any()


def test_path_is_smoothed_and_in_world_metres():
    occ = np.zeros((40, 40), bool)
    occ[10:30, 20] = True
    cm = costmap_from_grid(grid_from(occ), cfg(radius=0.1))
    p = plan(cm, (0.55, 2.05), (3.55, 2.05))
    assert np.allclose(p.waypoints[0], (0.55, 2.05)) and np.allclose(p.waypoints[-1], (3.55, 2.05))
    assert len(p.waypoints) < len(p.cells) / 4  # shortcutting keeps only the corners
    assert p.length_m == pytest.approx(np.linalg.norm(np.diff(p.waypoints, axis=0), axis=1).sum())
    # Around the wall end (y = 1.0 or 3.0 plus clearance): longer than straight, shorter than the grid path.
    assert 3.0 < p.length_m < len(p.cells) * RES * np.sqrt(2)
    # Every segment of the smoothed path stays off lethal cells.
    for a, b in zip(p.waypoints[:-1], p.waypoints[1:]):
        t = np.linspace(0, 1, 200)[:, None]
        rc = cm.world_to_cell(a + t * (b - a))
        assert np.isfinite(cm.cost[rc[:, 0], rc[:, 1]]).all()
    kept = shortcut(p.cells, cm.cost)
    assert tuple(kept[0]) == tuple(p.cells[0]) and tuple(kept[-1]) == tuple(p.cells[-1])


def test_goal_tolerance_approaches_a_goal_inside_an_obstacles_inflation():
    # A wall along row 10 (y = 1.0-1.1 m); the goal is 0.18 m from its centre line, inside
    # the 0.25 m lethal zone; the nearest passable cells (row 7) are 0.12 m away.
    occ = np.zeros((20, 20), bool)
    occ[10, :] = True
    cm = costmap_from_grid(grid_from(occ), replace(cfg(radius=0.2, margin=0.05), margin_cost=np.inf))
    start = np.array([1.0, 0.3])
    goal = cm.cell_to_world(np.array([[7, 10]]))[0] + np.array([0.0, 0.12])
    with pytest.raises(NoPathError):
        plan(cm, start, goal)
    with pytest.raises(NoPathError):
        plan(cm, start, goal, goal_tolerance_m=0.04)  # no passable cell that close
    p = plan(cm, start, goal, goal_tolerance_m=0.15)
    end = p.waypoints[-1]
    assert np.linalg.norm(end - goal) <= 0.15
    assert np.isfinite(cm.cost[tuple(cm.world_to_cell(end[None])[0])])
    # A passable goal is reached exactly, tolerance or not.
    assert np.allclose(plan(cm, start, start + 0.2, goal_tolerance_m=0.15).waypoints[-1], start + 0.2)
    with pytest.raises(InputError):
        plan(cm, start, goal, goal_tolerance_m=-1.0)


def test_a_doorway_inside_the_safety_margin_is_passable_but_avoided():
    # A wall across the grid with a 0.4 m gap, robot radius 0.2 m, margin 0.1 m: every gap
    # cell is exactly at the robot radius from the wall, so only inside the margin.
    occ = np.zeros((20, 30), bool)
    occ[10, :] = True
    occ[10, 8:12] = False
    soft = costmap_from_grid(grid_from(occ), cfg(radius=0.2, margin=0.1))
    start, goal = np.array([0.95, 0.35]), np.array([0.95, 1.75])
    p = plan(soft, start, goal)
    assert p.waypoints[:, 1].min() < 1.0 < p.waypoints[:, 1].max()  # went through the gap
    with pytest.raises(NoPathError):
        plan(costmap_from_grid(grid_from(occ), replace(cfg(radius=0.2, margin=0.1), margin_cost=np.inf)), start, goal)
    # With a second, wider door the planner takes that one even at some detour.
    occ[10, 20:26] = False
    p2 = plan(costmap_from_grid(grid_from(occ), cfg(radius=0.2, margin=0.1)), start, goal)
    assert not any((r == 10 and 8 <= c < 12) for r, c in p2.cells)


def test_space_behind_a_seen_surface_is_dear_not_lethal():
    # A wall across the grid with a 0.6 m gap; robot radius 0.35 m. The wall right of the
    # gap was seen from the far side only: its three cells next to the gap are the
    # truncation band behind that surface (behind_xy), the surface itself starts 0.3 m
    # further right. By what the camera showed the gap is 0.9 m wide; counting the band,
    # 0.6 m, too narrow for the robot.
    occ = np.zeros((20, 30), bool)
    occ[10, :] = True
    occ[10, 8:14] = False
    grid = grid_from(occ)
    centres = lambda cols: grid.cell_to_world(np.stack([np.full(len(cols), 10), cols], 1)).astype(np.float32)
    grid.obstacle_xy = np.concatenate([centres(np.arange(0, 8)), centres(np.arange(17, 30))])
    grid.behind_xy = centres(np.arange(14, 17))
    c = cfg(radius=0.35)
    cm = costmap_from_grid(grid, c)
    start, goal = np.array([1.15, 0.35]), np.array([1.15, 1.75])
    p = plan(cm, start, goal)
    assert p.waypoints[:, 1].min() < 1.0 < p.waypoints[:, 1].max()  # through the gap
    gap = cm.cost[10, 8:14]
    assert np.isfinite(gap).any() and (gap[np.isfinite(gap)] > c.behind_cost).all()
    assert cm.obstacle_distance_m[10, 13] < 0.11  # distances count the band
    with pytest.raises(NoPathError):
        plan(costmap_from_grid(grid, replace(c, behind_cost=np.inf)), start, goal)
    # Without the band's points the same cells are the plain cell-centre costmap's.
    bare = grid_from(occ)
    np.testing.assert_array_equal(
        ~np.isfinite(costmap_from_grid(bare, c).cost),
        ~np.isfinite(costmap_from_grid(grid, replace(c, behind_cost=np.inf)).cost),
    )
    # Given another way round, the planner takes it rather than pass the band.
    occ2 = occ.copy()
    occ2[10, 22:29] = False
    grid2 = grid_from(occ2)
    grid2.obstacle_xy = np.concatenate([centres(np.arange(0, 8)), centres(np.arange(17, 22)), centres([29])])
    grid2.behind_xy = grid.behind_xy
    p2 = plan(costmap_from_grid(grid2, c), start, goal)
    assert not any((r == 10 and 8 <= col < 14) for r, col in p2.cells)
    with pytest.raises(InputError):
        costmap_from_grid(grid, replace(c, behind_cost=0.5))


def test_shortcut_does_not_cut_through_a_zone_the_path_went_round():
    # The start sits in one zone (cost 25 next to the start); the grid path leaves it and
    # goes round a second zone; the worst cell of the whole stretch is 25, so a worst-cell
    # test alone would let one straight segment from the start cross the second zone; the
    # segment's total cost forbids it.
    cost = np.ones((20, 40), np.float32)
    cost[9:12, 0:3] = 25.0  # the zone the start is in
    cost[4:16, 18:22] = 25.0  # a zone across the straight line
    start, goal = (10, 1), (10, 38)
    cells, _ = route_skimage(cost, start, goal)
    assert not (cost[cells[:, 0], cells[:, 1]][3:] >= 25).any()  # the planner went round
    kept = shortcut(cells, cost)
    for a, b in zip(kept[:-1], kept[1:]):
        n = int(np.abs(b - a).max()) * 4 + 2
        rc = np.round(a + np.linspace(0, 1, n)[:, None] * (b - a)).astype(int)
        inner = rc[np.any(rc != np.array(start), axis=1)]
        assert not ((inner[:, 1] >= 18) & (inner[:, 1] < 22) & (cost[inner[:, 0], inner[:, 1]] >= 25)).any()


def test_object_boxes_add_a_graded_zone_that_paths_keep_off():
    from real3d.scene.boxes import Box3D

    occ = np.zeros((40, 60), bool)
    box = Box3D(np.array([3.0, 2.0, 0.5]), np.array([0.4, 0.4, 1.0]), 0.0)  # x 2.8-3.2, y 1.8-2.2
    c = replace(cfg(radius=0.2, margin=0.05), object_margin_m=0.1)
    plain = costmap_from_grid(grid_from(occ), c)
    cm = costmap_from_grid(grid_from(occ), c, object_boxes=[box])
    xy = cm.cell_to_world(np.argwhere(np.ones(cm.cost.shape, bool))).reshape(40, 60, 2)
    d = np.hypot(np.maximum(np.abs(xy[..., 0] - 3.0) - 0.2, 0), np.maximum(np.abs(xy[..., 1] - 2.0) - 0.2, 0))
    # The zone's cost adds to the cell's own (1 on open floor).
    assert np.all(cm.cost[d == 0] == pytest.approx(1 + 2 * c.object_cost))
    zone = (d > 0) & (d < 0.3)
    extra = cm.cost[zone] - plain.cost[zone]
    assert np.all((extra >= c.object_cost) & (extra < 2 * c.object_cost))
    # Dearer nearer the box (cells 0.05, 0.15, 0.25 m from it), untouched beyond the zone.
    assert cm.cost[20, 32] > cm.cost[20, 33] > cm.cost[20, 34] > cm.cost[20, 35] == 1.0
    assert np.array_equal(cm.cost[d >= 0.31], plain.cost[d >= 0.31])
    # A path along the box's row goes round it, clear of the whole zone.
    p = plan(cm, (1.05, 2.05), (4.95, 2.05))
    pts = np.concatenate(
        [a + np.linspace(0, 1, 50)[:, None] * (b - a) for a, b in zip(p.waypoints[:-1], p.waypoints[1:])]
    )
    gap = np.hypot(np.maximum(np.abs(pts[:, 0] - 3.0) - 0.2, 0), np.maximum(np.abs(pts[:, 1] - 2.0) - 0.2, 0))
    assert gap.min() >= 0.25
    # inf makes the zone lethal; bad parameters are refused.
    lethal = costmap_from_grid(grid_from(occ), replace(c, object_cost=np.inf), object_boxes=[box])
    assert not np.isfinite(lethal.cost[d < 0.3]).any()
    with pytest.raises(InputError):
        costmap_from_grid(grid_from(occ), replace(c, object_cost=0.5), object_boxes=[box])
    with pytest.raises(InputError):
        costmap_from_grid(grid_from(occ), replace(c, object_margin_m=-0.1), object_boxes=[box])


def _grid_with_heights(occupied, top_m, bottom_m, res=0.05):
    occ = np.asarray(occupied, bool)
    g = Grid2D(occ, ~occ, (0.0, 0.0), res, 0.1, 1.8)
    g.top_z_m = np.where(occ, np.float32(top_m), np.float32(np.nan))
    g.bottom_z_m = np.where(occ, np.float32(bottom_m), np.float32(np.nan))
    return g


def test_a_thin_tall_obstacle_keeps_paths_off_what_it_may_carry():
    occ = np.zeros((60, 80), bool)
    occ[30, 40] = True  # a pole: one cell, from the floor up to 1 m (a lamp whose shade went unseen)
    c = CostmapConfig()
    pole = costmap_from_grid(_grid_with_heights(occ, 1.0, 0.15), c)
    plain = costmap_from_grid(_grid_with_heights(occ, 1.0, 0.15), replace(c, overhang_m=0.0))
    d = np.hypot(*np.meshgrid(np.arange(80) - 40, np.arange(60) - 30)) * 0.05
    zone = (d > c.robot_radius_m + c.safety_margin_m) & (d < c.robot_radius_m + c.overhang_m)
    assert zone.any() and np.all(pole.cost[zone] >= plain.cost[zone] + c.margin_cost)
    beyond = d >= c.robot_radius_m + c.overhang_m + 0.05
    assert np.array_equal(pole.cost[beyond], plain.cost[beyond])
    # A path past it keeps out of the zone where there is room.
    p = plan(pole, (0.3, 1.525), (3.7, 1.525))
    pts = np.concatenate(
        [a + np.linspace(0, 1, 50)[:, None] * (b - a) for a, b in zip(p.waypoints[:-1], p.waypoints[1:])]
    )
    assert np.hypot(pts[:, 0] - 2.025, pts[:, 1] - 1.525).min() >= c.robot_radius_m + c.overhang_m - 0.05
    # Not a pole: short (a bottle on the floor), standing on something (a cup on a shelf),
    # wide (a cabinet), or a grid without column heights.
    for top, bottom in ((0.35, 0.15), (1.0, 0.8)):
        same = costmap_from_grid(_grid_with_heights(occ, top, bottom), c)
        assert np.array_equal(same.cost, plain.cost)
    wide = np.zeros_like(occ)
    wide[26:34, 36:44] = True
    assert np.array_equal(
        costmap_from_grid(_grid_with_heights(wide, 1.0, 0.15), c).cost,
        costmap_from_grid(_grid_with_heights(wide, 1.0, 0.15), replace(c, overhang_m=0.0)).cost,
    )
    bare = Grid2D(occ, ~occ, (0.0, 0.0), 0.05, 0.1, 1.8)
    assert np.array_equal(costmap_from_grid(bare, c).cost, plain.cost)


def test_cells_near_unknown_space_cost_more_the_nearer_they_are():
    occ = np.zeros((40, 60), bool)
    free = np.ones_like(occ)
    free[:, :20] = False  # unknown: columns 0-19
    c = CostmapConfig()
    cm = costmap_from_grid(Grid2D(occ, free, (0.0, 0.0), 0.05, 0.1, 1.8), c)
    row = cm.cost[20]
    assert not np.isfinite(row[:20]).any()
    # Columns 20, 24 and 25 lie 0.05, 0.25 and 0.30 m from the nearest unknown cell centre.
    r_margin = c.robot_radius_m + c.safety_margin_m  # 0.25 m
    assert row[20] == pytest.approx(
        1
        + c.unknown_margin_cost * (1.5 - 0.5 * 0.05 / c.unknown_margin_m)
        + 2 * c.unknown_body_cost * (1 - 0.05 / r_margin)
    )
    assert row[20] > row[22] > row[24] > row[25] == 1.0
    # Column 24 lies r_margin off: from there on only the outer zone counts.
    assert row[24] == pytest.approx(1 + c.unknown_margin_cost * (1.5 - 0.5 * 0.25 / c.unknown_margin_m))
    assert row[20] - row[24] > c.unknown_body_cost  # the body term makes the edge far dearer
    assert c.unknown_margin_cost < c.margin_cost
    grid = Grid2D(occ, free, (0.0, 0.0), 0.05, 0.1, 1.8)
    no_body = costmap_from_grid(grid, replace(c, unknown_body_cost=0.0)).cost[20]
    assert no_body[20] == pytest.approx(1 + c.unknown_margin_cost * (1.5 - 0.5 * 0.05 / c.unknown_margin_m))
    assert np.array_equal(no_body[24:], row[24:])
    off = costmap_from_grid(grid, replace(c, unknown_margin_m=0.0, unknown_body_cost=0.0))
    assert np.all(off.cost[:, 20:] == 1.0)
    body_only = costmap_from_grid(grid, replace(c, unknown_margin_m=0.0)).cost[20]
    assert body_only[20] == pytest.approx(1 + 2 * c.unknown_body_cost * (1 - 0.05 / r_margin))
    assert np.all(body_only[24:] == 1.0)
    for bad in (
        dict(unknown_body_cost=-1.0),
        dict(unknown_margin_cost=-1.0),
        dict(unknown_margin_m=float("nan")),
        dict(unknown_hole_m2=-0.01),
    ):
        with pytest.raises(InputError, match="unknown_"):
            costmap_from_grid(grid, replace(c, **bad))


def test_shortcut_keeps_the_clearance_of_the_path_it_replaces():
    # An L-shaped path round a corner cell (2, 2) that is cheap but close to an obstacle.
    cells = np.array([(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (4, 1), (4, 2), (4, 3), (4, 4)])
    cost = np.ones((5, 5))
    clearance = np.full((5, 5), 1.0)
    clearance[1:4, 1:4] = 0.21  # the margin of something in the middle
    assert len(shortcut(cells, cost)) == 2
    kept = shortcut(cells, cost, clearance, clearance_cap_m=0.25)
    assert len(kept) > 2
    for a, b in zip(kept[:-1], kept[1:]):
        n = int(np.abs(b - a).max()) * 2 + 2
        rc = np.round(a + np.linspace(0, 1, n)[:, None] * (b - a)).astype(int)
        assert clearance[rc[:, 0], rc[:, 1]].min() >= 1.0
    # Beyond the cap a line may come closer: clearance there is the cost's business.
    assert len(shortcut(cells, cost, clearance, clearance_cap_m=0.2)) == 2


def test_small_holes_in_seen_space_stay_lethal_but_make_no_zone():
    occ = np.zeros((40, 60), bool)
    free = np.ones_like(occ)
    free[:, :10] = False  # unknown space along the left border
    free[20:23, 30:33] = False  # a 3 x 3 hole (0.0225 m^2) in the middle of seen space
    free[5:10, 40:50] = False  # a 5 x 10 unknown patch (0.125 m^2): space nobody saw
    c = CostmapConfig()
    grid = Grid2D(occ, free, (0.0, 0.0), 0.05, 0.1, 1.8)
    cm = costmap_from_grid(grid, c)
    assert not np.isfinite(cm.cost[20:23, 30:33]).any()  # the hole itself stays lethal
    assert np.all(cm.cost[18:25, 27:36][np.isfinite(cm.cost[18:25, 27:36])] == 1.0)  # no zone round it
    assert cm.cost[12, 45] > 1.0 and cm.cost[20, 10] > c.unknown_margin_cost  # the others keep theirs
    every = costmap_from_grid(grid, replace(c, unknown_hole_m2=0.0))
    assert every.cost[21, 29] > c.unknown_margin_cost
    assert np.array_equal(every.cost[:, :25], cm.cost[:, :25])


def test_with_free_footprint_frees_unknown_cells_in_a_new_costmap():
    from real3d.nav import clear_footprint, plan_path

    occ = np.zeros((20, 20), bool)
    occ[10, 14] = True
    free = ~occ
    free[8:13, 3:8] = False  # unknown around the robot, which never saw its own floor
    g = Grid2D(occ, free, (0.0, 0.0), RES, 0.1, 1.5)
    cm = costmap_from_grid(g, cfg(radius=0.2))
    before = cm.cost.copy()
    start, goal = (0.55, 1.05), (1.75, 1.75)
    out = cm.with_free_footprint(start, radius_m=0.2)
    np.testing.assert_array_equal(cm.cost, before)  # the original is unchanged
    assert out.grid is cm.grid and out.cost is not cm.cost
    rc = cm.world_to_cell([start])[0]
    assert not np.isfinite(before[rc[0], rc[1]]) and out.cost[rc[0], rc[1]] == 1.0
    rr, cc = np.nonzero(out.cost != before)
    assert len(rr) and (np.hypot(rr - rc[0], cc - rc[1]) <= 2).all()  # within the radius only
    # the in-place form does the same to the costmap it is given
    clear_footprint(cm, start, 0.2)
    np.testing.assert_array_equal(cm.cost, out.cost)
    # default radius: robot radius + FOOTPRINT_PAD_M; a plan from the unknown start works
    cm.cost[:] = before
    with pytest.raises(NoPathError):
        plan(cm, start, goal)
    p = plan_path(cm, goal, start)
    assert np.allclose(p.waypoints[0], start) and np.allclose(p.waypoints[-1], goal)
    np.testing.assert_array_equal(cm.cost, before)
