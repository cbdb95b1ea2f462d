"""NYU Depth v2: shipped tables, a labeled .mat written with h5py, raw dumps and registration."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from real3d.core import ConfigError, FormatError, map_labels
from real3d.io import NYURawSequence, NYUv2LabeledSequence, open_sequence, register_depth_to_color
from real3d.io.codecs import decode_depth_nyu_disparity, decode_rgb, decode_u16, read_pgm16
from real3d.io.nyu import (
    NYU_COLOR_INTRINSICS,
    gravity_pose,
    nyu894_names,
    nyu894_to_40,
    nyu_gravity_rotations,
    nyu_splits,
)

NYU_META = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nyuv2_meta"

# -- shipped tables ------------------------------------------------------------------


def test_tables_shape_and_hand_checked_ids():
    t = nyu894_to_40()
    assert t.shape == (895,) and t.dtype == np.uint8 and t[0] == 0
    assert t[1:].min() >= 1 and t[1:].max() == 40
    names = nyu894_names()
    wall = names.index("wall") + 1
    floor = names.index("floor") + 1
    assert t[wall] == 1 and t[floor] == 2  # NYU40 wall, floor
    s = nyu_splits()
    assert len(s["train"]) == 795 and len(s["test"]) == 654
    assert sorted(s["train"] + s["test"]) == list(range(1449))
    R = nyu_gravity_rotations()
    assert R.shape == (1449, 3, 3)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)


def test_tables_match_published_files():
    if not NYU_META.is_dir():
        pytest.skip("NYU metadata folder not present")
    import scipy.io as sio

    m = sio.loadmat(NYU_META / "classMapping40.mat")["mapClass"].ravel()
    np.testing.assert_array_equal(nyu894_to_40()[1:], m)
    tr = sio.loadmat(NYU_META / "splits.mat")["trainNdxs"].ravel() - 1
    assert tuple(tr.tolist()) == nyu_splits()["train"]


def test_gravity_convention():
    # World z up: a camera's image "down" axis points down, and the typical hand-held
    # Kinect looks a little below the horizon.
    T = np.stack([gravity_pose(R) for R in nyu_gravity_rotations()[::7]])
    assert np.all(T[:, 2, 1] < -0.7)
    assert np.median(T[:, 2, 2]) < -0.05


def test_nyu40_to_13_on_real_labels(real):
    s = real / "nyuv2_train_sample"
    l40 = np.asarray(Image.open(s / "decoded_label40_640x480.png"))
    l13 = np.asarray(Image.open(s / "decoded_label13_640x480.png"))
    np.testing.assert_array_equal(map_labels(l40, "nyu40", "nyu13"), l13)


def test_color_intrinsics_are_0_based():
    # published 325.5824 / 253.7362 are MATLAB 1-based pixel coordinates
    assert NYU_COLOR_INTRINSICS.fx == 518.8579
    assert NYU_COLOR_INTRINSICS.cx == pytest.approx(324.5824)
    assert NYU_COLOR_INTRINSICS.cy == pytest.approx(252.7362)


# -- labeled .mat written with h5py --------------------------------------------------

H, W, N = 12, 16, 3


def _write_mat(path, n=N, with_nan=False, drop=None):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 8.0, (n, H, W)).astype(np.float32)
    depth[:, 0, 0] = 0
    if with_nan:
        depth[0, 1, 1] = np.nan
        depth[0, 1, 2] = -1.0
    labels = rng.integers(0, 895, (n, H, W)).astype(np.uint16)
    inst = rng.integers(0, 4, (n, H, W)).astype(np.uint8)
    arrays = {
        # MATLAB is column-major: h5py sees every array transposed
        "images": rgb.transpose(0, 3, 2, 1),
        "depths": depth.transpose(0, 2, 1),
        "rawDepths": (depth * 0.5).transpose(0, 2, 1),
        "labels": labels.transpose(0, 2, 1),
        "instances": inst.transpose(0, 2, 1),
    }
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            if k != drop:
                f.create_dataset(k, data=v, chunks=(1,) + v.shape[1:])
    return rgb, depth, labels, inst


def test_labeled_round_trip(tmp_path):
    p = tmp_path / "nyu_depth_v2_labeled.mat"
    rgb, depth, labels, inst = _write_mat(p)
    with open_sequence(p) as seq:
        assert isinstance(seq, NYUv2LabeledSequence) and len(seq) == N
        assert seq.info.label_set == "nyu13" and seq.info.pose_source is None
        for k, f in enumerate(seq):
            np.testing.assert_array_equal(f.rgb, rgb[k])
            np.testing.assert_array_equal(f.depth_m, depth[k])
            from real3d.core.labels import NYU40_TO_NYU13

            np.testing.assert_array_equal(f.labels, NYU40_TO_NYU13[nyu894_to_40()[labels[k]]])
            want_inst = np.where(inst[k] > 0, labels[k].astype(np.int64) * 1000 + inst[k], 0)
            np.testing.assert_array_equal(f.instances, want_inst)
            assert f.intrinsics == NYU_COLOR_INTRINSICS.resized(W, H)
    with open_sequence(p, label_set="nyu40", depth="raw") as seq:
        f = seq[-1]
        np.testing.assert_array_equal(f.labels, nyu894_to_40()[labels[-1]])
        np.testing.assert_array_equal(f.depth_m, depth[-1] * np.float32(0.5))


def test_labeled_resize_nearest_labels(tmp_path):
    p = tmp_path / "l.mat"
    rgb, depth, labels, _ = _write_mat(p)
    f = open_sequence(p, resize=(6, 8))[0]
    # nearest at pixel centres: output (i, j) takes input (2i, 2j) + 0 for a factor 2
    from real3d.core.labels import NYU40_TO_NYU13

    full = NYU40_TO_NYU13[nyu894_to_40()[labels[0]]]
    np.testing.assert_array_equal(f.labels, full[1::2, 1::2])
    np.testing.assert_array_equal(f.depth_m, depth[0][1::2, 1::2])
    assert f.intrinsics == NYU_COLOR_INTRINSICS.resized(W, H).resized(8, 6)


def test_labeled_nan_and_negative_counted(tmp_path):
    p = tmp_path / "n.mat"
    _write_mat(p, with_nan=True)
    seq = open_sequence(p)
    f = seq[0]
    assert f.depth_m[1, 1] == 0 and f.depth_m[1, 2] == 0
    assert seq.stats.depth_nonfinite_or_negative == 2
    assert seq.stats.depth_invalid_encoded == 1


def test_labeled_reads_one_frame(tmp_path, monkeypatch):
    p = tmp_path / "lazy.mat"
    _write_mat(p)
    seq = open_sequence(p)
    seen = []
    ds = seq._images
    orig = type(ds).__getitem__
    monkeypatch.setattr(type(ds), "__getitem__", lambda self, key: (seen.append(key), orig(self, key))[1])
    seq[1]
    assert 1 in seen and not any(isinstance(k, slice) for k in seen)


def test_labeled_errors(tmp_path):
    p = tmp_path / "x.mat"
    _write_mat(p, drop="depths")
    with pytest.raises(FormatError, match="no 'depths' array"):
        open_sequence(p)
    p2 = tmp_path / "y.mat"
    _write_mat(p2)
    with pytest.raises(FormatError, match="needs the full 1449"):
        open_sequence(p2, split="test")
    with pytest.raises(ConfigError, match="split"):
        open_sequence(p2, split="val")
    v5 = tmp_path / "v5.mat"
    v5.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 200)
    with pytest.raises(FormatError, match="not HDF5"):
        open_sequence(v5)
    cut = tmp_path / "cut.mat"
    cut.write_bytes(p2.read_bytes()[:3000])
    with pytest.raises(FormatError):
        with open_sequence(cut) as seq:
            seq[N - 1]


# -- raw dumps -----------------------------------------------------------------------


def _raw_scene(real, tmp_path):
    root = tmp_path / "kitchen_0001"
    root.mkdir()
    shutil.copy(real / "single_frames" / "NYU_color.ppm", root / "r-1294439283.036458-1.ppm")
    shutil.copy(real / "single_frames" / "NYU_depth.pgm", root / "d-1294439283.032390-2.pgm")
    return root


def _edge_score(rgb, depth):
    """Mean colour-gradient magnitude on depth discontinuities: high when they coincide."""
    g = rgb.mean(2)
    ge = np.hypot(ndimage.sobel(g, 0), ndimage.sobel(g, 1))
    valid = depth > 0
    ld = np.log(np.where(valid, depth, 1.0))
    gd = np.hypot(ndimage.sobel(ld, 0), ndimage.sobel(ld, 1))
    edges = (gd > 0.3) & ndimage.binary_erosion(valid, iterations=2)
    return ge[edges].mean()


def test_raw_unregistered_matches_reference(real, tmp_path):
    root = _raw_scene(real, tmp_path)
    seq = open_sequence(root, register=False)
    assert isinstance(seq, NYURawSequence) and len(seq) == 1
    f = seq[0]
    ref = decode_u16(real / "single_frames" / "NYU_depth_decoded_mm_UNREGISTERED_depthcam.png")
    np.testing.assert_array_equal(np.rint(f.depth_m * 1000).astype(np.uint16), ref)
    assert f.meta["registered"] is False


def test_raw_registration_aligns_edges(real, tmp_path):
    root = _raw_scene(real, tmp_path)
    seq = open_sequence(root)
    f = seq[0]
    assert f.intrinsics == NYU_COLOR_INTRINSICS and f.meta["registered"]
    v = f.depth_m[f.depth_m > 0]
    assert 0.5 < np.median(v) < 5.0 and v.size > 0.6 * f.depth_m.size
    s0 = _edge_score(f.rgb, f.depth_m)
    # registered depth edges sit on colour edges better than shifted or unregistered ones
    for shift in (-8, 8):
        assert s0 > 1.1 * _edge_score(f.rgb, np.roll(f.depth_m, shift, axis=1))
    raw, _ = decode_depth_nyu_disparity(read_pgm16(root / "d-1294439283.032390-2.pgm", "little"))
    raw = np.where(raw > 0, raw, 0).astype(np.float32)
    assert s0 > 1.3 * _edge_score(decode_rgb(root / "r-1294439283.036458-1.ppm"), raw)
    assert seq.stats.depth_invalid_encoded == int(
        (read_pgm16(root / "d-1294439283.032390-2.pgm", "little") >= 2047).sum()
    )


def test_register_identity_is_a_no_op():
    d = np.zeros((6, 8), np.float32)
    d[2, 3] = 2.0
    d[4, 5] = 1.0
    K = NYU_COLOR_INTRINSICS.resized(8, 6)
    out = register_depth_to_color(d, K, K, np.eye(3), np.zeros(3))
    np.testing.assert_array_equal(out, d)


def test_raw_written_dump_round_trip(tmp_path):
    rng = np.random.default_rng(8)
    root = tmp_path / "office_0001"
    root.mkdir()
    disp = rng.integers(400, 1000, (6, 8)).astype(np.uint16)
    disp[0, 0] = 2047  # no measurement
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    # NYU dumps: 16-bit PGM with the samples byte-swapped against the standard
    (root / "d-100.000000-1.pgm").write_bytes(b"P5\n8 6\n65535\n" + disp.astype("<u2").tobytes())
    Image.fromarray(rgb).save(root / "r-100.010000-2.ppm")
    (root / "r-200.000000-3.ppm").write_bytes(b"")  # unpaired colour frame: ignored
    seq = open_sequence(root, register=False)
    assert seq.format == "nyu_raw" and len(seq) == 1
    f = seq[0]
    np.testing.assert_array_equal(f.rgb, rgb)
    want = np.where(disp >= 2047, 0, 351.3 / (1092.5 - disp.astype(np.float32)))
    np.testing.assert_allclose(f.depth_m, want, rtol=1e-6)
    assert f.timestamp_s == 100.0 and seq.stats.depth_invalid_encoded == 1
