import json

import numpy as np
import pytest

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.scene import SceneGraph, SceneGraphConfig, evaluate_graph
from real3d.testing.toyscene import ToyRenderer, boxes_scene, toy_sequence

K = Intrinsics.from_fov(160, 120, 1.0)
FLOOR, CHAIR, TABLE, OBJ = (NYU13.index(n) for n in ("floor", "chair", "table", "objects"))


def _fuse(scene, n_views, center=(0, 0, 0.3), radius=2.2, stride=2):
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=stride)
    views = [
        look_at((center[0] + radius * np.cos(a), center[1] + radius * np.sin(a), 1.4), center)
        for a in np.linspace(0, 2 * np.pi, n_views, endpoint=False)
    ]
    return m, [r.render(K, T, index=i) for i, T in enumerate(views)]


def test_separated_objects_stay_separate_and_one_object_stays_one_over_time():
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR),
            ((-0.6, 0, 0.45), (0.5, 0.5, 0.9), 0.3, CHAIR),
            ((0.6, 0, 0.45), (0.5, 0.5, 0.9), -0.2, CHAIR),  # same class, 0.7 m apart
            ((0.0, 1.2, 0.375), (1.2, 0.7, 0.75), 0.0, TABLE),
        ]
    )
    m, frames = _fuse(scene, 12)
    g = SceneGraph(SceneGraphConfig(refine_boxes=False))  # boxes of the seen surfaces, exactly
    ids_over_time = []
    for i, f in enumerate(frames):
        m.integrate(f)
        if i >= 3:
            assert g.update(m)
            ids_over_time.append(sorted((n.class_name, n.id) for n in g.objects()))
    assert not g.update(m)  # nothing changed: no work
    chairs = [n for n in g.objects() if n.label == CHAIR]
    tables = [n for n in g.objects() if n.label == TABLE]
    assert len(chairs) == 2 and len(tables) == 1
    assert {round(float(n.centroid[0])) for n in chairs} == {-1, 1}
    # Once every object is in view, ids stop changing.
    assert ids_over_time[-1] == ids_over_time[-4]
    # The table box: footprint and height within a few centimetres, reaching the floor.
    t = tables[0]
    assert np.allclose(sorted(t.box.size[:2]), [0.7, 1.2], atol=0.08)
    assert t.box.z_min == pytest.approx(0.0, abs=0.05) and t.box.z_max == pytest.approx(0.75, abs=0.05)
    assert t.n_observations >= 6


def test_support_relation_json_and_networkx():
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR),
            ((0, 0, 0.375), (1.2, 0.8, 0.75), 0.2, TABLE),
            ((0.1, 0.05, 0.875), (0.3, 0.25, 0.25), 0.2, OBJ),
        ]
    )
    m, frames = _fuse(scene, 10, center=(0, 0, 0.5))
    for f in frames:
        m.integrate(f)
    g = SceneGraph()
    g.update(m)
    by_label = {n.label: n for n in g.objects()}
    box_id, table_id = by_label[OBJ].id, by_label[TABLE].id
    floor_id = next(n.id for n in g.structures() if n.label == FLOOR)
    on = {(e.subject, e.object) for e in g.relations("on")}
    assert (box_id, table_id) in on and (table_id, floor_id) in on
    assert (box_id, floor_id) not in on
    d = json.loads(g.to_json())
    assert d["schema"] == "real3d.scene_graph" and d["version"] == 2
    assert {n["id"] for n in d["nodes"]} == set(g.nodes)
    node = next(n for n in d["nodes"] if n["id"] == box_id)
    assert set(node) >= {
        "id",
        "kind",
        "label",
        "class_name",
        "confidence",
        "centroid",
        "box",
        "n_observations",
        "n_voxels",
        "room_id",
    }
    nx_g = g.to_networkx()
    assert nx_g.number_of_nodes() == len(g.nodes) and nx_g.number_of_edges() == len(g.edges)
    assert nx_g.has_edge(box_id, table_id, key="on")
    obstacles = {n.id for n in g.get_obstacles()}
    assert table_id in obstacles and floor_id not in obstacles
    with pytest.raises(InputError):
        g.update("not a map")


