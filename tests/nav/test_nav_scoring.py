"""Navigation scoring: exact obstacle outlines against the ground-truth raster."""

import numpy as np
import pytest

from real3d.core import InputError, NoPathError
from real3d.core.gt import OccupancyGrid, SceneMesh
from real3d.nav import CostmapConfig, plan_on_costmap
from real3d.nav.evaluate import collides, gt_costmap, obstacle_footprints

_CORNERS = np.array([[x, y, z] for z in (-0.5, 0.5) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
_TRIS = np.array(
    [
        [0, 1, 3],
        [0, 3, 2],
        [4, 6, 7],
        [4, 7, 5],
        [0, 4, 5],
        [0, 5, 1],
        [2, 3, 7],
        [2, 7, 6],
        [0, 2, 6],
        [0, 6, 4],
        [1, 5, 7],
        [1, 7, 3],
    ]
)


def _mesh(boxes) -> SceneMesh:
    """Closed box parts from (center, size, yaw) triples."""
    verts, tris, part = [], [], []
    for i, (c, s, yaw) in enumerate(boxes):
        r = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        verts.append((_CORNERS * s) @ r.T + c)
        tris.append(_TRIS + 8 * i)
        part += [i] * len(_TRIS)
    n = len(part)
    z = np.zeros(n, np.int32)
    return SceneMesh(
        np.concatenate(verts).astype(np.float32),
        np.concatenate(tris).astype(np.int32),
        z.astype(np.int16),
        z.astype(np.uint8),
        z,
        z,
        face_part=np.array(part, np.int32),
    )


def _raster(boxes, shape=(60, 80), res=0.05) -> OccupancyGrid:
    """Axis-aligned boxes rasterised like the data engine: a cell is occupied when its centre
    lies inside a box."""
    h, w = shape
    ys, xs = (np.arange(h) + 0.5) * res, (np.arange(w) + 0.5) * res
    X, Y = np.meshgrid(xs, ys)
    occ = np.zeros(shape, bool)
    for c, s, _ in boxes:
        occ |= (np.abs(X - c[0]) <= s[0] / 2) & (np.abs(Y - c[1]) <= s[1] / 2)
    return OccupancyGrid(occ, np.ones(shape, bool), (0.0, 0.0), res, 0.05, 1.8)


def test_footprint_distances_match_geometry():
    fp = obstacle_footprints(
        _mesh([((1, 1, 0.5), (0.4, 0.2, 1.0), 0.0), ((3, 1, 0.5), (0.4, 0.4, 1.0), np.pi / 4)]), 0.05, 1.8
    )
    assert len(fp.polygons) == 2
    d = fp.distance([(1.5, 1.0), (1.0, 1.0), (1.5, 1.5), (3.5, 1.0), (9.0, 9.0)], cap_m=1.0)
    assert d == pytest.approx([0.3, 0.0, np.hypot(0.3, 0.4), 0.5 - 0.2 * np.sqrt(2), 1.0], abs=1e-6)


def test_footprints_clip_to_the_band():
    boxes = [
        ((1, 1, 0.015), (1, 1, 0.03), 0.0),  # a rug below the band
        ((2, 1, 2.2), (0.2, 0.2, 0.6), 0.0),  # a shelf above it
        ((3, 1, 1.5), (0.2, 0.2, 1.0), 0.0),
    ]  # a cabinet reaching into it from above
    fp = obstacle_footprints(_mesh(boxes), 0.05, 1.8)
    assert len(fp.polygons) == 1
    assert fp.distance([(3.0, 1.0)])[0] == 0.0
    with pytest.raises(InputError, match="face_part"):
        m = _mesh(boxes)
        m.face_part = None
        obstacle_footprints(m, 0.05, 1.8)
    with pytest.raises(InputError, match="z_max_m > z_min_m"):
        obstacle_footprints(_mesh(boxes), 1.8, 0.05)
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        fp.distance(np.zeros((4, 3)))


def test_exact_clearance_closes_a_gap_the_raster_opens():
    # A wall across the room with a 0.46 m gap: the robot needs 2 * (0.2 + 0.05) = 0.5 m.
    # Cell centres fall 4.5 cm inside either edge, so the raster's gap measures 0.55 m.
    boxes = [((0.885, 1.5, 0.9), (1.77, 0.1, 1.8), 0.0), ((3.115, 1.5, 0.9), (1.77, 0.1, 1.8), 0.0)]
    occ, cfg = _raster(boxes), CostmapConfig()
    a, b = (2.0, 0.6), (2.0, 2.4)
    assert plan_on_costmap(gt_costmap(occ, cfg), a, b).length_m > 1.7
    with pytest.raises(NoPathError):
        plan_on_costmap(gt_costmap(occ, cfg, obstacle_footprints(_mesh(boxes), occ.z_min_m, occ.z_max_m)), a, b)
    # Widen the gap to 0.56 m and both agree that the robot passes.
    wide = [((0.855, 1.5, 0.9), (1.71, 0.1, 1.8), 0.0), ((3.145, 1.5, 0.9), (1.71, 0.1, 1.8), 0.0)]
    occ = _raster(wide)
    plan_on_costmap(gt_costmap(occ, cfg, obstacle_footprints(_mesh(wide), occ.z_min_m, occ.z_max_m)), a, b)


def test_collisions_against_exact_outlines():
    boxes = [((2.0, 1.5, 0.5), (0.4, 0.4, 1.0), 0.0)]
    occ = _raster(boxes)
    fp = obstacle_footprints(_mesh(boxes), occ.z_min_m, occ.z_max_m)
    near = np.array([[1.0, 1.5 + 0.2 + 0.19], [3.0, 1.5 + 0.2 + 0.19]])
    far = near + [0.0, 0.03]
    assert collides(near, occ, 0.2, footprints=fp)
    assert not collides(far, occ, 0.2, footprints=fp)
    # Leaving the grid is a collision either way.
    assert collides(np.array([[1.0, 0.5], [-1.0, 0.5]]), occ, 0.2, footprints=fp)


def test_evaluate_navigation_reports_the_clearance_it_used():
    from real3d.mapping.grid2d import Grid2D
    from real3d.nav import costmap_from_grid
    from real3d.nav.evaluate import evaluate_navigation

    boxes = [((2.0, 1.5, 0.5), (0.4, 0.4, 1.0), 0.0)]
    occ = _raster(boxes)
    grid = Grid2D(occ.occupied.copy(), ~occ.occupied, (0.0, 0.0), 0.05, 0.1, 1.5)
    cm = costmap_from_grid(grid, CostmapConfig())
    exact = evaluate_navigation(cm, occ, n_pairs=6, seed=0, mesh=_mesh(boxes))
    assert exact.clearance == "outlines" and exact.n_pairs == 6
    assert exact.success_rate == 1.0 and exact.collision_rate == 0.0
    assert evaluate_navigation(cm, occ, n_pairs=6, seed=0).clearance == "raster"
