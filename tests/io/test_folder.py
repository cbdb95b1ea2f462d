"""Plain colour + depth folders: the real Kinect capture with its pose list, and failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from real3d.core import FormatError, Intrinsics
from real3d.io import FolderSequence, open_sequence

JOINMAP_K = Intrinsics(518.0, 519.0, 325.5, 253.5, 640, 480)


def test_joinmap_frames_poses_and_depth(real):
    root = real / "joinmap_kinect_seq"
    seq = open_sequence(root, intrinsics=JOINMAP_K)
    assert isinstance(seq, FolderSequence) and len(seq) == 5
    lines = np.loadtxt(root / "pose.txt")
    frames = list(seq)
    for f, row in zip(frames, lines):
        assert f.rgb.shape == (480, 640, 3) and f.depth_m.shape == (480, 640)
        assert f.intrinsics == JOINMAP_K
        # independent quaternion convention check (scipy: x, y, z, w)
        np.testing.assert_allclose(f.world_T_cam[:3, :3], Rotation.from_quat(row[3:]).as_matrix(), atol=1e-6)
        np.testing.assert_allclose(f.world_T_cam[:3, 3], row[:3])
        v = f.depth_m[f.depth_m > 0]
        assert 0.5 < np.median(v) < 6.0 and v.max() < 12.0
        assert 0.5 < v.size / f.depth_m.size < 0.95
    # the camera moves about 2.3 m over the 5 frames
    assert np.linalg.norm(frames[-1].world_T_cam[:3, 3] - frames[0].world_T_cam[:3, 3]) > 1.5
    s = seq.stats
    assert s.frames_decoded == 5 and s.depth_pixels == 5 * 640 * 480
    assert s.depth_invalid_encoded + s.depth_valid == s.depth_pixels


def test_joinmap_without_intrinsics(real):
    seq = open_sequence(real / "joinmap_kinect_seq", max_frames=2)
    with pytest.raises(FormatError, match="no camera intrinsics"):
        seq[0]
    with pytest.warns(UserWarning, match="skipping frame"):
        assert list(seq) == []
    assert [s.index for s in seq.skipped] == [0, 1]
    with pytest.raises(FormatError, match="intrinsics"):
        list(open_sequence(real / "joinmap_kinect_seq", strict=True))


def _write_folder(root, n=3, h=6, w=8, poses=True, intr=True):
    (root / "color").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(1)
    out = []
    for k in range(n):
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mm = rng.integers(0, 9000, (h, w)).astype(np.uint16)
        Image.fromarray(rgb).save(root / "color" / f"{k + 1}.png")
        Image.fromarray(mm).save(root / "depth" / f"{k + 1}.png")
        out.append((rgb, mm))
    if poses:
        (root / "pose.txt").write_text("".join(f"{k} 0 0 0 0 0 1\n" for k in range(n)))
    if intr:
        (root / "intrinsics.json").write_text(
            json.dumps({"fx": 10.0, "fy": 10.0, "cx": 3.5, "cy": 2.5, "width": w, "height": h})
        )
    return out


def test_folder_round_trip_and_options(tmp_path):
    data = _write_folder(tmp_path / "f")
    seq = open_sequence(tmp_path / "f")
    assert seq.info.intrinsics == Intrinsics(10, 10, 3.5, 2.5, 8, 6)
    for f, (rgb, mm) in zip(seq, data):
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth_m, mm / np.float32(1000))
    # depth range clamp: pixels outside [0.5, 4] m become 0 and are counted
    seq = open_sequence(tmp_path / "f", depth_range_m=(0.5, 4.0), stride=2)
    got = list(seq)
    assert [f.index for f in got] == [0, 1] and len(seq) == 2
    for f, (_, mm) in zip(got, data[::2]):
        want = np.where((mm >= 500) & (mm <= 4000), mm / np.float32(1000), 0)
        np.testing.assert_array_equal(f.depth_m, want)
    n_out = sum(int(((mm > 0) & ((mm < 500) | (mm > 4000))).sum()) for _, mm in data[::2])
    assert seq.stats.depth_out_of_range == n_out


def test_folder_pose_count_mismatch(tmp_path):
    _write_folder(tmp_path / "f", poses=False)
    (tmp_path / "f" / "pose.txt").write_text("0 0 0 0 0 0 1\n")
    with pytest.raises(FormatError, match="1 poses for 3 frames"):
        open_sequence(tmp_path / "f")


def test_folder_bad_pose_line(tmp_path):
    _write_folder(tmp_path / "f", poses=False)
    (tmp_path / "f" / "pose.txt").write_text("0 0 0 0 0 1\n" * 3)
    with pytest.raises(FormatError, match="expected 7 numbers"):
        open_sequence(tmp_path / "f")


def test_folder_corrupt_frame_skipped(tmp_path):
    _write_folder(tmp_path / "f")
    p = tmp_path / "f" / "depth" / "2.png"
    p.write_bytes(p.read_bytes()[:40])
    seq = open_sequence(tmp_path / "f")
    with pytest.warns(UserWarning):
        got = list(seq)
    assert [f.index for f in got] == [0, 2]
    assert seq.skipped[0].index == 1 and "2.png" in seq.skipped[0].reason


def test_flat_pairs_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    want = []
    for i in (2, 10):  # natural order: 2 before 10
        rgb = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        mm = rng.integers(1, 20000, (6, 8)).astype(np.uint16)
        Image.fromarray(rgb).save(tmp_path / f"{i}.png")
        Image.fromarray(mm).save(tmp_path / f"{i}_depth.png")
        want.append((rgb, mm))
    K = Intrinsics(5.0, 5.0, 3.5, 2.5, 8, 6)
    seq = open_sequence(tmp_path, depth_encoding="tum", intrinsics=K)
    assert seq.info.format == "pairs" and len(seq) == 2
    for f, (rgb, mm) in zip(seq, want):
        assert np.array_equal(f.rgb, rgb)
        assert np.allclose(f.depth_m, mm.astype(np.float32) / 5000.0)


def test_flat_pairs_real_tum(real):
    seq = open_sequence(
        real / "tum_pair", depth_encoding="tum", intrinsics=Intrinsics(520.9, 521.0, 325.1, 249.7, 640, 480)
    )
    f = seq[0]
    valid = f.depth_m[f.depth_m > 0]
    assert len(seq) == 2 and 0.3 < np.median(valid) < 6.0 and valid.max() < 12.0
