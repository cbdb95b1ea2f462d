"""The viewer's arrays (real3d.viz.scene_entities), checked without rerun."""

import numpy as np
import pytest

from real3d.core import NYU13, InputError
from real3d.mapping import SemanticMap
from real3d.mapping.grid2d import Grid2D
from real3d.nav.costmap import Costmap, CostmapConfig
from real3d.scene.boxes import Box3D
from real3d.scene.graph import SceneGraph
from real3d.scene.nodes import Edge, SceneNode
from real3d.testing.toyscene import toy_sequence
from real3d.viz import scene_entities as se


def _rz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _node(i, kind, label, box=None, centroid=(0, 0, 0)):
    name = "room" if kind == "room" else NYU13.names[label]
    return SceneNode(i, kind, label, name, 1.0, np.asarray(centroid, float), box, 1, 1)


@pytest.fixture
def graph():
    g = SceneGraph()
    chair = Box3D(np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 1.0]), np.pi / 2)
    table = Box3D(np.array([1.0, 2.0, 0.2]), np.array([1.0, 1.0, 0.4]), 0.0)
    wall = Box3D(np.array([0.0, 5.0, 1.3]), np.array([6.0, 0.1, 2.6]), 0.0)
    g.nodes = {
        7: _node(7, "object", NYU13.index("chair"), chair, centroid=(1.1, 2.1, 0.6)),
        3: _node(3, "object", NYU13.index("table"), table, centroid=(0.9, 1.9, 0.3)),
        9: _node(9, "structure", NYU13.index("wall"), wall),
        20: _node(20, "room", 0, None, centroid=(2.0, 3.0, 0.0)),
    }
    g.edges = [Edge(7, "on", 3), Edge(7, "in", 20), Edge(3, "next_to", 99), Edge(3, "in", 20)]
    return g


# ---------------------------------------------------------------------------- camera
def test_camera_pose_is_the_map_transform_times_the_input_pose():
    map_T_input = np.eye(4)
    map_T_input[:3, :3] = _rz(np.pi / 2)
    map_T_input[:3, 3] = [0, 0, 0.5]
    input_T_cam = np.eye(4)
    input_T_cam[:3, 3] = [1.0, 0, 0]
    pose = se.camera_pose(map_T_input, input_T_cam)
    np.testing.assert_allclose(pose[:3, 3], [0, 1, 0.5], atol=1e-12)  # +x turned onto +y, lifted
    assert se.camera_pose(None, input_T_cam) is None
    assert se.camera_pose(map_T_input, None) is None
    with pytest.raises(InputError, match=r"\(4, 4\)"):
        se.camera_pose(np.eye(3), input_T_cam)


def test_trajectory_strip_lifts_2d_and_thins_keeping_both_ends():
    xy = np.column_stack([np.arange(10.0), np.zeros(10)])
    strip = se.trajectory_strip(xy)
    assert strip.shape == (10, 3) and (strip[:, 2] == 0).all()
    traj = [np.array([i, 0.0, 1.0]) for i in range(100)]
    thin = se.trajectory_strip(traj, max_points=7)
    assert len(thin) == 7
    np.testing.assert_array_equal(thin[0], traj[0])
    np.testing.assert_array_equal(thin[-1], traj[-1])
    assert (np.diff(thin[:, 0]) > 0).all()
    assert se.trajectory_strip([]).shape == (0, 3)
    with pytest.raises(InputError):
        se.trajectory_strip(np.zeros((4, 5)))


