import numpy as np
import pytest

from real3d.core import WAREHOUSE, ConfigError, Frame, InputError, Intrinsics, get_label_set, map_labels
from real3d.core.gt import ObjectGT, is_structure
from real3d.core.labels import NYU13, SYNTH, SYNTH_TO_NYU13
from real3d.core.warehouse import (
    WAREHOUSE_FLOOR_STANDING,
    WAREHOUSE_SMALL_OBJECTS,
    WAREHOUSE_STRUCTURE,
    labels_from_instances,
)


def _obj(i, name):
    return ObjectGT(i, name, NYU13.index("objects"), np.zeros(3), np.ones(3), 0.0)


def test_warehouse_set_is_registered_with_its_classes():
    assert get_label_set("warehouse") is WAREHOUSE
    assert WAREHOUSE.names[0] == "void"
    for name in ("floor", "wall", "ceiling", "pillar", "rack", "package", "pallet", "box", "crate", "barrel"):
        assert name in WAREHOUSE.names
    assert len({tuple(c) for c in WAREHOUSE.colors}) == len(WAREHOUSE.names)  # one colour each
    # every class has exactly one scene-graph role
    roles = WAREHOUSE_STRUCTURE + WAREHOUSE_FLOOR_STANDING + WAREHOUSE_SMALL_OBJECTS
    assert sorted(roles) == sorted(WAREHOUSE.names[1:])
    assert "pillar" in WAREHOUSE_STRUCTURE and "rack" in WAREHOUSE_FLOOR_STANDING


def test_every_class_the_engine_places_in_a_warehouse_has_its_own_id():
    from real3d.synth import generate_warehouse

    placed = set()
    for seed in (0, 1, 2):
        placed |= {o.class_name for o in generate_warehouse(seed).objects}
    assert {"rack", "package", "pillar", "pallet", "loose_box", "floor", "wall", "ceiling"} <= placed
    ids = {n: int(map_labels(np.array([SYNTH.index(n)]), "synth", "warehouse")[0]) for n in placed}
    assert all(v > 0 for v in ids.values()), ids
    # the engine's class and the warehouse class name the same thing, but for loose boxes
    # (boxes) and what hangs at windows (window, as NYUv2-13 folds them)
    folds = {"loose_box": "box", "curtain": "window", "blinds": "window"}
    assert {n: WAREHOUSE.names[v] for n, v in ids.items()} == {n: folds.get(n, n) for n in placed}
    # structure in the graph's sense is the engine's structure (curtains fold into windows
    # here as in NYUv2-13)
    for n in placed - {"curtain", "blinds"}:
        assert (WAREHOUSE.names[ids[n]] in WAREHOUSE_STRUCTURE) == is_structure(n), n


def test_folding_to_nyu13_agrees_with_the_engine():
    fine = np.arange(len(SYNTH.names))
    ware = map_labels(fine, "synth", "warehouse")
    kept = ware > 0
    assert np.array_equal(map_labels(ware[kept], "warehouse", "nyu13"), SYNTH_TO_NYU13[kept])
    # hand-checked: pillar and door fold into wall, rack into furniture, packages into objects
    names = ("pillar", "door", "rack", "package", "floor")
    got = map_labels(np.array([WAREHOUSE.index(n) for n in names]), "warehouse", "nyu13")
    assert [NYU13.names[i] for i in got] == ["wall", "wall", "furniture", "objects", "floor"]
    # home furniture has no warehouse class: void, ignored by losses and metrics
    assert map_labels(np.array([SYNTH.index("sofa"), SYNTH.index("bed")]), "synth", "warehouse").tolist() == [0, 0]


def test_labels_from_instances_by_hand():
    objects = [_obj(1, "floor"), _obj(2, "pillar"), _obj(5, "rack"), _obj(7, "loose_box")]
    inst = np.array([[0, 1, 2], [5, 7, 1]], np.int32)
    w = labels_from_instances(inst, objects)
    assert w.dtype == np.uint8
    idx = WAREHOUSE.index
    assert w.tolist() == [[0, idx("floor"), idx("pillar")], [idx("rack"), idx("box"), idx("floor")]]
    n = labels_from_instances(inst, objects, "nyu13")
    assert n.tolist() == [[0, 5, 12], [6, 7, 5]]  # void, floor, wall / furniture, objects, floor


