"""TUM RGB-D: text lists written here, association, ground-truth interpolation; real frames."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from real3d.core import ConfigError, FormatError, Intrinsics
from real3d.io import TUMSequence, open_sequence, tum_intrinsics
from real3d.io.codecs import decode_depth_tum, decode_u16
from real3d.io.tum import associate


def _write_tum(root, n=4):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(3)
    rgb_lines, depth_lines, data = ["# colour images"], ["# depth maps"], []
    for k in range(n):
        t = 100.0 + 0.1 * k
        rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        raw = rng.integers(0, 40000, (480, 640)).astype(np.uint16)
        Image.fromarray(rgb).save(root / "rgb" / f"{t:.6f}.png")
        td = t + 0.007  # depth 7 ms after colour
        Image.fromarray(raw).save(root / "depth" / f"{td:.6f}.png")
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
        depth_lines.append(f"{td:.6f} depth/{td:.6f}.png")
        data.append((t, rgb, raw))
    # an unmatched depth frame far from any colour frame
    depth_lines.append("200.000000 depth/missing.png")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    # ground truth at 100 Hz offset by 5 ms: x = t - 100, rotation about z by (t - 100) rad
    gt = ["# timestamp tx ty tz qx qy qz qw"]
    for t in np.arange(99.995, 100.5, 0.01):
        a = t - 100.0
        gt.append(f"{t:.6f} {a:.6f} 0 0 0 0 {np.sin(a / 2):.9f} {np.cos(a / 2):.9f}")
    (root / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    return data


def test_tum_round_trip(tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg3_test"
    data = _write_tum(root)
    seq = open_sequence(root)
    assert isinstance(seq, TUMSequence) and len(seq) == 4
    assert seq.camera == "freiburg3"
    for f, (t, rgb, raw) in zip(seq, data):
        assert f.timestamp_s == pytest.approx(t)
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth_m, raw.astype(np.float32) / np.float32(5000))
        assert f.intrinsics == Intrinsics(535.4, 539.2, 320.1, 247.6, 640, 480)
        # interpolated between the 5 ms-offset samples: exactly the analytic pose
        a = t - 100.0
        np.testing.assert_allclose(f.world_T_cam[0, 3], a, atol=1e-6)
        np.testing.assert_allclose(f.world_T_cam[:2, :2], [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], atol=1e-6)


def test_tum_missing_image_is_skipped(tmp_path):
    root = tmp_path / "seq"
    _write_tum(root)
    (root / "rgb" / f"{100.1:.6f}.png").unlink()
    seq = open_sequence(root)
    with pytest.warns(UserWarning, match="not found"):
        got = list(seq)
    assert len(got) == 3 and seq.skipped[0].index == 1
    assert seq.camera == "default"  # name says nothing about the sensor


def test_tum_missing_list(tmp_path):
    root = tmp_path / "seq"
    _write_tum(root)
    (root / "depth.txt").unlink()
    with pytest.raises(FormatError, match="depth.txt"):
        TUMSequence(root)


def test_tum_bad_groundtruth(tmp_path):
    root = tmp_path / "seq"
    _write_tum(root)
    (root / "groundtruth.txt").write_text("1.0 2 3\n")
    with pytest.raises(FormatError, match="8 numbers"):
        TUMSequence(root)


def test_associate_one_to_one():
    pairs = associate(np.array([0.0, 0.01, 1.0]), np.array([0.012, 0.5]), 0.02)
    assert pairs == [(1, 0)]  # the closer colour frame wins depth 0


def test_tum_intrinsics_table():
    assert tum_intrinsics("freiburg1").fx == 517.3
    assert tum_intrinsics("freiburg2", 320, 240).fx == pytest.approx(260.45)
    with pytest.raises(ConfigError, match="freiburg"):
        tum_intrinsics("freiburg9")


def test_tum_pair_real_frames(real):
    # freiburg camera of the README: 520.9, 521.0, 325.1, 249.7
    assert tum_intrinsics("freiburg2") == Intrinsics(520.9, 521.0, 325.1, 249.7, 640, 480)
    for k in (1, 2):
        d, _ = decode_depth_tum(decode_u16(real / "tum_pair" / f"{k}_depth.png"))
        v = d[d > 0]
        assert 0.3 < np.median(v) < 4.0 and v.max() < 12.0
