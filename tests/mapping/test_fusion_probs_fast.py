"""Class probabilities in the segmenter's (C, H, W) layout, read by ``project_voxels`` at
the pixels of the labelled voxels while it projects them: the values read, "use" and the
range check against a plain numpy read, and maps fused from that layout against maps
fused from the same probabilities channels-last (read by numpy), value for value."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from real3d.core import Intrinsics
from real3d.core.errors import InputError
from real3d.core.segmentation import SegmentationResult
from real3d.mapping import SemanticMap
from real3d.mapping import fusion_kernels as fk

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("make_fusion_reference", DATA / "make_fusion_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


@pytest.fixture(scope="module")
def frames():
    with np.load(DATA / "fusion_reference.npz") as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("frames/")}


def _project(probs_chw: np.ndarray, c: int = 14, max_prob: float = 1.001, min_prob: float = 0.0):
    """``project_voxels`` over voxel centres placed to project onto every pixel of a
    (40, 56) depth image with a few holes and edges, reading ``probs_chw`` (C', 40 * 56)
    (raised to ``min_prob`` when > 0);
    returns (updated count, labelled flags, labelled pixels, probabilities, use, counts)."""
    rng = np.random.default_rng(0)
    h, w = 40, 56
    depth = np.full((h, w), 2.0, np.float32)
    depth[10:25, 15:35] = 1.2
    depth[rng.random((h, w)) < 0.05] = 0.0
    K = Intrinsics(fx=50.0, fy=50.0, cx=28.0, cy=20.0, width=w, height=h)
    vs = 0.01
    vv, uu = np.mgrid[0:h, 0:w]
    v, u = vv.ravel(), uu.ravel()
    z = 0.5
    cells = np.stack(
        [((u - K.cx) / K.fx * z) / vs - 0.5, ((v - K.cy) / K.fy * z) / vs - 0.5, np.full(u.size, z / vs - 0.5)]
    )
    m = cells.shape[1]
    out = [np.empty(m, np.int64), np.empty(m), np.empty(m, np.int64), np.empty(m, bool), np.empty(m, bool)]
    lab_pix, lab_vox, lab_p, use = (
        np.empty(m, np.int64),
        np.empty(m, np.int64),
        np.empty((m, c), np.float32),
        np.empty(m, bool),
    )
    counts = np.empty(2, np.int64)
    n = fk.project_voxels(
        np.ascontiguousarray(cells.T), np.zeros(m, np.int64), m, np.ones(1), vs, np.zeros(3), np.eye(3),
        K.fx, K.fy, K.cx, K.cy, depth, np.float32(0.05), 0.1, 6.0, 10.0, 10.0, True, 2, np.float32(0.05), *out,
        np.ascontiguousarray(probs_chw), np.float32(max_prob), np.float32(min_prob),
        lab_pix, lab_vox, lab_p, use, counts,
    )  # fmt: skip
    n_lab = int(counts[0])
    return n, out[4][:n], lab_pix[:n_lab], lab_p[:n_lab], use[:n_lab], counts


def _random_probs(c_in: int, n_pix: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.random((c_in, n_pix), dtype=np.float32)
    return p / p.sum(axis=0, keepdims=True)


@pytest.mark.parametrize("void", [True, False])
def test_project_voxels_reads_the_probabilities_of_the_labelled_pixels(void):
    c_in = 14 if void else 13
    probs = _random_probs(c_in, 40 * 56, 1)
    n, labelled, lab_pix, lab_p, use, counts = _project(probs)
    assert 0 < lab_pix.shape[0] == labelled.sum() < n
    want = probs[:, lab_pix].T
    if not void:
        want = np.concatenate([np.zeros((want.shape[0], 1), np.float32), want], axis=1)
    np.testing.assert_array_equal(lab_p, want)
    np.testing.assert_array_equal(use, want[:, 1:].max(axis=1) >= want[:, 0])
    assert counts[1] == 1
    if void:  # pixels where void wins are not used
        assert 0 < use.sum() < use.shape[0]
    else:
        assert use.all()


@pytest.mark.parametrize("void", [True, False])
def test_project_voxels_raises_the_probabilities_to_min_prob_as_numpy_does(void):
    c_in = 14 if void else 13
    probs = _random_probs(c_in, 40 * 56, 3)
    probs[:, ::3] *= np.float32(1e-3)  # some values below min_prob, some pixels where void wins
    raw = _project(probs)
    got = _project(probs, min_prob=1e-3)
    np.testing.assert_array_equal(got[2], raw[2])
    np.testing.assert_array_equal(got[3], np.maximum(raw[3], 1e-3))
    assert (raw[3] < np.float32(1e-3)).any()
    np.testing.assert_array_equal(got[4], raw[4])  # "use" from the values read


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.25, 1.5])
def test_project_voxels_flags_a_bad_probability_only_where_it_reads(bad):
    probs = _random_probs(14, 40 * 56, 2)
    _, _, lab_pix, _, _, counts = _project(probs)
    unread = np.setdiff1d(np.arange(40 * 56), lab_pix)
    assert unread.size
    p = probs.copy()
    p[3, unread[0]] = bad
    assert _project(p)[5][1] == 1
    p = probs.copy()
    p[3, lab_pix[lab_pix.shape[0] // 2]] = bad
    assert _project(p)[5][1] == 0
    # -0.0 and the largest float32 within 1 + 1e-3 pass, as in _check_probabilities
    p = probs.copy()
    p[0, lab_pix[0]] = -0.0
    p[5, lab_pix[1]] = np.nextafter(np.float32(1.001), np.float32(0))
    assert _project(p)[5][1] == 1


def _fused(frames, layout: str, c_in: int = 14, instances: bool = False, weight: float = 1.0, **settings):
    """A map fused from the stored frames with ``ref.class_probs`` in ``layout``: "result"
    (a SegmentationResult, (C, H, W)), "chw", "chw_strided" (a non-contiguous view) or "hwc"."""
    m = SemanticMap(**settings)
    for i, f in enumerate(ref.make_frames(frames, with_truth=False)):
        p = ref.class_probs(frames["labels"][i], i)[14 - c_in :]
        if layout == "result":
            arg = SegmentationResult(labels=p.argmax(axis=0).astype(np.uint8), probs=p)
        elif layout == "chw_strided":
            arg = np.moveaxis(np.ascontiguousarray(np.moveaxis(p, 0, -1)), -1, 0)
        elif layout == "hwc":
            arg = np.ascontiguousarray(np.moveaxis(p, 0, -1))
        else:
            arg = p
        m.integrate(f, arg, instances=frames["instances"][i] if instances else None, weight=weight)
    return m


def _assert_same_map(a, b):
    x, y = ref.map_arrays(a), ref.map_arrays(b)
    assert set(x) == set(y)
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    np.testing.assert_array_equal(a._logev[: len(a)], b._logev[: len(b)])


@pytest.mark.parametrize(
    "layout, c_in, instances, weight",
    [("result", 14, False, 1.0), ("chw", 13, False, 1.0), ("chw_strided", 14, True, 0.5), ("chw", 14, True, 1.0)],
)
def test_maps_from_the_segmenters_layout_equal_maps_from_channels_last(frames, layout, c_in, instances, weight):
    settings = {"voxel_size_m": 0.05, "truncation_m": 0.15, "pixel_stride": 2}
    got = _fused(frames, layout, c_in, instances, weight, **settings)
    want = _fused(frames, "hwc", c_in, instances, weight, **settings)
    assert (got.fused_labels()[0] > 0).any()
    _assert_same_map(got, want)


def test_probabilities_where_void_wins_leave_the_evidence_alone(frames):
    """Pixels whose void probability beats every class add no evidence, in either layout."""
    fs = ref.make_frames(frames, with_truth=False)
    maps = {k: SemanticMap(pixel_stride=2) for k in ("chw", "hwc")}
    for i, f in enumerate(fs):
        p = ref.class_probs(frames["labels"][i], i)
        p[0, :, : p.shape[2] // 2] = 0.9  # void wins on the left half
        maps["chw"].integrate(f, p)
        maps["hwc"].integrate(f, np.ascontiguousarray(np.moveaxis(p, 0, -1)))
    _assert_same_map(maps["chw"], maps["hwc"])
    cw = maps["chw"]._class_weight[: len(maps["chw"])]
    assert 0 < (cw > 0).sum() < (maps["chw"]._weight[: len(maps["chw"])] > 0).sum()


def test_the_class_scratch_grows_with_the_frames_voxels(frames):
    """A frame with little valid depth, then full ones: the probabilities' scratch grows
    between frames and the map equals one fused channels-last."""
    fs = ref.make_frames(frames, with_truth=False)
    depth = np.zeros_like(fs[0].depth_m)
    depth[20:26, 30:36] = fs[0].depth_m[20:26, 30:36]
    seq = [(fs[0].replace(depth_m=depth), 0)] + [(f, i) for i, f in enumerate(fs)]
    maps = {k: SemanticMap(pixel_stride=1) for k in ("chw", "hwc")}
    rows = []
    for kind, m in maps.items():
        for f, i in seq:
            p = ref.class_probs(frames["labels"][i], i)
            m.integrate(f, p if kind == "chw" else np.ascontiguousarray(np.moveaxis(p, 0, -1)))
            if kind == "chw":
                rows.append(m._scratch.class_probs.shape[0])
    assert rows[0] < rows[-1]
    _assert_same_map(maps["chw"], maps["hwc"])


def test_bad_probabilities_without_void_raise_and_leave_the_map_unchanged(frames):
    fs = ref.make_frames(frames, with_truth=False)
    m = SemanticMap(pixel_stride=2)
    m.integrate(fs[0], ref.class_probs(frames["labels"][0], 0)[1:])
    before = {k: v.copy() for k, v in ref.map_arrays(m).items()}
    p = ref.class_probs(frames["labels"][1], 1)[1:].copy()
    p[4] = -0.5
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        m.integrate(fs[1], p)
    after = ref.map_arrays(m)
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v, err_msg=k)
    m.integrate(fs[1], ref.class_probs(frames["labels"][1], 1)[1:])  # the next good frame fuses
    assert m.frames_integrated == 2


@pytest.mark.parametrize("void", [True, False])
def test_project_voxels_reads_a_view_of_channels_last_memory_as_the_planes(void):
    c_in = 14 if void else 13
    probs = _random_probs(c_in, 40 * 56, 4)
    view = np.ascontiguousarray(probs.T).T  # (C', H * W) over (H * W, C') memory
    assert not view.flags.c_contiguous
    want, got = _project(probs, min_prob=1e-3), _project(view, min_prob=1e-3)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    bad = np.ascontiguousarray(probs.T)
    bad[want[2][0], 2] = np.nan
    assert _project(bad.T)[5][1] == 0


def test_channels_last_probabilities_are_read_in_place(frames, monkeypatch):
    """A SegmentationResult whose (14, H, W) probabilities are a view of channels-last
    memory, and (H, W, C) arrays: the map reads that memory, no copy, and fuses the map
    of the same probabilities in planes."""
    seen = []
    kernel = fk.project_voxels

    def spy(*args):
        seen.append(args[25])
        return kernel(*args)

    fs = ref.make_frames(frames, with_truth=False)
    planes, inputs = SemanticMap(pixel_stride=2), []
    m = SemanticMap(pixel_stride=2)
    monkeypatch.setattr(fk, "project_voxels", spy)
    for i, f in enumerate(fs):
        p = ref.class_probs(frames["labels"][i], i)
        hwc = np.ascontiguousarray(np.moveaxis(p, 0, -1))
        arg = (
            hwc
            if i % 2
            else SegmentationResult(labels=p.argmax(axis=0).astype(np.uint8), probs=np.moveaxis(hwc, -1, 0))
        )
        inputs.append(hwc)
        m.integrate(f, arg)
        planes.integrate(f, p)
    for hwc, got in zip(inputs, seen[0::2]):
        assert np.shares_memory(got, hwc)
    _assert_same_map(m, planes)
