"""SUN RGB-D scene folders: reference decodings, intrinsics and gravity from the real samples."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from real3d.core import FormatError
from real3d.io import SUNRGBDSequence, open_sequence
from real3d.io.codecs import decode_u16


def test_sunrgbd_samples(real):
    root = real / "sunrgbd"
    seq = open_sequence(root)
    assert isinstance(seq, SUNRGBDSequence) and len(seq) == 2
    for f, scene in zip(seq, sorted(p for p in root.iterdir() if p.is_dir())):
        ref = next((scene / "depth").glob("*.decoded_mm.png"))
        np.testing.assert_array_equal(f.depth_m, decode_u16(ref) / np.float32(1000))
        K = np.loadtxt(scene / "intrinsics.txt")
        assert (f.intrinsics.fx, f.intrinsics.cx, f.intrinsics.cy) == (K[0, 0], K[0, 2], K[1, 2])
        assert f.intrinsics.size_hw == f.depth_m.shape == f.rgb.shape[:2]
        # gravity pose: world z up, camera at the origin, looking 10-30 degrees down
        T = f.world_T_cam
        assert np.allclose(T[:3, 3], 0) and np.isclose(np.linalg.det(T[:3, :3]), 1)
        forward_z = T[2, 2]
        assert -0.5 < forward_z < -0.15
        assert T[2, 1] < -0.9  # image "down" points down
        assert f.meta["scene_type"] == "office"
    assert seq.info.pose_source.startswith("gravity")
    sizes = {f.size_hw for f in seq}
    assert sizes == {(530, 730), (427, 561)}


def test_sunrgbd_filled_depth(real):
    scene = real / "sunrgbd" / "img_0063"
    f = open_sequence(scene, depth="filled")[0]
    ref = next((scene / "depth_bfx").glob("*.decoded_mm.png"))
    np.testing.assert_array_equal(f.depth_m, decode_u16(ref) / np.float32(1000))
    raw = open_sequence(scene)[0]
    assert (f.depth_m > 0).sum() > (raw.depth_m > 0).sum()  # holes filled


def test_sunrgbd_missing_intrinsics(real, tmp_path):
    scene = tmp_path / "img_0063"
    shutil.copytree(real / "sunrgbd" / "img_0063", scene)
    (scene / "intrinsics.txt").write_text("520 0 277\n0 520\n")
    with pytest.raises(FormatError, match="9 numbers"):
        open_sequence(scene, strict=True)[0]
    (scene / "intrinsics.txt").unlink()
    with pytest.raises(FormatError):
        open_sequence(scene, format="sunrgbd")


def test_sunrgbd_written_scene_round_trip(tmp_path):
    from PIL import Image

    scene = tmp_path / "scene_a"
    for d in ("image", "depth", "extrinsics"):
        (scene / d).mkdir(parents=True)
    rng = np.random.default_rng(9)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    mm = rng.integers(0, 8000, (6, 8)).astype(np.uint16)
    stored = ((mm << np.uint16(3)) | (mm >> np.uint16(13))).astype(np.uint16)  # SUN rotation
    Image.fromarray(rgb).save(scene / "image" / "a.png")
    Image.fromarray(stored).save(scene / "depth" / "a.png")
    (scene / "intrinsics.txt").write_text("10 0 3.5\n0 11 2.5\n0 0 1\n")
    (scene / "extrinsics" / "1.txt").write_text("9 9 9 0\n9 9 9 0\n9 9 9 0\n")  # superseded
    (scene / "extrinsics" / "2.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    f = open_sequence(scene)[0]
    np.testing.assert_array_equal(f.rgb, rgb)
    np.testing.assert_array_equal(f.depth_m, mm / np.float32(1000))
    assert (f.intrinsics.fx, f.intrinsics.fy, f.intrinsics.cx) == (10, 11, 3.5)
    # identity Rtilt: a level camera; its forward axis is world +y, image down is world -z
    np.testing.assert_allclose(f.world_T_cam[:3, :3], [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
