"""Instance fusion in SemanticMap (2D segments -> map instances) and the scene graph's use of
it: touching objects of one class, per-frame segment numbering, one-sided boxes."""

import numpy as np
import pytest

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.scene import SceneGraph, SceneGraphConfig
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(160, 120, 1.0)
FLOOR, WALL, CHAIR, BOOKS, OBJECTS = (NYU13.index(n) for n in ("floor", "wall", "chair", "books", "objects"))


def _frames(scene, angles, center=(0, 0, 0.4), radius=2.2, height=1.3):
    r = ToyRenderer(scene)
    return [
        r.render(K, look_at((center[0] + radius * np.cos(a), center[1] + radius * np.sin(a), height), center), index=i)
        for i, a in enumerate(angles)
    ]


# Two chairs of one class side by side, touching (no gap), on a floor.
TOUCHING = [
    ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1),
    ((-0.25, 0, 0.45), (0.5, 0.5, 0.9), 0.0, CHAIR, 2),
    ((0.25, 0, 0.45), (0.5, 0.5, 0.9), 0.0, CHAIR, 3),
]


def _fuse(frames, stride=2, **integrate_kw):
    m = SemanticMap(pixel_stride=stride)
    for f in frames:
        m.integrate(f, **{k: v(f) for k, v in integrate_kw.items()})
    return m


def _chairs(frames, **integrate_kw):
    m = _fuse(frames, **integrate_kw)
    g = SceneGraph(SceneGraphConfig(refine_boxes=False))  # boxes of the seen surfaces
    g.update(m)
    return m, [n for n in g.objects() if n.label == CHAIR]


def test_touching_objects_of_one_class_stay_apart_with_instance_segments():
    frames = _frames(boxes_scene(TOUCHING), np.linspace(0, 2 * np.pi, 10, endpoint=False))
    # Class evidence alone: the two touching chairs are one connected blob.
    _, merged = _chairs([f.replace(instances=None) for f in frames])
    assert len(merged) == 1
    _, chairs = _chairs(frames)
    assert len(chairs) == 2
    assert sorted(float(n.box.center[0]) for n in chairs) == pytest.approx([-0.25, 0.25], abs=0.06)
    for n in chairs:
        assert np.allclose(sorted(n.box.size[:2]), [0.5, 0.5], atol=0.08)
        assert n.map_instance is not None


def test_segment_numbering_may_change_between_frames():
    frames = _frames(boxes_scene(TOUCHING), np.linspace(0, 2 * np.pi, 10, endpoint=False))
    rng = np.random.default_rng(0)

    def shuffled(f):
        # Each frame numbers its segments anew (as a 2D instance segmenter would).
        lut = np.zeros(f.instances.max() + 1, np.int32)
        lut[1:] = rng.permutation(np.arange(100, 100 + f.instances.max()))
        return lut[f.instances]

    m, chairs = _chairs(frames, instances=shuffled)
    assert len(chairs) == 2
    # Association kept one map instance per object: floor + 2 chairs (a few spares at most).
    assert m.num_instances <= 5
    inst = m.voxel_arrays()["instance"]
    assert len({n.map_instance for n in chairs}) == 2 and all((inst == n.map_instance).sum() > 50 for n in chairs)


def test_instance_input_is_validated_and_saved(tmp_path):
    frames = _frames(boxes_scene(TOUCHING), [0.0, 1.0])
    m = SemanticMap(pixel_stride=2)
    with pytest.raises(InputError, match="instances"):
        m.integrate(frames[0], instances=np.zeros((10, 10), np.int32))
    with pytest.raises(InputError, match="instances"):
        m.integrate(frames[0], instances=frames[0].instances.astype(np.float32))
    # Model probabilities do not pick up the frame's ground-truth instances by themselves.
    m.integrate(frames[0], frames[0].labels)
    assert m.num_instances == 0 and not m.voxel_arrays()["instance"].any()
    m.integrate(frames[1])
    assert m.num_instances >= 3
    m2 = SemanticMap.load(m.save(tmp_path / "map.npz"))
    assert m2.num_instances == m.num_instances
    assert np.array_equal(m2.voxel_arrays()["instance"], m.voxel_arrays()["instance"])