# ---------------------------------------------------------------------------- boxes
def test_boxes_of_objects_in_id_order_with_hand_computed_corners(graph):
    b = se.box_entities(graph, "object")
    assert b.node_ids.tolist() == [3, 7]  # id order; the room and the wall are not objects
    assert b.labels == ["table 3", "chair 7"]
    assert b.class_ids.tolist() == [NYU13.index("table"), NYU13.index("chair")]
    np.testing.assert_allclose(b.half_sizes[1], [1.0, 0.5, 0.5])
    # The chair: 2 x 1 m turned by 90 degrees about +z around (1, 2): it spans x 0.5..1.5, y 1..3.
    corners = b.corners()[1]
    expected = {(x, y, z) for x in (0.5, 1.5) for y in (1.0, 3.0) for z in (0.0, 1.0)}
    assert {tuple(np.round(c, 9)) for c in corners} == expected
    # Its own (-x, -y) corner first, counter-clockwise: (-1, -0.5) turned by 90 degrees is (0.5, -1).
    np.testing.assert_allclose(corners[0], [1.5, 1.0, 0.0], atol=1e-12)
    # The bottom ring is the box's footprint (scene.boxes), the top ring the same one box-height up.
    chair_box = graph.nodes[7].box
    np.testing.assert_allclose(corners[:4, :2], chair_box.footprint(), atol=1e-12)
    np.testing.assert_allclose(corners[4:, :2], corners[:4, :2])
    np.testing.assert_allclose(corners[4:, 2] - corners[:4, 2], 1.0)


def test_box_quaternions_turn_x_onto_the_yaw_direction(graph):
    b = se.box_entities(graph)
    assert b.node_ids.tolist() == [3, 7, 9]  # objects and structure, no room
    for (x, y, z, w), yaw in zip(b.quaternions_xyzw, b.yaw_rad):
        assert abs(np.linalg.norm([x, y, z, w]) - 1) < 1e-12
        # rotation of (1, 0, 0) by the quaternion (x, y, z, w)
        R = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        np.testing.assert_allclose(R, _rz(yaw), atol=1e-12)


def test_box_kinds_are_checked_and_an_empty_graph_gives_empty_arrays(graph):
    with pytest.raises(InputError, match="object, structure"):
        se.box_entities(graph, "room")
    b = se.box_entities(SceneGraph())
    assert len(b) == 0 and b.centers.shape == (0, 3) and b.quaternions_xyzw.shape == (0, 4)
    assert b.corners().shape == (0, 8, 3)


# ---------------------------------------------------------------------------- relations
def test_relations_join_box_centres_and_room_centroids(graph):
    r = se.relation_segments(graph)
    # The edge to the missing node 99 is left out; the rest keep the graph's order.
    assert r.predicates == ["on", "in", "in"]
    assert r.subject_ids.tolist() == [7, 7, 3] and r.object_ids.tolist() == [3, 20, 20]
    np.testing.assert_allclose(r.segments[0], [[1.0, 2.0, 0.5], [1.0, 2.0, 0.2]])  # box centres, not centroids
    np.testing.assert_allclose(r.segments[1], [[1.0, 2.0, 0.5], [2.0, 3.0, 0.0]])  # the room's centroid
    np.testing.assert_allclose(r.segments[2, 0], [1.0, 2.0, 0.2])
    assert r.labels[0] == "chair 7 on table 3"
    assert r.colors[0].tolist() == list(se.RELATION_COLORS["on"])
    assert r.colors[1].tolist() == list(se.RELATION_COLORS["in"])
    on = se.relation_segments(graph, predicates=("on",))
    assert len(on) == 1 and on.segments.shape == (1, 2, 3)
    assert se.relation_segments(SceneGraph()).segments.shape == (0, 2, 3)


# ---------------------------------------------------------------------------- costmap
def _costmap():
    # 3 rows (y) x 4 columns (x) of 0.5 m from (10, -2); floor at z = 0.3.
    cfg = CostmapConfig()
    occupied = np.zeros((3, 4), bool)
    occupied[0, 3] = True  # lowest y, largest x
    free = ~occupied
    free[2, 0] = False  # highest y, smallest x: unknown
    grid = Grid2D(occupied, free, (10.0, -2.0), 0.5, 0.3 + cfg.z_min_m, 0.3 + cfg.z_max_m)
    cost = np.ones((3, 4), np.float32)
    cost[occupied] = np.inf
    cost[2, 0] = np.inf
    return Costmap(cost, grid, np.zeros((3, 4), np.float32), cfg)


