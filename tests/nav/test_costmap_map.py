"""Costmaps built from a fused map: thin obstacles, flying pixels, traversed space."""

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.nav import CostmapConfig, build_costmap
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(320, 240, 1.0)
FLOOR, OBJ = NYU13.index("floor"), NYU13.index("objects")


def _pole_frames(n=12):
    # A 2.4 cm pole, 1.2 m tall, half a voxel wide: a lamp stand.
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((0.01, 0.01, 0.6), (0.024, 0.024, 1.2), 0.0, OBJ)])
    r = ToyRenderer(scene)
    return [
        r.render(K, look_at((1.6 * np.cos(a), 1.6 * np.sin(a), 0.6), (0, 0, 0.6)), index=i)
        for i, a in enumerate(np.linspace(-0.6, 0.6, n))
    ]


def _sensor_like(frames, seed=0):
    """Depth as a sensor gives it at a thin pole: the pixels on either side of every depth
    edge read a random depth between foreground and background (flying pixels), and 3 % of
    all pixels are isolated wrong readings."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        d = f.depth_m.copy()
        near, far = np.minimum(d[:, :-1], d[:, 1:]), np.maximum(d[:, :-1], d[:, 1:])
        edge = np.zeros(d.shape, bool)
        edge[:, :-1] |= far > 1.2 * near
        edge[:, 1:] |= far > 1.2 * near
        lo = np.zeros_like(d)
        hi = np.zeros_like(d)
        lo[:, :-1], hi[:, :-1] = near, far
        lo[:, 1:] = np.where(edge[:, 1:], near, lo[:, 1:])
        hi[:, 1:] = np.where(edge[:, 1:], far, hi[:, 1:])
        d[edge] = rng.uniform(lo[edge], hi[edge]).astype(np.float32)
        pick = rng.random(d.shape) < 0.03
        d[pick] *= rng.uniform(0.3, 0.9, pick.sum()).astype(np.float32)
        out.append(f.replace(depth_m=d))
    return out


def _pole_cell_occupied(frames):
    """(an obstacle within 20 cm of the pole, every obstacle within 20 cm of it): a one-sided
    TSDF view thickens obstacles behind their surface by up to a truncation distance."""
    m = SemanticMap()
    for f in frames:
        m.integrate(f)
    cm = build_costmap(m, CostmapConfig())
    rc = cm.world_to_cell(np.array([[0.01, 0.01]]))[0]
    occ = np.argwhere(cm.grid.occupied)
    near = np.abs(occ - rc).max(axis=1) <= 4
    return bool(near.any()), bool(near.all())


def test_a_pole_thinner_than_a_voxel_is_an_obstacle_among_flying_pixels():
    found, only_there = _pole_cell_occupied(_sensor_like(_pole_frames()))
    # The pole is an obstacle, and no flying pixel on the open floor makes one.
    assert found and only_there


def test_cells_a_camera_passed_over_are_free():
    frames = _pole_frames(3)
    m = SemanticMap()
    for f in frames:
        m.integrate(f)
    for radius, expect in ((0.0, False), (0.2, True)):
        cm = build_costmap(m, CostmapConfig(traversed_radius_m=radius), bounds_xy=(-2.5, -2.5, 2.5, 2.5))
        cam = m.camera_positions[0, :2]
        rc = cm.world_to_cell(cam[None])[0]
        assert bool(cm.grid.free[rc[0], rc[1]]) == expect


def test_a_bed_seen_only_at_a_grazing_angle_is_never_free():
    # A 0.48 m high bed between the camera and a wall; the camera, 4 cm above the bed top,
    # looks across it, so rays skim the mattress and the top itself is barely measured.
    bed = NYU13.index("bed")
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1),
            ((0, 2.5, 1.2), (6, 0.1, 2.4), 0.0, NYU13.index("wall"), 2),
            ((0, 0.8, 0.24), (1.6, 2.0, 0.48), 0.0, bed, 3),
        ]
    )
    r = ToyRenderer(scene)
    frames = [
        r.render(K, look_at((x, -1.2, 0.52), (x, 2.5, 0.52)), index=i) for i, x in enumerate(np.linspace(-0.3, 0.3, 6))
    ]
    m = SemanticMap(pixel_stride=1)
    for f in frames:
        m.integrate(f)
    # The column rule is off: the camera never sees above 0.8 m within a metre of itself,
    # so with it the floor in front would stay unknown too (see the table-top test below).
    xs, ys = np.meshgrid(np.linspace(-0.6, 0.6, 7), np.linspace(0.1, 1.6, 7))
    front = np.array([[0.0, -0.6]])
    for low in (0.25, CostmapConfig().free_low_m):
        cm = build_costmap(
            m, CostmapConfig(z_max_m=1.5, traversed_radius_m=0.0, free_column_top_m=None, free_low_m=low)
        )
        rc = cm.world_to_cell(np.stack([xs.ravel(), ys.ravel()], axis=1))
        # Over the bed: occupied or unknown, never free.
        assert not cm.grid.free[rc[:, 0], rc[:, 1]].any()
        # The floor in front of it: the camera never sees it (it looks level from 0.52 m),
        # but rays towards the bed pass 0.3-0.5 m over it. Free space that low frees it
        # when coarse cells starting up to 0.25 m above the band's 5 cm bottom count; by
        # default (up to 0.1 m) it stays unknown: only space seen within 0.2 m of the
        # floor counts.
        f = cm.world_to_cell(front)[0]
        assert cm.grid.free[f[0], f[1]] == (low >= 0.25)
    with pytest.raises(InputError):
        build_costmap(m, CostmapConfig(free_low_m=-0.1))


def test_flying_pixels_at_a_far_edge_make_no_phantom_obstacle():
    # A wall panel 3 m away whose edge stands in front of a wall 4 m away; the sensor puts
    # two columns of flying pixels (3.4 and 3.7 m, the same down the column, so they agree
    # with their vertical neighbours) beside the edge, as a camera sliding sideways keeps
    # seeing them. They must not become a surface between the two walls.
    wall = NYU13.index("wall")
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (10, 10, 0.1), 0.0, FLOOR, 1),
            ((-1.0, 3.05, 1.0), (2.0, 0.1, 2.0), 0.0, wall, 2),
            ((0, 4.05, 1.0), (6.0, 0.1, 2.0), 0.0, wall, 3),
        ]
    )
    r = ToyRenderer(scene)
    frames = []
    for i, x in enumerate(np.linspace(0.3, 0.7, 10)):
        f = r.render(K, look_at((x, 0.0, 0.8), (x, 4.0, 0.8)), index=i)
        d = f.depth_m.copy()
        jump = (d[:, 1:] > 1.2 * d[:, :-1]) & (d[:, :-1] > 0)
        for v, u in zip(*np.nonzero(jump)):
            near, far = d[v, u], d[v, u + 1]
            d[v, u + 1] = near + 0.4 * (far - near)
            if u + 2 < d.shape[1]:
                d[v, u + 2] = near + 0.7 * (far - near)
        frames.append(f.replace(depth_m=d))

    def phantom(cfg):
        m = SemanticMap(cfg)
        for f in frames:
            m.integrate(f)
        cm = build_costmap(m, CostmapConfig(z_min_m=0.1, z_max_m=1.5))
        # the flying pixels' rays pass just beside the edge (x = 0) and reach 3.4-3.7 m there
        xs, ys = np.meshgrid(np.linspace(-0.2, 0.3, 11), np.linspace(3.3, 3.8, 11))
        rc = cm.world_to_cell(np.stack([xs.ravel(), ys.ravel()], axis=1))
        return int(cm.grid.occupied[rc[:, 0], rc[:, 1]].sum())

    from real3d.mapping.semantic_map import SemanticMapConfig

    assert phantom(SemanticMapConfig(pixel_stride=2)) == 0
    assert phantom(SemanticMapConfig(pixel_stride=2, geometry_edge_jump=0.0)) > 0  # what the rule removes


def test_obstacle_distances_use_measured_points_within_cells():
    # A wall face at x = 1.04 m: its surface voxels lie in the cell [1.0, 1.05), whose centre
    # is 1.5 cm in front of the face; the measured points are on it.
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((1.14, 0.0, 0.75), (0.2, 3.0, 1.5), 0.0, OBJ)])
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, y in enumerate(np.linspace(-0.4, 0.4, 6)):
        m.integrate(r.render(K, look_at((-0.8, y, 0.8), (1.0, y, 0.5)), index=i))
    cm = build_costmap(m, CostmapConfig())
    assert cm.grid.obstacle_xy is not None and len(cm.grid.obstacle_xy)
    rc = cm.world_to_cell(cm.grid.obstacle_xy)
    assert cm.grid.occupied[rc[:, 0], rc[:, 1]].all()
    row = cm.world_to_cell([(0.0, 0.0)])[0, 0]
    cols = np.arange(cm.world_to_cell([(0.45, 0.0)])[0, 1], cm.world_to_cell([(0.95, 0.0)])[0, 1] + 1)
    x = cm.grid.cell_to_world(np.stack([np.full_like(cols, row), cols], 1))[:, 0]
    assert not cm.grid.occupied[row, cols].any()
    true = 1.04 - x
    centre_to_centre = ndimage.distance_transform_edt(~cm.grid.occupied)[row, cols] * cm.resolution_m
    assert np.abs(centre_to_centre - true).max() > 0.012
    assert np.abs(cm.obstacle_distance_m[row, cols] - true).max() < 0.006


def test_projection_without_obstacle_points_gives_the_same_cells():
    # The scene graph's free-space projection skips the sub-cell obstacle points; the cells
    # must not depend on whether they are collected.
    from real3d.mapping.grid2d import project_map_2d

    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((1.14, 0.0, 0.75), (0.2, 3.0, 1.5), 0.0, OBJ)])
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, y in enumerate(np.linspace(-0.4, 0.4, 4)):
        m.integrate(r.render(K, look_at((-0.8, y, 0.8), (1.0, y, 0.5)), index=i))
    with_pts = project_map_2d(m)
    without = project_map_2d(m, obstacle_points=False)
    assert with_pts.obstacle_xy is not None and len(with_pts.obstacle_xy) > 0
    assert without.obstacle_xy is None
    assert with_pts.occupied.any()
    np.testing.assert_array_equal(with_pts.occupied, without.occupied)
    np.testing.assert_array_equal(with_pts.free, without.free)


def test_projection_config_and_the_keyword_form_give_one_grid():
    import pytest

    from real3d.mapping.grid2d import ProjectionConfig, project_map_2d

    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((1.14, 0.0, 0.75), (0.2, 3.0, 1.5), 0.0, OBJ)])
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, y in enumerate(np.linspace(-0.4, 0.4, 4)):
        m.integrate(r.render(K, look_at((-0.8, y, 0.8), (1.0, y, 0.5)), index=i))
    cc = CostmapConfig(traversed_radius_m=0.3)
    pc = cc.projection(floor_z_m=0.02)
    assert pc == ProjectionConfig(
        resolution_m=0.05,
        z_min_m=0.07,
        z_max_m=1.52,
        traversed_radius_m=0.3,
        free_low_m=0.1,
        free_column_top_m=1.02,
        free_column_gap_m=0.2,
    )
    a = project_map_2d(m, pc)
    b = project_map_2d(m, 0.05, 0.07, 1.52, traversed_radius_m=0.3, free_low_m=0.1, free_column_top_m=1.02)
    c = build_costmap(m, cc, floor_z_m=0.02).grid
    assert a.occupied.any() and a.free.any()
    for g in (b, c):
        np.testing.assert_array_equal(a.occupied, g.occupied)
        np.testing.assert_array_equal(a.free, g.free)
        np.testing.assert_array_equal(a.obstacle_xy, g.obstacle_xy)
    bounds = (-1.0, -1.0, 2.0, 1.0)
    np.testing.assert_array_equal(
        project_map_2d(m, pc, bounds_xy=bounds).occupied,
        project_map_2d(
            m, 0.05, 0.07, 1.52, 3.0, bounds, traversed_radius_m=0.3, free_low_m=0.1, free_column_top_m=1.02
        ).occupied,
    )
    with pytest.raises(InputError, match="not both"):
        project_map_2d(m, pc, free_low_m=0.3)
    with pytest.raises(InputError, match="unknown setting"):
        project_map_2d(m, resolution=0.05)


def test_free_column_rule_keeps_the_space_under_an_unseen_table_top_out():
    # A table top (0.70-0.75 m) on a floor, a wall 3.5 m away. A camera 0.3 m high, tilted
    # down, sees the floor under the top and never the top itself; a second camera beside
    # the table looks away from it, over the open floor in front of the wall.
    top = ((1.0, 0.0, 0.725), (0.8, 1.2, 0.05), 0.0, OBJ)
    scene = boxes_scene(
        [((0, 0, -0.05), (10, 10, 0.1), 0.0, FLOOR), top, ((3.5, 0.0, 1.25), (0.2, 8.0, 2.5), 0.0, NYU13.index("wall"))]
    )
    r = ToyRenderer(scene)
    frames = [
        r.render(K, look_at((0.0, y, 0.3), (2.0, y, -0.3)), index=i) for i, y in enumerate(np.linspace(-0.3, 0.3, 5))
    ]
    frames += [
        r.render(K, look_at((1.8, y, 0.3), (3.4, y - 2.5, 0.9)), index=5 + i)
        for i, y in enumerate(np.linspace(1.8, 2.2, 3))
    ]
    assert not any((f.labels == OBJ).any() for f in frames)  # the top, the only "objects" part, is never seen
    m = SemanticMap(pixel_stride=2)
    for f in frames:
        m.integrate(f)
    under = [(1.0, 0.0), (1.2, 0.3), (0.8, -0.3)]
    beyond = [(2.4, 0.0), (2.6, 0.4)]  # in front of the wall, past the table, nothing above
    plain = build_costmap(m, CostmapConfig(traversed_radius_m=0.0, free_column_top_m=None))
    strict = build_costmap(m, CostmapConfig(traversed_radius_m=0.0, free_column_top_m=1.0))
    rc_u, rc_b = plain.world_to_cell(under), plain.world_to_cell(beyond)
    assert plain.grid.free[rc_u[:, 0], rc_u[:, 1]].all()  # floor seen under the top
    assert not strict.grid.free[rc_u[:, 0], rc_u[:, 1]].any()  # but nothing above it
    assert not strict.grid.occupied[rc_u[:, 0], rc_u[:, 1]].any()  # unknown, not invented
    assert strict.grid.free[rc_b[:, 0], rc_b[:, 1]].all()  # columns seen whole stay free
    assert (strict.grid.free <= plain.grid.free).all()


def test_free_column_parameters_are_checked():
    import pytest

    from real3d.core.errors import InputError
    from real3d.mapping.grid2d import project_map_2d

    m = SemanticMap()
    with pytest.raises(InputError):
        project_map_2d(m, free_column_top_m=1.0, free_column_gap_m=-0.1)
    with pytest.raises(InputError):
        project_map_2d(m, z_min_m=0.1, free_column_top_m=0.05)


def test_object_layer_takes_scene_graph_boxes_in_the_band():
    from real3d.scene import SceneGraph
    from real3d.scene.boxes import Box3D

    scene = boxes_scene(
        [
            ((0, 0, -0.05), (6, 6, 0.1), 0.0, FLOOR, 1),
            ((0, 1.5, 0.4), (0.5, 0.5, 0.8), 0.0, NYU13.index("furniture"), 2),
        ]
    )
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, x in enumerate(np.linspace(-0.5, 0.5, 5)):
        m.integrate(r.render(K, look_at((x, -1.0, 1.0), (0.0, 1.5, 0.3)), index=i))
    g = SceneGraph()
    g.update(m)
    assert g.objects()
    cfg = CostmapConfig(free_column_top_m=None)
    plain = build_costmap(m, cfg)
    layered = build_costmap(m, cfg, objects=g.objects() + g.structures())
    assert (layered.cost >= plain.cost).all() and (layered.cost > plain.cost).any()
    # Boxes out of the band (a shelf above 1.5 m) add nothing; object_layer=False ignores them.
    high = Box3D(np.array([0.0, 0.0, 2.2]), np.array([0.5, 0.5, 0.2]), 0.0)
    tall = replace(cfg, z_max_m=2.5)
    assert not np.array_equal(build_costmap(m, tall, objects=[high]).cost, build_costmap(m, tall).cost)
    assert np.array_equal(build_costmap(m, cfg, objects=[high]).cost, plain.cost)
    off = build_costmap(m, replace(cfg, object_layer=False), objects=g.objects())
    assert np.array_equal(off.cost, plain.cost)
    with pytest.raises(InputError):
        build_costmap(m, cfg, objects=["a box"])


def test_obstacle_points_stay_on_the_seen_face_of_a_board_seen_from_one_side():
    # A 2 cm board with its face at x = 1.0 m, seen from the front only: the TSDF's band
    # makes the cells up to a truncation behind the face occupied (space nobody saw), but
    # obstacle distances are measured from the face, where the camera showed the board.
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((1.01, 0.0, 0.5), (0.02, 1.2, 1.0), 0.0, OBJ)])
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, y in enumerate(np.linspace(-0.3, 0.3, 6)):
        m.integrate(r.render(K, look_at((-0.6, y, 0.9), (1.0, y, 0.4)), index=i))
    cm = build_costmap(m, CostmapConfig())
    occ = cm.grid.cell_to_world(np.argwhere(cm.grid.occupied))
    occ_x = occ[np.abs(occ[:, 1]) < 0.5, 0]  # away from the board's ends
    assert occ_x.max() > 1.1  # the band behind the face is occupied
    assert (occ_x < 1.05).any()
    pts, behind = cm.grid.obstacle_xy, cm.grid.behind_xy
    assert pts is not None and len(pts) and behind is not None and len(behind)
    assert pts[:, 0].min() > 0.97
    assert pts[np.abs(pts[:, 1]) < 0.5, 0].max() < 1.04
    # Past its ends, where the floor behind it shows, the band's averages cross zero a
    # voxel behind the face: no deeper than that.
    assert pts[:, 0].max() < 1.09
    assert behind[:, 0].min() > 1.04 and behind[:, 0].max() > 1.1
    # Cells just behind the band: dear, not lethal, as far as the face allows.
    rc = cm.world_to_cell([(1.3, 0.0)])[0]
    assert cm.obstacle_distance_m[rc[0], rc[1]] < 0.2
    # The face is surface, the band behind it is not.
    arr = m.voxel_arrays()
    c = (arr["coords"] + 0.5) * m.voxel_size_m
    mid = (np.abs(c[:, 1]) < 0.2) & (c[:, 2] > 0.2) & (c[:, 2] < 0.8) & (arr["weight"] >= 3)
    face = np.flatnonzero(mid & (np.abs(c[:, 0] - 1.025) < 0.01))
    deep = np.flatnonzero(mid & (np.abs(c[:, 0] - 1.125) < 0.01))
    assert len(face) and len(deep)
    assert m.zero_crossing(face).mean() > 0.9
    assert not m.zero_crossing(deep).any()