def test_toy_home_detection_f1_and_rooms():
    seq = toy_sequence(0, n_frames=40, size=(120, 160))
    m = SemanticMap(pixel_stride=2)
    g = SceneGraph()
    for f in seq:
        m.integrate(f)
    g.update(m)
    r = evaluate_graph(g, seq.scene)
    assert r.detection[0.25].f1 >= 0.9
    assert r.relation_accuracy == 1.0
    assert len(g.rooms()) == 2
    # Every object sits in the room whose footprint holds its centroid.
    for n in g.objects():
        gt_room = next(
            rm for rm in seq.scene.rooms if rm.x0 <= n.centroid[0] <= rm.x1 and rm.y0 <= n.centroid[1] <= rm.y1
        )
        same = [o for o in g.objects() if n.room_id == o.room_id]
        assert all(rm.x0 - 0.2 <= o.centroid[0] <= rm.x1 + 0.2 for o in same for rm in [gt_room])
    free = g.get_free_space()
    assert free.free.any() and free.occupied.any()


def test_evaluate_graph_hand_computed():
    from real3d.core.gt import ObjectGT, Relation
    from real3d.scene.boxes import Box3D
    from real3d.scene.graph import Edge, SceneNode

    gt = [
        ObjectGT(1, "table", TABLE, np.array([0.0, 0, 0.4]), np.array([1.0, 1, 0.8]), 0.0),
        ObjectGT(2, "box", OBJ, np.array([0.0, 0, 0.9]), np.array([0.2, 0.2, 0.2]), 0.0),
        ObjectGT(3, "chair", CHAIR, np.array([3.0, 0, 0.45]), np.array([0.5, 0.5, 0.9]), 0.0),
    ]
    scene = boxes_scene([((0, 0, -0.05), (1, 1, 0.1), 0.0, FLOOR)])
    scene.objects.extend(gt)
    scene.relations.append(Relation(2, "on", 1))
    g = SceneGraph()

    def node(i, lab, c, s):
        return SceneNode(
            i,
            "object",
            lab,
            NYU13.names[lab],
            1.0,
            np.array(c, float),
            Box3D(np.array(c, float), np.array(s, float), 0.0),
            1,
            10,
        )

    # Table exact; box shifted by half its width (IoU 1/3); chair missing; one false positive.
    g.nodes = {
        10: node(10, TABLE, (0, 0, 0.4), (1, 1, 0.8)),
        11: node(11, OBJ, (0.1, 0, 0.9), (0.2, 0.2, 0.2)),
        12: node(12, CHAIR, (-3, 0, 0.45), (0.5, 0.5, 0.9)),
    }
    g.edges = [Edge(11, "on", 10)]
    r = evaluate_graph(g, scene)
    d25, d50 = r.detection[0.25], r.detection[0.5]
    assert (d25.true_positives, d25.n_predicted, d25.n_ground_truth) == (2, 3, 3)
    assert d25.f1 == pytest.approx(2 / 3)
    assert d50.true_positives == 1 and d50.f1 == pytest.approx(1 / 3)
    assert r.relation_accuracy == 1.0 and r.n_relations_evaluated == 1
    assert r.mean_matched_iou == pytest.approx((1 + 1 / 3) / 2)
    # Restricting the ground truth to what was seen removes the missed chair.
    r2 = evaluate_graph(g, scene, instance_ids={1, 2})
    assert r2.detection[0.25].recall == 1.0


def _node(i, cls, center, size, kind="object"):
    from real3d.scene.boxes import Box3D
    from real3d.scene.graph import SceneNode

    c = np.asarray(center, float)
    return SceneNode(
        id=i,
        kind=kind,
        label=NYU13.index(cls),
        class_name=cls,
        confidence=1.0,
        centroid=c,
        box=Box3D(c, np.asarray(size, float), 0.0),
        n_observations=5,
        n_voxels=50,
    )