def test_labels_from_instances_rejects_bad_input():
    objects = [_obj(1, "floor"), _obj(2, "rack")]
    with pytest.raises(InputError, match="no object has"):
        labels_from_instances(np.array([[1, 3, 2]]), objects + [_obj(4, "crate")])
    with pytest.raises(InputError, match=r"\[1, 2\]"):
        labels_from_instances(np.array([[1, 9]]), objects)
    with pytest.raises(InputError, match="integer instance ids"):
        labels_from_instances(np.ones((2, 2), np.float32), objects)
    with pytest.raises(InputError, match="integer instance ids"):
        labels_from_instances(np.ones(4, np.int32), objects)
    with pytest.raises(InputError, match="engine's classes"):
        labels_from_instances(np.ones((2, 2), np.int32), [_obj(1, "forklift")])
    with pytest.raises(ConfigError, match="unknown label set 'warehous'; valid: .*warehouse"):
        labels_from_instances(np.ones((2, 2), np.int32), objects, "warehous")
    with pytest.raises(ConfigError, match="no label mapping synth -> nyu40"):
        labels_from_instances(np.ones((2, 2), np.int32), objects, "nyu40")


def test_bad_names_and_ids_raise_the_documented_errors():
    with pytest.raises(ConfigError, match="valid: .*warehouse"):
        get_label_set("warehouses")
    with pytest.raises(ConfigError, match="unknown class 'forklift'"):
        WAREHOUSE.index("forklift")
    with pytest.raises(ConfigError, match="no label mapping nyu13 -> warehouse"):
        map_labels(np.array([1]), "nyu13", "warehouse")
    with pytest.raises(InputError, match=r"\[0, 13\]"):
        map_labels(np.array([14]), "warehouse", "nyu13")
    with pytest.raises(InputError):
        WAREHOUSE.colorize(np.array([[14]]))
    rgb = np.zeros((2, 3, 3), np.uint8)
    K = Intrinsics.from_fov(3, 2, 1.0)
    f = Frame(rgb=rgb, depth_m=None, intrinsics=K, labels=np.full((2, 3), 13, np.uint8), label_set="warehouse")
    assert f.label_set == "warehouse"
    with pytest.raises(InputError, match="warehouse ids"):
        Frame(rgb=rgb, depth_m=None, intrinsics=K, labels=np.full((2, 3), 14, np.uint8), label_set="warehouse")


def test_engine_frames_relabel_exactly():
    # the ray caster's NYUv2-13 image equals the one made from its instance image, so the
    # warehouse labels made the same way sit on exactly the same pixels
    from real3d.synth import generate_warehouse
    from real3d.synth.render import MeshCaster
    from real3d.synth.trajectory import free_mask, random_viewpoint

    scene = generate_warehouse(4)
    caster = MeshCaster(scene.mesh)
    K = Intrinsics.from_fov(80, 60, 1.1)
    rng = np.random.default_rng(0)
    free = free_mask(scene)
    seen = set()
    for _ in range(4):
        labels, inst = caster.ground_truth(caster.cast(random_viewpoint(scene, rng, free), K))
        assert np.array_equal(labels_from_instances(inst, scene.objects, "nyu13"), labels)
        w = labels_from_instances(inst, scene.objects)
        assert np.array_equal(w > 0, labels > 0)
        assert np.array_equal(map_labels(w, "warehouse", "nyu13"), labels)
        seen |= {WAREHOUSE.names[i] for i in np.unique(w)}
    assert {"floor", "rack"} <= seen


