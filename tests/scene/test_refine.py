import numpy as np
import pytest

from real3d.core import NYU13, ConfigError, FormatError, InputError
from real3d.scene.boxes import Box3D, box_iou_3d, convex_intersection, polygon_area
from real3d.scene.graph import SceneGraph, SceneGraphConfig
from real3d.scene.refine import (
    N_FEATURES,
    BoxRefiner,
    ClusterView,
    _face_probes,
    apply_deltas,
    canonical_axes,
    target_deltas,
)

CHAIR, TV = NYU13.index("chair"), NYU13.index("tv")


def _identity_refiner(hidden=4, bias=None, card=None):
    p = {
        "mean": np.zeros(N_FEATURES, np.float32),
        "std": np.ones(N_FEATURES, np.float32),
        "w0": np.zeros((N_FEATURES, hidden), np.float32),
        "b0": np.zeros(hidden, np.float32),
        "w1": np.zeros((hidden, hidden), np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": np.zeros((hidden, 7), np.float32),
        "b2": np.zeros(7, np.float32) if bias is None else np.asarray(bias, np.float32),
    }
    return BoxRefiner(p, card)


def test_canonical_axes_point_to_the_seen_side():
    box = Box3D(np.zeros(3), np.array([1.0, 0.5, 0.8]), 0.3)
    c, s = np.cos(0.3), np.sin(0.3)
    axes = canonical_axes(box, np.array([-c, -s, 0.0]) * 0.8)  # normal along -x of the box
    assert np.allclose(axes[0], [-c, -s]) and np.allclose(axes[1], [-s, c])
    assert np.allclose(canonical_axes(box, None), [[c, s], [-s, c]])


@pytest.mark.parametrize("normal", [None, np.array([0.7, -0.5, 0.1]), np.array([-0.9, 0.1, 0.0])])
def test_target_deltas_invert_apply_deltas(normal):
    box = Box3D(np.array([1.0, 2.0, 0.4]), np.array([0.6, 0.3, 0.8]), 0.4)
    view = ClusterView(CHAIR, box, normal, 100, 10)
    gt = Box3D(np.array([1.2, 1.9, 0.45]), np.array([0.7, 0.55, 0.9]), 0.4 + np.pi / 2)  # axes swapped
    d = target_deltas(view, gt.center, gt.size, gt.yaw_rad)
    back = apply_deltas(view, d)
    assert box_iou_3d(back, gt) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(back.center, gt.center)
    # zero deltas leave the box as it is
    same = apply_deltas(view, np.zeros(6))
    assert np.allclose(same.center, box.center) and np.allclose(same.size, box.size)


def test_face_probes_lie_outside_each_face():
    box = Box3D(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.4, 0.6]), 0.0)
    p = _face_probes(box, canonical_axes(box, None)).reshape(5, 2, 9, 3)
    assert np.allclose(p[0, 0, :, 0], 0.55) and np.allclose(p[0, 1, :, 0], 0.7)  # +x at 5 / 20 cm
    assert np.allclose(p[1, 0, :, 0], -0.55)
    assert np.allclose(p[2, 0, :, 1], 0.25) and np.allclose(p[3, 1, :, 1], -0.4)
    assert np.allclose(p[4, 0, :, 2], 1.35)
    assert np.all(np.abs(p[0, 0, :, 1]) <= 0.2 * 0.7 + 1e-9)  # a 3 x 3 grid inside the face


def test_refiner_applies_its_deltas_and_round_trips(tmp_path):
    ref = _identity_refiner(bias=[0, 0, 0, np.log(2), 0, 0, 3.0], card={"min_score": 0.4})
    x = np.random.default_rng(0).normal(size=(5, N_FEATURES)).astype(np.float32)
    d, p = ref.predict(x)
    assert np.allclose(d[:, 3], np.log(2)) and np.allclose(p, 1 / (1 + np.exp(-3.0)))
    path = ref.save(tmp_path / "r.safetensors")
    assert (tmp_path / "r.json").is_file() and not list(tmp_path.glob("*.tmp"))
    back = BoxRefiner.load(path)
    assert back.min_score == 0.4
    assert np.allclose(back.predict(x)[0], d)
    with pytest.raises(InputError):
        ref.predict(np.full((2, N_FEATURES), np.nan, np.float32))
    with pytest.raises(InputError):
        ref.predict(np.zeros((2, 3), np.float32))
    from real3d.mapping import SemanticMap

    with pytest.raises(InputError):
        ref.refine([object()], SemanticMap(), 0.0)
    with pytest.raises(InputError):
        ref.refine([], "not a map", 0.0)