def test_support_inside_a_bookcase_and_under_an_unseen_bottom():
    g = SceneGraph()
    g.nodes = {
        n.id: n
        for n in [
            _node(1, "floor", (0, 0, 0), (6, 6, 0.02), kind="structure"),
            _node(2, "furniture", (0, 0, 0.9), (1.0, 0.35, 1.8)),  # bookcase
            _node(3, "books", (0, 0, 0.12), (0.6, 0.25, 0.24)),  # bottom board, level with it
            _node(4, "books", (0, 0, 0.42), (0.6, 0.25, 0.24)),  # next board, 6 cm above 3
            _node(5, "furniture", (2, 0, 0.45), (0.9, 0.5, 0.9)),  # dresser
            _node(6, "objects", (2, 0, 1.1), (0.3, 0.3, 0.2)),  # box whose lowest 10 cm went unseen
            _node(7, "picture", (2, 0.3, 1.3), (0.5, 0.03, 0.4)),  # hangs on the wall above
            _node(8, "objects", (-2, 0, 0.15), (0.3, 0.3, 0.3)),  # on the open floor
        ]
    }
    g.floor_z_m = 0.0
    g._update_relations()
    on = {e.subject: e.object for e in g.relations("on")}
    assert on[3] == 2 and on[4] == 2  # on the bookcase, not on the floor or the books below
    assert on[6] == 5  # on the dresser despite the 0.1 m gap
    assert 7 not in on  # a picture rests on nothing
    assert on[8] == 1 and on[2] == 1 and on[5] == 1


def test_an_object_split_into_tiny_map_instances_is_one_node():
    # A small object's 2D segments that fail to match earlier ones leave it as many map
    # instances of a voxel or two; the graph groups such voxels spatially.
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR), ((0.0, 0.0, 0.15), (0.3, 0.25, 0.3), 0.0, OBJ, 2)])
    m, frames = _fuse(scene, 8)
    for f in frames:
        m.integrate(f)
    cfg = SceneGraphConfig(refine_boxes=False)
    whole = SceneGraph(cfg)
    whole.update(m)
    assert len([n for n in whole.objects() if n.label == OBJ]) == 1
    inst = m.voxel_arrays()["instance"]  # a view: writing to it splits the object
    rows = np.flatnonzero(inst > 0)
    assert rows.size > 2 * cfg.min_cluster_voxels
    inst[rows] = 1000 + np.arange(rows.size)
    split = SceneGraph(cfg)
    split.update(m, force=True)
    objs = [n for n in split.objects() if n.label == OBJ]
    assert len(objs) == 1
    assert objs[0].n_voxels == next(n for n in whole.objects() if n.label == OBJ).n_voxels


def test_json_round_trip_and_a_loaded_graph_keeps_ids_on_update(tmp_path):
    from real3d.core import FormatError

    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR),
            ((0, 0, 0.375), (1.2, 0.8, 0.75), 0.2, TABLE),
            ((0.1, 0.05, 0.875), (0.3, 0.25, 0.25), 0.2, OBJ),
        ]
    )
    m, frames = _fuse(scene, 10, center=(0, 0, 0.5))
    for f in frames:
        m.integrate(f)
    cfg = SceneGraphConfig(refine_boxes=False)
    g = SceneGraph(cfg)
    g.update(m)
    path = tmp_path / "graph.json"
    g.to_json(path)
    back = SceneGraph.from_json(path, cfg)
    assert back.to_dict() == g.to_dict()
    assert SceneGraph.from_json(g.to_json(), cfg).to_dict() == g.to_dict()
    # Updating the loaded graph from the same map keeps every object's id; new ids start
    # above the loaded ones.
    back.update(m)
    assert {(n.class_name, n.id) for n in back.objects()} == {(n.class_name, n.id) for n in g.objects()}
    assert min(n.id for n in back.rooms()) > max(g.nodes)
    bad = g.to_dict()
    with pytest.raises(FormatError):
        SceneGraph.from_dict({**bad, "schema": "other"})
    with pytest.raises(FormatError):
        SceneGraph.from_dict({**bad, "version": 99})
    with pytest.raises(FormatError):
        SceneGraph.from_dict({**bad, "nodes": [{"id": 1}]})
    with pytest.raises(FormatError):
        SceneGraph.from_json("{not json", cfg)
