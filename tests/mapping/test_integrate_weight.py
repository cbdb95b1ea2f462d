"""Per-frame weight and truncation of ``SemanticMap.integrate``."""

import numpy as np
import pytest

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(160, 120, 1.0)
FLOOR, TABLE = NYU13.index("floor"), NYU13.index("table")


@pytest.fixture(scope="module")
def frames():
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1), ((0, 0, 0.25), (0.6, 0.4, 0.5), 0.4, TABLE, 2)])
    r = ToyRenderer(scene)
    return [
        r.render(K, look_at((1.5 * np.cos(a), 1.5 * np.sin(a), 1.2), (0, 0, 0.25)), index=i)
        for i, a in enumerate((0.0, 0.3))
    ]


def _map():
    return SemanticMap(voxel_size_m=0.04, truncation_m=0.12, pixel_stride=1)


def test_a_lone_frame_gets_its_own_values_at_any_weight(frames):
    full, half = _map(), _map()
    full.integrate(frames[0])
    half.integrate(frames[0], weight=0.5)
    a, b = full.voxel_arrays(), half.voxel_arrays()
    np.testing.assert_array_equal(a["coords"], b["coords"])
    np.testing.assert_allclose(a["tsdf"], b["tsdf"], atol=1e-6)
    np.testing.assert_allclose(b["weight"], 0.5 * a["weight"])
    np.testing.assert_allclose(b["class_weight"], 0.5 * a["class_weight"])
    np.testing.assert_allclose(b["hits"], 0.5 * a["hits"])
    # Class evidence is the log-probability scaled by the weight (one frame: no offsets).
    np.testing.assert_allclose(b["log_evidence"], np.maximum(0.5 * a["log_evidence"], -np.inf), atol=1e-5)
    # Surfaces need the weight of one measured frame by default.
    assert len(half.semantic_points()) == 0
    np.testing.assert_array_equal(full.semantic_points().labels, half.semantic_points(min_weight=0.5).labels)


def test_a_lighter_frame_has_less_say_in_the_running_mean(frames):
    def updated(frame):  # voxel -> TSDF of the voxels one frame updates
        one = _map()
        one.integrate(frame)
        a = one.voxel_arrays()
        keep = a["weight"] > 0
        return dict(zip(map(tuple, a["coords"][keep]), a["tsdf"][keep]))

    first, second = updated(frames[0]), updated(frames[1])
    m = _map()
    m.integrate(frames[0])
    m.integrate(frames[1], weight=0.25)
    arr = m.voxel_arrays()
    both = [(i, c) for i, c in enumerate(map(tuple, arr["coords"])) if c in first and c in second]
    assert len(both) > 100
    idx = np.array([i for i, _ in both])
    expect = np.array([(first[c] + 0.25 * second[c]) / 1.25 for _, c in both])
    np.testing.assert_allclose(arr["tsdf"][idx], expect, atol=1e-5)
    np.testing.assert_allclose(arr["weight"][idx], 1.25)


def test_a_wider_truncation_updates_a_wider_band(frames):
    narrow, wide = _map(), _map()
    narrow.integrate(frames[0])
    wide.integrate(frames[0], truncation_m=0.24)
    assert len(wide) > 1.3 * len(narrow)
    t = wide.voxel_arrays()["tsdf"]
    assert t.min() >= -1.0 and t.max() <= 1.0
    assert (np.abs(t) == 1.0).any()  # beyond the map's truncation: clipped
    # Free space stops a truncation before each reading: a wider band carves less.
    assert len(wide.free_cells()[0]) < len(narrow.free_cells()[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weight": 0.0},
        {"weight": 1.5},
        {"weight": float("nan")},
        {"weight": "heavy"},
        {"truncation_m": 0.01},
        {"truncation_m": -1.0},
    ],
)
def test_bad_weight_or_truncation_is_refused_and_leaves_the_map(frames, kwargs):
    m = _map()
    with pytest.raises(InputError, match="SemanticMap.integrate"):
        m.integrate(frames[0], **kwargs)
    assert len(m) == 0 and m.frames_integrated == 0


def test_read_only_frame_arrays_fuse_as_writeable_ones(frames):
    """Readers hand out read-only arrays (``np.asarray`` of a decoded image); the compiled
    fusion must take them and give the same map."""
    import dataclasses

    f = frames[0]
    ro = {}
    for name in ("rgb", "depth_m", "labels"):
        a = np.array(getattr(f, name))
        a.setflags(write=False)
        ro[name] = a
    frozen = dataclasses.replace(f, **ro)
    probs = np.full((14, *f.depth_m.shape), 1.0 / 14, np.float32)
    probs.setflags(write=False)
    a, b = _map(), _map()
    a.integrate(f)
    b.integrate(frozen)
    for k, v in a.voxel_arrays().items():
        np.testing.assert_array_equal(v, b.voxel_arrays()[k], err_msg=k)
    c = _map()
    c.integrate(frozen, probs)
    assert len(c) == len(a)