def _toy_hall():
    """A 8 x 6 m hall with a pillar, a rack with a package on top, a pallet and a crate, as
    the engine names them; ray-cast frames from its middle, turning a full circle."""
    from real3d.core.pose import camera_from_yaw_pitch
    from real3d.testing.toyscene import BoxPart, ToyRenderer, boxes_scene

    lab = NYU13.index
    parts = [
        BoxPart((4.0, 3.0, -0.025), (8.2, 6.2, 0.05), 0.0, lab("floor"), 1, "floor"),
        BoxPart((4.0, -0.05, 1.5), (8.2, 0.1, 3.0), 0.0, lab("wall"), 2, "wall"),
        BoxPart((4.0, 6.05, 1.5), (8.2, 0.1, 3.0), 0.0, lab("wall"), 3, "wall"),
        BoxPart((-0.05, 3.0, 1.5), (0.1, 6.0, 3.0), 0.0, lab("wall"), 4, "wall"),
        BoxPart((8.05, 3.0, 1.5), (0.1, 6.0, 3.0), 0.0, lab("wall"), 5, "wall"),
        BoxPart((2.0, 3.0, 1.5), (0.4, 0.4, 3.0), 0.0, lab("wall"), 6, "pillar"),
        BoxPart((6.0, 1.0, 0.6), (2.4, 0.9, 1.2), 0.0, lab("furniture"), 7, "rack"),
        BoxPart((6.0, 1.0, 1.4), (0.6, 0.5, 0.4), 0.0, lab("objects"), 8, "package"),
        BoxPart((6.0, 5.0, 0.075), (1.2, 1.0, 0.15), 0.0, lab("objects"), 9, "pallet"),
        BoxPart((3.5, 5.0, 0.4), (0.8, 0.8, 0.8), 0.0, lab("objects"), 10, "crate"),
    ]
    objects = [ObjectGT(p.instance_id, p.class_name, p.label, np.array(p.center), np.array(p.size), 0.0) for p in parts]
    renderer = ToyRenderer(boxes_scene(parts))
    K = Intrinsics.from_fov(96, 72, 1.2)
    frames = [
        renderer.render(K, camera_from_yaw_pitch((4.0, 3.0, 1.4), yaw, -0.3), index=i)
        for i, yaw in enumerate(np.linspace(0, 2 * np.pi, 16, endpoint=False))
    ]
    return parts, objects, frames


def _majority(points, labels, part, pad=0.06):
    c, s = np.asarray(part.center), np.asarray(part.size) / 2 + pad
    inside = np.all(np.abs(points - c) <= s, axis=1)
    assert inside.sum() > 5, part.class_name
    return int(np.bincount(labels[inside]).argmax())


def test_warehouse_labels_round_trip_through_map_and_graph():
    from real3d.mapping import SemanticMap
    from real3d.scene import SceneGraph

    parts, objects, frames = _toy_hall()
    ware = [f.replace(labels=labels_from_instances(f.instances, objects), label_set="warehouse") for f in frames]
    m = SemanticMap(num_classes=len(WAREHOUSE.names), pixel_stride=2)
    for f in ware:
        m.integrate(f.replace(instances=None))
    sp = m.semantic_points()
    assert sp.labels.max() < len(WAREHOUSE.names)
    for p in parts[5:]:  # pillar, rack, package, pallet, crate keep their own classes in 3D
        assert WAREHOUSE.names[_majority(sp.points, sp.labels, p)] == p.class_name
    # The scene graph reads NYUv2-13 classes: the folded labels give pillars as structure
    # (wall) and racks as objects (furniture), with the package and crate as objects.
    m13 = SemanticMap(pixel_stride=2)
    for f in ware:
        m13.integrate(f.replace(labels=map_labels(f.labels, "warehouse", "nyu13"), label_set="nyu13"))
    g = SceneGraph()
    g.update(m13)
    nodes = [n for n in g.nodes.values() if n.kind in ("object", "structure")]

    def near(part):
        d = [np.linalg.norm(n.centroid - np.asarray(part.center)) for n in nodes]
        return nodes[int(np.argmin(d))]

    pillar, rack = near(parts[5]), near(parts[6])
    assert (pillar.kind, pillar.class_name) == ("structure", "wall")
    assert (rack.kind, rack.class_name) == ("object", "furniture")
    for p in parts[7:]:  # package, pallet, crate
        assert (near(p).kind, near(p).class_name) == ("object", "objects"), p.class_name