def test_refiner_rejects_bad_files_and_arrays(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(FormatError):
        BoxRefiner.load(bad)
    with pytest.raises(FormatError):
        BoxRefiner.load(tmp_path / "missing.safetensors")
    p = _identity_refiner().params
    p.pop("b2")
    with pytest.raises(FormatError):
        BoxRefiner(p)


def test_graph_uses_the_refiner_and_drops_low_scores():
    from real3d.mapping import SemanticMap
    from real3d.testing.toyscene import toy_sequence

    seq = toy_sequence(0, 30)
    m = SemanticMap(pixel_stride=4)
    for f in seq:
        m.integrate(f)
    plain = SceneGraph(SceneGraphConfig(refine_boxes=False))
    plain.update(m)
    assert plain.refiner is None and plain.objects()
    views, ids = plain.cluster_views()
    assert len(views) == len(plain.objects()) and set(plain.cluster_points()) == set(ids)
    double = SceneGraph(SceneGraphConfig(nms_iou=None), refiner=_identity_refiner(bias=[0, 0, 0, 0, 0, np.log(2), 5.0]))
    double.update(m)
    a = sorted(n.box.size[2] for n in plain.objects())
    b = sorted(n.box.size[2] for n in double.objects())
    assert np.allclose(b, 2 * np.maximum(a, 0.02))
    low = _identity_refiner(bias=[0] * 6 + [-5.0])
    none = SceneGraph(SceneGraphConfig(min_object_score=0.5, isolated_min_voxels=0), refiner=low)
    none.update(m)
    assert not none.objects() and none.structures()
    # Low-scored clusters that are large and have nothing of their class around stay.
    rescued = SceneGraph(SceneGraphConfig(min_object_score=0.5, nms_iou=None), refiner=low)
    rescued.update(m)
    objs = plain.objects()

    def isolated(n):
        return all(
            o is n
            or o.label != n.label
            or (
                np.linalg.norm(o.centroid - n.centroid) >= 1.0
                and polygon_area(convex_intersection(o.box.footprint(), n.box.footprint())) == 0
            )
            for o in objs
        )

    expect = sorted(tuple(np.round(n.centroid, 6)) for n in objs if n.n_voxels >= 20 and isolated(n))
    assert expect and len(expect) < len(objs)
    assert sorted(tuple(np.round(n.centroid, 6)) for n in rescued.objects()) == expect
    with pytest.raises(ConfigError):
        SceneGraph(refiner="not a refiner")


def test_shipped_refiner_improves_boxes_on_a_data_engine_home():
    """The shipped weights, on a home never used to train them: matched boxes overlap the
    ground truth more, and F1 at IoU 0.25 does not fall."""
    from real3d.mapping import SemanticMap
    from real3d.scene import evaluate_graph
    from real3d.scene.evaluate import visible_instances
    from real3d.scene.refine import DEFAULT_WEIGHTS
    from real3d.synth import generate_sequence

    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.with_suffix(".json").is_file()
    seq = generate_sequence(9, 150)
    m = SemanticMap()
    for f in seq:
        m.integrate(f)
    vis = visible_instances(seq.frames)
    scores = {}
    for refine in (False, True):
        g = SceneGraph(SceneGraphConfig(refine_boxes=refine))
        assert (g.refiner is not None) == refine
        g.update(m)
        scores[refine] = evaluate_graph(g, seq.scene, instance_ids=vis)
        if refine:
            refined = [n for n in g.objects() if n.observed_box is not None]
            assert refined and len(refined) == len(g.objects())
            assert '"observed_box"' in g.to_json()
    assert scores[True].mean_matched_iou > scores[False].mean_matched_iou + 0.03
    assert scores[True].detection[0.25].f1 >= scores[False].detection[0.25].f1


def test_graph_suppresses_overlapping_boxes_of_one_class():
    """A refiner that grows every box tenfold makes same-class boxes overlap: non-maximum
    suppression keeps one of each overlapping group, and without it they all stay."""
    from real3d.mapping import SemanticMap
    from real3d.testing.toyscene import toy_sequence

    seq = toy_sequence(0, 30)
    m = SemanticMap(pixel_stride=4)
    for f in seq:
        m.integrate(f)
    grow = _identity_refiner(bias=[0, 0, 0, np.log(10), np.log(10), 0, 5.0])
    both = SceneGraph(SceneGraphConfig(nms_iou=None), refiner=grow)
    both.update(m)
    nms = SceneGraph(SceneGraphConfig(nms_iou=0.3), refiner=grow)
    nms.update(m)

    def worst_pair(g):
        o = g.objects()
        return max(
            [box_iou_3d(a.box, b.box) for i, a in enumerate(o) for b in o[i + 1 :] if a.label == b.label], default=0.0
        )

    assert worst_pair(both) > 0.3
    assert worst_pair(nms) <= 0.3
    assert 0 < len(nms.objects()) < len(both.objects())


def test_point_spread_locates_the_surface_in_the_box():
    """Points on the +x face of a box seen from +x: quantiles along e0 at the face (in
    offset units), spread evenly along e1 and z; none without points."""
    from real3d.scene.refine import SPREAD_QUANTILES, point_spread

    box = Box3D(np.array([1.0, 2.0, 0.5]), np.array([0.4, 0.2, 0.05]), 0.0)
    u = np.linspace(-1, 1, 21)
    yy, zz = np.meshgrid(2.0 + 0.1 * u, 0.5 + 0.025 * u, indexing="ij")
    pts = np.c_[np.full(yy.size, 1.2), yy.reshape(-1), zz.reshape(-1)]
    q = point_spread(ClusterView(CHAIR, box, np.array([0.9, 0.0, 0.0]), len(pts), 3, pts)).reshape(3, -1)
    assert q.shape == (3, len(SPREAD_QUANTILES))
    assert np.allclose(q[0], 0.2 / 0.4)  # the seen face, half the box's depth in front
    assert np.allclose(q[1], np.quantile(0.1 * u, SPREAD_QUANTILES) / 0.2, atol=1e-9)
    assert np.allclose(q[2], np.quantile(0.025 * u, SPREAD_QUANTILES) / 0.1, atol=1e-9)  # 0.1 m floor
    # Seen from -x, e0 flips: the same points lie on the far side.
    back = point_spread(ClusterView(CHAIR, box, np.array([-0.9, 0.0, 0.0]), len(pts), 3, pts)).reshape(3, -1)
    assert np.allclose(back[0], -0.5)
    assert not point_spread(ClusterView(CHAIR, box, None, 0, 0)).any()
