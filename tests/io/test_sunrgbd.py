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
