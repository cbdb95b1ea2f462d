"""IncrementalCostmap and IncrementalGrid: after every partial update the result equals a
whole-map rebuild of the same map, cell for cell."""

from dataclasses import replace

import numpy as np
import pytest

from real3d.core import NYU13, InputError
from real3d.mapping import SemanticMap
from real3d.mapping.grid2d import IncrementalGrid, ProjectionConfig, project_map_2d
from real3d.nav.costmap import CostmapConfig, IncrementalCostmap, build_costmap
from real3d.scene.boxes import Box3D
from real3d.testing.toyscene import toy_sequence

GRID_FIELDS = ("occupied", "free", "top_z_m", "bottom_z_m", "obstacle_xy", "behind_xy")


@pytest.fixture(scope="module")
def frames():
    return toy_sequence(0, n_frames=24, size=(60, 80), depth_noise_m=0.005).frames


def _same_grid(a, b) -> None:
    assert a.shape == b.shape and a.origin_xy == b.origin_xy
    for k in GRID_FIELDS:
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True), k


def _same_costmap(a, b) -> None:
    _same_grid(a.grid, b.grid)
    assert np.array_equal(a.cost, b.cost)
    assert np.array_equal(a.obstacle_distance_m, b.obstacle_distance_m)
    assert a.cropped_from_xy == b.cropped_from_xy


def test_incremental_costmap_equals_a_rebuild_after_every_partial_update(frames):
    m = SemanticMap(pixel_stride=2)
    inc = IncrementalCostmap(CostmapConfig())
    box = Box3D(np.array([0.5, 0.5, 0.4]), np.array([0.4, 0.3, 0.8]), 0.3)
    partial = []
    for i, f in enumerate(frames):
        m.integrate(f)
        if i % 3 == 2:
            # The floor estimate moves a few millimetres between refreshes, as the graph's does.
            floor = 0.002 + 0.004 * (i % 2)
            a = inc.update(m, floor_z_m=floor, objects=[box])
            _same_costmap(a, build_costmap(m, CostmapConfig(), floor_z_m=floor, objects=[box]))
            partial.append((inc.last_full, inc.last_cells, a.cost.size))
    # Some updates recomputed only part of the grid (the test exercised the partial path).
    assert any(not full and cells < size for full, cells, size in partial)


def test_voxels_that_vanish_or_change_class_are_recomputed(frames):
    m = SemanticMap(pixel_stride=2)
    for f in frames[:12]:
        m.integrate(f)
    inc = IncrementalCostmap(CostmapConfig())
    inc.update(m)
    arr = m.voxel_arrays()  # views of the map's storage
    occupied = np.flatnonzero((arr["weight"] > 3) & (arr["tsdf"] < 0))
    rng = np.random.default_rng(0)
    gone = rng.choice(occupied, len(occupied) // 4, replace=False)
    arr["tsdf"][gone] = 1.0  # carved free
    arr["hits"][gone] = 0.0
    relabel = rng.choice(occupied, len(occupied) // 4, replace=False)
    arr["log_evidence"][relabel] = -10.0
    arr["log_evidence"][relabel, NYU13.index("floor")] = 0.0  # now floor: never an obstacle
    arr["class_weight"][relabel] = np.maximum(arr["class_weight"][relabel], 1.0)
    a = inc.update(m)
    assert not inc.last_full
    b = build_costmap(m, CostmapConfig())
    _same_costmap(a, b)
    # The change is visible: the earlier costmap differs from the new one.
    for f in frames[12:]:
        m.integrate(f)
    _same_costmap(inc.update(m), build_costmap(m, CostmapConfig()))


def test_grid_grown_towards_plus_x_recomputes_the_new_cells_only(frames):
    m = SemanticMap(pixel_stride=2)
    for f in frames[:10]:
        m.integrate(f)
    cfg = ProjectionConfig(traversed_radius_m=0.2, free_column_top_m=1.0)
    inc = IncrementalGrid(cfg)
    first = project_map_2d(m, cfg)
    x0, y0 = first.origin_xy
    h, w = first.shape
    r = cfg.resolution_m
    bounds = (x0, y0, x0 + w * r - 1e-9, y0 + h * r - 1e-9)
    _same_grid(inc.update(m, bounds_xy=bounds), project_map_2d(m, cfg, bounds_xy=bounds))
    # The same origin, 12 more columns and 7 more rows at the far edges (blocks at the edge).
    wider = (x0, y0, bounds[2] + 12 * r, bounds[3] + 7 * r)
    for f in frames[10:13]:
        m.integrate(f)
    got = inc.update(m, bounds_xy=wider)
    assert not inc.last_full and got.shape == (h + 7, w + 12)
    _same_grid(got, project_map_2d(m, cfg, bounds_xy=wider))


def test_unchanged_map_recomputes_nothing_and_results_are_not_shared(frames):
    m = SemanticMap(pixel_stride=2)
    for f in frames[:6]:
        m.integrate(f)
    inc = IncrementalCostmap()
    a = inc.update(m)
    b = inc.update(m)
    assert inc.last_cells == 0 and not inc.last_full
    _same_costmap(a, b)
    b.grid.occupied[:] = True  # the caller's copy: the cache is untouched
    _same_costmap(inc.update(m), a)


def test_another_map_or_other_settings_rebuild_in_full(frames):
    m1, m2 = SemanticMap(pixel_stride=2), SemanticMap(pixel_stride=2)
    for f in frames[:6]:
        m1.integrate(f)
    for f in frames[12:18]:
        m2.integrate(f)
    grids = IncrementalGrid()
    grids.update(m1)
    _same_grid(grids.update(m2), project_map_2d(m2))
    assert grids.last_full
    other = replace(ProjectionConfig(), min_column_voxels=3)
    _same_grid(grids.update(m2, other), project_map_2d(m2, other))
    assert grids.last_full


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match="SemanticMap"):
        IncrementalCostmap().update("map.npz")
    with pytest.raises(InputError, match="CostmapConfig"):
        IncrementalCostmap(ProjectionConfig())
    with pytest.raises(InputError, match="ProjectionConfig"):
        IncrementalGrid().update(SemanticMap(), CostmapConfig())
    with pytest.raises(InputError, match="z_max_m > z_min_m"):
        IncrementalGrid(ProjectionConfig(z_min_m=1.0, z_max_m=0.5))


def test_grow_cells_is_a_square_dilation():
    from scipy import ndimage

    from real3d.mapping.grid2d import grow_cells

    rng = np.random.default_rng(1)
    for k in range(5):
        m = rng.random((23, 31)) < 0.02
        want = ndimage.binary_dilation(m, np.ones((3, 3), bool), iterations=k) if k else m
        assert np.array_equal(grow_cells(m, k), want)
    m = np.zeros((5, 5), bool)
    m[0, 0] = True
    assert grow_cells(m, 1).sum() == 4  # the grid's edge clips the square


def test_copies_of_the_growing_map_update_incrementally(frames):
    # A worker thread may refresh from a snapshot of the map instead of the map itself.
    import copy

    m = SemanticMap(pixel_stride=2)
    inc = IncrementalCostmap()
    partial = False
    for i, f in enumerate(frames[:18]):
        m.integrate(f)
        if i % 4 == 3:
            snap = copy.deepcopy(m)
            _same_costmap(inc.update(snap, floor_z_m=0.003), build_costmap(m, CostmapConfig(), floor_z_m=0.003))
            partial |= not inc.last_full
    assert partial