def test_box_of_an_object_seen_from_one_side_reaches_the_wall_behind():
    # A 0.25 m deep row of books against a wall, seen only from the front: its visible
    # surface is a thin slab; the box is deepened until the wall.
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1),
            ((0, 0.35, 1.0), (4, 0.1, 2.0), 0.0, WALL, 2),
            ((0, 0.175, 0.5), (0.6, 0.25, 0.3), 0.0, BOOKS, 3),
        ]
    )
    # Cameras at y < 0 facing +y, between the planes of the books' sides (|x| < 0.3).
    front = np.linspace(-np.pi / 2 - 0.15, -np.pi / 2 + 0.15, 6)
    # At the height of the books: their top is not seen either.
    m = _fuse(_frames(scene, front, center=(0, 0.2, 0.5), radius=1.8, height=0.5))
    sizes = {}
    for complete in (False, True):
        g = SceneGraph(SceneGraphConfig(complete_depth=complete, refine_boxes=False))  # the rules alone
        g.update(m)
        (books,) = [n for n in g.objects() if n.label == BOOKS]
        sizes[complete] = books.box
    thin, deep = sizes[False], sizes[True]
    assert min(thin.size[:2]) < 0.12
    assert min(deep.size[:2]) == pytest.approx(0.25, abs=0.06)
    assert max(deep.size[:2]) == pytest.approx(0.6, abs=0.06)
    assert deep.center[1] == pytest.approx(0.175, abs=0.05)


def test_a_small_object_seen_from_one_side_is_not_deepened_past_its_width():
    # A 12 cm wide, 12 cm deep, 30 cm tall thing (a vase) on a stool in the open, seen only
    # from the front: nothing behind it stops the probes, yet its box must not grow to the
    # 0.3 m typical depth of "objects" (it is about as deep as it is wide).
    scene = boxes_scene(
        [((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1), ((0, 0, 0.2), (0.12, 0.12, 0.3), 0.0, OBJECTS, 2)]
    )
    front = np.linspace(-np.pi / 2 - 0.1, -np.pi / 2 + 0.1, 6)
    m = _fuse(_frames(scene, front, center=(0, 0, 0.2), radius=1.2, height=0.25), stride=1)
    g = SceneGraph(SceneGraphConfig(refine_boxes=False))  # the completion rule alone
    g.update(m)
    (vase,) = [n for n in g.objects() if n.label == OBJECTS]
    # Without the cap its box was 0.3 m deep, reaching 0.18 m behind the vase.
    assert max(vase.box.size[:2]) < 0.2
    assert vase.box.center[1] + vase.box.size[1] / 2 < 0.1


def test_a_wall_cabinet_above_seen_free_space_is_not_extended_to_the_floor():
    # An upper cabinet (furniture, usually floor-standing) hung on a wall at 1.5-2.2 m with
    # the space under it in view: its box stays where it was seen.
    furniture = NYU13.index("furniture")
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1),
            ((0, 0.45, 1.25), (4, 0.1, 2.5), 0.0, WALL, 2),
            ((0, 0.225, 1.85), (1.2, 0.35, 0.7), 0.0, furniture, 3),
        ]
    )
    front = np.linspace(-np.pi / 2 - 0.3, -np.pi / 2 + 0.3, 8)
    m = _fuse(_frames(scene, front, center=(0, 0.2, 1.2), radius=2.2, height=1.4))
    g = SceneGraph()
    g.update(m)
    (cab,) = [n for n in g.objects() if n.label == furniture]
    assert cab.box.z_min > 1.3
    assert cab.box.z_max > 1.9


def test_visible_instances_count_only_pixels_with_depth():
    from real3d.core import Frame
    from real3d.scene.evaluate import visible_instances

    inst = np.zeros((20, 30), np.int32)
    inst[:, :15] = 1
    inst[:, 15:] = 2
    depth = np.full((20, 30), 2.0, np.float32)
    depth[:, 15:] = 0.0  # object 2 lies beyond the sensor's range
    f = Frame(
        rgb=np.zeros((20, 30, 3), np.uint8), depth_m=depth, intrinsics=Intrinsics.from_fov(30, 20, 1.0), instances=inst
    )
    assert visible_instances([f] * 2, min_pixels=400) == {1}
    assert visible_instances([f] * 2, min_pixels=400, with_depth=False) == {1, 2}
