"""Fault corpus of the core types and the map's inputs: every bad argument ends in the
documented real3d error (naming the field and what it expects), float ratios become counts
without rounding surprises, and a map fed the same place for a long time stays the same size."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from real3d.core import NYU13, ConfigError, Frame, InputError, Intrinsics, LabelSet, check_pose, map_labels
from real3d.core.counts import ratio_count
from real3d.core.labels import register_mapping
from real3d.core.pose import look_at, make_pose, quat_to_rotation, transform_points
from real3d.core.segmentation import SegmentationResult
from real3d.mapping import SemanticMap
from real3d.mapping.config import SemanticMapConfig

H, W = 12, 16
K = Intrinsics.from_fov(W, H, 1.0)


def _rotation(seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=4)
    return quat_to_rotation(q)


def _pose(t=(0.0, 0.0, 0.0)) -> np.ndarray:
    return make_pose(_rotation(), t)


def _frame(pose=None, **kw) -> Frame:
    """A tiny frame of a wall 1.5 m in front of the camera."""
    args = dict(
        rgb=np.full((H, W, 3), 128, np.uint8),
        depth_m=np.full((H, W), 1.5, np.float32),
        intrinsics=K,
        world_T_cam=np.eye(4) if pose is None else pose,
    )
    args.update(kw)
    return Frame(**args)


# ---------------------------------------------------------------- Intrinsics


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(fx="100"), "fx"),
        (dict(cy=None), "cy"),
        (dict(fx=complex(100, 0)), "fx"),
        (dict(fy=float("nan")), "fy"),
        (dict(cx=np.inf), "cx"),
        (dict(fx=True), "fx"),
        (dict(width=True), "width"),
        (dict(height=np.bool_(True)), "height"),
        (dict(width=640.5), "width"),
        (dict(width="640"), "width"),
        (dict(height=float("nan")), "height"),
        (dict(width=None), "width"),
    ],
)
def test_intrinsics_refuse_wrong_types_naming_the_field(kwargs, field):
    base = dict(fx=100.0, fy=100.0, cx=319.5, cy=239.5, width=640, height=480)
    with pytest.raises(InputError, match=rf"Intrinsics\.{field}: expected (a finite real number|an integer)"):
        Intrinsics(**{**base, **kwargs})


def test_intrinsics_take_numpy_scalars_and_whole_floats():
    k = Intrinsics(np.float32(100), np.int64(100), 319.5, np.array(239.5), 640.0, np.int32(480))
    assert (k.width, k.height) == (640, 480) and type(k.width) is int and type(k.fx) is float
    assert k == Intrinsics(100.0, 100.0, 319.5, 239.5, 640, 480)


@pytest.mark.parametrize(
    "call",
    [
        lambda: Intrinsics.from_dict([100, 100, 319.5, 239.5, 640, 480]),
        lambda: Intrinsics.from_dict({"fx": 1.0}),
        lambda: Intrinsics.from_dict({"fx": "1", "fy": 1, "cx": 0, "cy": 0, "width": 2, "height": 2}),
        lambda: Intrinsics.from_K([[100, 0, 10], [0, 100, "x"], [0, 0, 1]], 20, 20),
        lambda: Intrinsics.from_K(np.eye(3, dtype=complex) * 100, 20, 20),
        lambda: Intrinsics.from_fov("640", 480, 1.0),
        lambda: Intrinsics.from_fov(640, 480, None),
        lambda: K.resized(True, 10),
        lambda: K.resized(0, 10),
        lambda: K.scaled("2"),
        lambda: K.cropped(0.5, 0, 4, 4),
    ],
)
def test_intrinsics_builders_refuse_wrong_types(call):
    with pytest.raises(InputError):
        call()


# ---------------------------------------------------------------- poses


@pytest.mark.parametrize(
    "pose, message",
    [
        (np.eye(4, dtype=np.complex128), "real-valued"),
        (np.eye(4, dtype=bool), "real-valued"),
        (np.eye(4).astype(str), "real-valued"),
        (np.eye(4).astype(object), "real-valued"),
        ([[1, 0, 0, 0], [0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "rigid transform"),
        ("identity", r"\(4, 4\)"),
        (None, r"\(4, 4\)"),
        (np.eye(4, dtype=np.float16), "float16 is too imprecise for a pose; pass float32 or float64"),
        (np.diag([3.0, 3.0, 3.0, 1.0]), "not a proper rotation"),
        (np.full((4, 4), np.nan), "finite"),
    ],
)
def test_bad_poses_are_refused_with_a_reason(pose, message):
    with pytest.raises(InputError, match=message):
        check_pose(pose, "Frame.world_T_cam")
    if pose is not None:  # a Frame without a pose is valid
        with pytest.raises(InputError, match=message):
            _frame(pose=pose)


def test_float32_and_integer_poses_are_accepted_as_float64():
    T = _pose((1.0, 2.0, 0.5))
    out = check_pose(T.astype(np.float32))
    assert out.dtype == np.float64 and np.allclose(out, T, atol=1e-6)
    assert check_pose(np.eye(4, dtype=np.int32)).dtype == np.float64
    assert _frame(pose=T.astype(np.float32)).world_T_cam.dtype == np.float64


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_pose(np.eye(3), ("1", "2", "x")),
        lambda: make_pose(np.eye(3, dtype=complex), (0, 0, 0)),
        lambda: make_pose(np.eye(4), (0, 0, 0)),
        lambda: quat_to_rotation([0, 0, 0, 1j]),
        lambda: quat_to_rotation([0, 0, 1]),
        lambda: look_at((0, 0, "1"), (1, 0, 0)),
        lambda: look_at((0, 0, np.nan), (1, 0, 0)),
        lambda: transform_points(np.eye(4), np.ones((2, 3), complex)),
        lambda: SemanticMap().query_labels(np.ones((2, 3), complex)),
        lambda: SemanticMap().query_occupancy([[1, 2], [3]]),
    ],
)
def test_pose_helpers_and_map_queries_refuse_non_real_input(call):
    with pytest.raises(InputError):
        call()


# ---------------------------------------------------------------- Frame


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(timestamp_s="abc"), r"Frame\.timestamp_s: expected a finite real number \(seconds\)"),
        (dict(timestamp_s=None), r"Frame\.timestamp_s"),
        (dict(timestamp_s=True), r"Frame\.timestamp_s"),
        (dict(timestamp_s=float("nan")), r"Frame\.timestamp_s"),
        (dict(index=True), r"Frame\.index: expected an integer"),
        (dict(index=1.5), r"Frame\.index"),
        (dict(index=-1), r"Frame\.index: expected an integer >= 0"),
        (dict(meta=None), r"Frame\.meta: expected a dict"),
        (dict(labels=np.full((H, W), 200, np.uint8)), r"Frame\.labels: expected nyu13 ids in \[0, 13\]"),
        (dict(labels=np.full((H, W), 41, np.uint8), label_set="nyu40"), r"nyu40 ids in \[0, 40\]"),
        (dict(labels=np.ones((H, W), np.uint8), label_set="ade20k"), r"Frame\.label_set: unknown label set"),
        (dict(labels=np.ones((H, W), np.uint8), label_set=13), r"Frame\.label_set"),
        (dict(labels=np.ones((H, W), np.int64)), r"Frame\.labels: expected dtype uint8"),
        (dict(instances=np.full((H, W), -3, np.int32)), r"Frame\.instances: expected ids >= 0"),
        (dict(normals_cam=np.full((H, W, 3), np.nan, np.float32)), r"Frame\.normals_cam: expected finite"),
        (dict(rgb=np.zeros((H, W, 3), object)), r"Frame\.rgb: expected dtype uint8"),
        (dict(rgb=np.zeros((H, W, 3), np.float32)), r"Frame\.rgb: expected dtype uint8"),
        (dict(depth_m=np.ones((H, W), np.float64)), r"Frame\.depth_m: expected dtype float32"),
        (dict(depth_m=[[1.0] * W] * H), r"Frame\.depth_m: expected a numpy array"),
        (dict(depth_m=np.full((H, W), np.nan, np.float32)), r"Frame\.depth_m: expected finite"),
        (dict(intrinsics=None), r"Frame\.intrinsics: expected real3d\.Intrinsics"),
    ],
)
def test_frame_refuses_each_bad_field_by_name(kwargs, message):
    with pytest.raises(InputError, match=message):
        _frame(**kwargs)


def test_frame_keeps_labels_in_their_set_and_makes_strided_images_contiguous():
    f = _frame(labels=np.full((H, W), 40, np.uint8), label_set="nyu40")
    assert f.label_set == "nyu40" and int(f.labels.max()) == 40
    assert _frame(labels=np.full((H, W), 13, np.uint8)).labels.max() == 13
    flipped = np.ascontiguousarray(np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3))[:, ::-1]
    f = _frame(rgb=flipped, timestamp_s=np.float32(2.5), index=np.int64(3))
    assert f.rgb.flags.c_contiguous and np.array_equal(f.rgb, flipped)
    assert f.timestamp_s == 2.5 and type(f.timestamp_s) is float and f.index == 3 and type(f.index) is int
    # The label set travels with replace().
    assert f.replace(labels=np.ones((H, W), np.uint8)).label_set == "nyu13"


# ---------------------------------------------------------------- label sets


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LabelSet("x", "void,a", np.zeros((2, 3), np.uint8)), "tuple of strings"),
        (lambda: LabelSet("x", ("void", 3), np.zeros((2, 3), np.uint8)), "tuple of strings"),
        (lambda: LabelSet("x", ("void",), np.zeros((1, 3), np.uint8)), "at least one class"),
        (lambda: LabelSet("x", ("void", "a", "a"), np.zeros((3, 3), np.uint8)), "repeat"),
        (lambda: LabelSet("x", ("void", "a"), np.zeros((2, 4), np.uint8)), r"\(N, 3\) uint8"),
        (lambda: LabelSet("x", ("void", "a"), np.zeros((2, 3), np.float32)), r"\(N, 3\) uint8"),
        (lambda: LabelSet("x", ("void", "a"), np.full((2, 3), 300)), r"\[0, 255\]"),
        (lambda: LabelSet("x", ("void", "a"), np.zeros((3, 3), np.uint8)), "2 names but 3 colours"),
        (lambda: LabelSet(None, ("void", "a"), np.zeros((2, 3), np.uint8)), "LabelSet.name"),
        (lambda: NYU13.colorize(np.full((2, 2), 2.7)), "integer labels"),
        (lambda: NYU13.colorize(np.full((2, 2), 14)), r"\[0, 13\]"),
        (lambda: map_labels(np.full((2, 2), 2.7), "nyu40"), "integer labels"),
        (lambda: map_labels(np.full((2, 2), 200, np.uint8), "nyu13", "nyu13"), r"\[0, 13\]"),
        (lambda: register_mapping("mine", "nyu13", [0, 1, 300]), r"\[0, 13\]"),
        (lambda: register_mapping("mine", "nyu13", [0.5, 1.0]), "integer labels"),
    ],
)
def test_label_sets_and_mappings_refuse_bad_input(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_label_sets_accept_lists_and_integer_colours():
    s = LabelSet("x", ["void", "a"], [[0, 0, 0], [10, 20, 30]])
    assert s.names == ("void", "a") and s.colors.dtype == np.uint8 and s.num_classes == 1


# ---------------------------------------------------------------- SegmentationResult


def _result(**kw) -> SegmentationResult:
    p = np.zeros((14, H, W), np.float32)
    p[5] = 1.0
    args = dict(labels=np.full((H, W), 5, np.uint8), probs=p)
    args.update(kw)
    return SegmentationResult(**args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(probs=np.zeros((14, H, W), np.float64)), r"SegmentationResult\.probs"),
        (dict(probs=np.zeros((H, W), np.float32)), r"SegmentationResult\.probs"),
        (dict(probs=[[[0.0]]]), r"SegmentationResult\.probs"),
        (dict(labels=np.full((H, W + 1), 5, np.uint8)), r"SegmentationResult\.labels"),
        (dict(labels=np.full((H, W), 5, np.int64)), r"SegmentationResult\.labels"),
        (dict(labels=np.full((H, W), 200, np.uint8)), r"ids in \[0, 13\]"),
        (dict(head="both"), r"SegmentationResult\.head"),
    ],
)
def test_segmentation_results_are_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        _result(**kwargs)


# ---------------------------------------------------------------- float ratios -> counts


@pytest.mark.parametrize(
    "a, b, mode, expect",
    [
        (3 * 0.05, 0.05, "ceil", 3),  # 3.0000000000000004: plain ceil gives 4
        (0.15, 0.05, "ceil", 3),  # 2.9999999999999996
        (0.15, 0.05, "floor", 3),  # plain floor gives 2
        (1.1, 0.1, "ceil", 11),  # 11.000000000000002
        (0.3, 0.1, "floor", 3),
        (0.7, 0.1, "floor", 7),
        (0.16, 0.05, "ceil", 4),  # a real remainder still rounds up ...
        (0.16, 0.05, "floor", 3),  # ... or down
        (0.0, 0.05, "ceil", 0),
        (-3 * 0.05, 0.05, "ceil", -3),
        (-0.16, 0.05, "floor", -4),
        (1e-12, 1.0, "ceil", 0),  # within the tolerance of 0
        (1e-6, 1.0, "ceil", 1),  # not within it
    ],
)
def test_ratio_count_snaps_only_rounding_errors(a, b, mode, expect):
    assert ratio_count(a, b, mode) == expect
    assert int(np.ceil(3 * 0.05 / 0.05)) == 4  # the defect the helper removes


@pytest.mark.parametrize(
    "args", [(1.0, 0.0), (float("nan"), 1.0), (1.0, float("inf")), (1e308, 1e-308), (1.0, 1.0, "round")]
)
def test_ratio_count_refuses_what_has_no_count(args):
    with pytest.raises(InputError, match="ratio_count"):
        ratio_count(*args)


def _voxels_after_one_frame(truncation_m: float) -> int:
    m = SemanticMap(voxel_size_m=0.05, truncation_m=truncation_m, pixel_stride=1)
    m.integrate(_frame(pose=_pose((0.2, -0.1, 0.3))))
    return len(m)


def test_a_truncation_of_three_voxels_computed_in_floats_allocates_as_the_literal():
    assert 3 * 0.05 != 0.15
    n = _voxels_after_one_frame(3 * 0.05)
    assert n == _voxels_after_one_frame(0.15) > 0
    # ... and fewer than a fourth sample per side would give.
    assert n < _voxels_after_one_frame(0.2)


# ---------------------------------------------------------------- SemanticMap inputs


@pytest.mark.parametrize(
    "probs, message",
    [
        (np.full((H, W), 200, np.uint8), r"labels must lie in \[0, 13\]"),
        (np.ones((H, W), np.int64), "labels must be uint8"),
        (np.full((5, H, W), 0.2, np.float32), r"probabilities must be \(14, H, W\) or \(13, H, W\)"),
        (np.full((14, H, W), np.nan, np.float32), "NaN or inf"),
        (np.full((14, H, W), 3.0, np.float32), r"must lie in \[0, 1\].*softmax"),
        (np.full((14, H, W), -0.5, np.float32), r"must lie in \[0, 1\]"),
        (np.full((14, H, W), 0.1, np.float64), "must be float32"),
        ([[1, 2], [3]], "expected \\(H, W\\) uint8 labels"),
    ],
)
def test_integrate_refuses_bad_class_input_and_fuses_nothing(probs, message):
    m = SemanticMap()
    with pytest.raises(InputError, match=message):
        m.integrate(_frame(), probs)
    assert len(m) == 0 and m.frames_integrated == 0 and m.num_free_cells == 0


def test_integrate_refuses_frame_labels_beyond_the_maps_classes():
    m = SemanticMap(num_classes=5)
    with pytest.raises(InputError, match=r"labels must lie in \[0, 4\]"):
        m.integrate(_frame(labels=np.full((H, W), 7, np.uint8)))
    assert len(m) == 0


@pytest.mark.parametrize(
    "instances, message",
    [
        (np.full((H, W), -2, np.int32), "instance ids must be >= 0"),
        (np.full((H, W), 1 << 40, np.int64), "instance ids must be < 2\\*\\*31"),
        (np.ones((H, W), np.float32), "integer segment ids"),
        (np.ones((H, W), bool), "integer segment ids"),
    ],
)
def test_integrate_refuses_bad_instances(instances, message):
    m = SemanticMap()
    with pytest.raises(InputError, match=message):
        m.integrate(_frame(labels=np.ones((H, W), np.uint8)), None, instances)
    assert len(m) == 0


def test_a_pose_changed_after_the_frame_was_built_is_not_fused():
    f = _frame(pose=_pose((0.1, 0.0, 0.2)))
    f.world_T_cam[:3, :3] *= 3.0  # the Frame checked it when built; the array is still writable
    m = SemanticMap()
    with pytest.raises(InputError, match="not a proper rotation"):
        m.integrate(f)
    assert len(m) == 0 and m.frames_integrated == 0 and len(m.camera_positions) == 0


def test_a_frame_beyond_the_maps_extent_names_the_limit_in_metres():
    m = SemanticMap(voxel_size_m=0.05)
    with pytest.raises(InputError, match=r"reaches \+-3277 m"):
        m.integrate(_frame(pose=make_pose(np.eye(3), (5000.0, 0.0, 0.0))))
    assert len(m) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(voxel_size_m="0.05"),
        dict(pixel_stride=True),
        dict(pixel_stride=2.5),
        dict(num_classes=None),
        dict(max_weight=float("nan")),
        dict(max_weight=0.0),
        dict(edge_step_px=0),
        dict(min_log_evidence=1.0),
        dict(instance_min_overlap=1.5),
        dict(truncation_m=complex(0.15, 0)),
    ],
)
def test_map_config_refuses_wrong_types_and_values(kwargs):
    with pytest.raises(ConfigError, match="SemanticMapConfig"):
        SemanticMapConfig(**kwargs)


# ---------------------------------------------------------------- bounded camera record


def test_fusing_the_same_frame_keeps_the_map_the_same_size():
    f = _frame(pose=_pose((0.0, 0.0, 0.4)))
    m = SemanticMap(pixel_stride=2)
    for _ in range(20):
        m.integrate(f)
    size = (len(m), m.num_free_cells, m.nbytes, len(m.camera_positions))
    for _ in range(300):
        m.integrate(f)
    assert (len(m), m.num_free_cells, m.nbytes, len(m.camera_positions)) == size
    assert len(m.camera_positions) == 1 and m.frames_integrated == 320
    # What real3d's own code keeps allocated over 100 more frames (numpy's and Python's
    # caches, allocated inside them, are not counted). A position kept per frame was
    # ~140 B each: 14 kB.
    tracemalloc.start(1)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        for _ in range(100):
            m.integrate(f)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = [tracemalloc.Filter(True, "*real3d*")]
    grown = sum(d.size_diff for d in after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename"))
    assert grown < 2_000, grown


def test_a_camera_going_round_a_loop_keeps_one_position_per_place():
    poses = [_pose((0.3 * np.cos(a), 0.3 * np.sin(a), 0.2)) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    m = SemanticMap(pixel_stride=4)
    for _ in range(6):
        for T in poses:
            m.integrate(_frame(pose=T))
    cams = m.camera_positions
    assert m.frames_integrated == 48 and cams.shape == (8, 3)
    # The first visit of each place is kept, in order.
    assert np.allclose(cams, [T[:3, 3] for T in poses])
    # A camera elsewhere in a kept position's cube adds nothing; one a cube away does.
    s = m.camera_spacing_m
    m.integrate(_frame(pose=_pose((np.floor(poses[0][:3, 3] / s) + 0.5) * s)))
    assert len(m.camera_positions) == 8
    m.integrate(_frame(pose=_pose(poses[0][:3, 3] + (0.0, 0.0, 3 * m.camera_spacing_m))))
    assert len(m.camera_positions) == 9


def test_a_saved_map_with_a_position_per_frame_is_thinned_on_the_next_fusion(tmp_path):
    f = _frame(pose=_pose((0.0, 0.1, 0.3)))
    m = SemanticMap(pixel_stride=4)
    m.integrate(f)
    # A map file of an earlier real3d, which recorded every frame's camera.
    m._camera_positions = [f.world_T_cam[:3, 3].copy() for _ in range(50)]
    m.save(tmp_path / "map.npz")
    loaded = SemanticMap.load(tmp_path / "map.npz")
    assert len(loaded.camera_positions) == 50  # read as written
    loaded.integrate(f)
    assert len(loaded.camera_positions) == 1
    loaded.save(tmp_path / "again.npz")
    again = SemanticMap.load(tmp_path / "again.npz")
    assert np.allclose(again.camera_positions, f.world_T_cam[:3, 3][None])
    assert len(again) == len(loaded) and again.frames_integrated == 2