def test_costmap_image_is_north_up_with_its_origin_at_the_lower_left():
    cm = _costmap()
    img = se.costmap_image(cm)
    assert img.rgb.shape == (3, 4, 3) and img.rgb.dtype == np.uint8
    assert img.origin_xy == (10.0, -2.0) and img.resolution_m == 0.5
    assert img.floor_z_m == pytest.approx(0.3)
    # Cell (row 0, col 3) is the lowest y: the bottom row of the picture, last column.
    assert img.rgb[2, 3].tolist() == [130, 20, 20]  # occupied
    assert img.rgb[0, 0].tolist() == [160, 160, 160]  # cell (2, 0), unknown, at the top-left
    assert img.rgb[1, 1].tolist() == [255, 255, 255]  # free
    # Pixel centres map back onto the cell centres the costmap has.
    np.testing.assert_allclose(img.pixel_to_xy([[3, 2], [0, 0]]), cm.grid.cell_to_world([[0, 3], [2, 0]]))
    np.testing.assert_allclose(img.pixel_to_xy([[3, 2]]), [[11.75, -1.75]])


def test_costmap_quad_lies_on_the_floor_faces_up_and_its_texture_is_not_mirrored():
    img = se.costmap_image(_costmap())
    verts, tris, uv = img.quad()
    np.testing.assert_allclose(verts[:, 2], 0.3)
    for t in tris:
        a, b, c = verts[t]
        assert np.cross(b - a, c - a)[2] > 0  # counter-clockwise from above: facing +z
    # A texture coordinate (u, v) must sit where the picture's pixel at that fraction lies.
    h, w = img.shape
    for (u, v), p in zip(uv, verts):
        expected = img.pixel_to_xy([[u * w - 0.5, v * h - 0.5]])[0]
        np.testing.assert_allclose(p[:2], expected)
    # Both triangles together cover the rectangle (10..12, -2..-0.5).
    area = sum(0.5 * abs(np.cross(verts[b] - verts[a], verts[c] - verts[a])[2]) for a, b, c in tris)
    assert area == pytest.approx(2.0 * 1.5)


# ---------------------------------------------------------------------------- path
def test_path_strip_lies_on_the_given_plane():
    strip = se.path_strip([[0, 0], [1, 2], [3, 2]], z_m=0.25)
    np.testing.assert_allclose(strip, [[0, 0, 0.25], [1, 2, 0.25], [3, 2, 0.25]])
    assert se.path_strip(None).shape == (0, 3) and se.path_strip([]).shape == (0, 3)
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        se.path_strip([[0, 0, 0]])


# ---------------------------------------------------------------------------- map
@pytest.fixture(scope="module")
def toy_map():
    toy = toy_sequence(seed=0, n_frames=4, size=(48, 64))
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for f in toy.frames:
        m.integrate(f)
    return m


def test_map_points_leave_void_out_and_carry_class_colours(toy_map):
    sp = toy_map.semantic_points()
    labelled = sp.labels > 0
    mp = se.map_points(toy_map)
    assert mp.total == int(labelled.sum()) == len(mp.points) > 100
    assert (mp.class_ids > 0).all() and mp.class_ids.dtype == np.uint16 and mp.points.dtype == np.float32
    np.testing.assert_allclose(mp.points, sp.points[labelled], atol=1e-6)
    np.testing.assert_array_equal(mp.colors, NYU13.colorize(sp.labels[labelled]))
    assert mp.radius_m == pytest.approx(0.025)
    few = se.map_points(toy_map, max_points=50)
    assert 25 <= len(few.points) <= 50 and few.total == mp.total
    np.testing.assert_allclose(few.points[0], mp.points[0])


def test_products_in_use_do_not_refresh_the_graph():
    from real3d.pipeline import Pipeline, PipelineConfig

    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None, graph_every=0, costmap_every=0))
    for f in toy_sequence(seed=0, n_frames=3, size=(48, 64)).frames:
        assert pipe.step(f).status == "fused"
    graph, costmap = se.products_in_use(pipe)
    assert costmap is None and not graph.nodes  # nothing refreshed periodically yet
    assert pipe.refreshed_at == {"graph": -1, "costmap": -1}  # and asking did not refresh them
    assert pipe.scene_graph.objects()  # what the property would have rebuilt
