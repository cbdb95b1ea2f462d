"""RGB-D frames written as ROS bags with real3d.io.ros_write and read back with open_sequence."""

import numpy as np
import pytest

from real3d.core import ConfigError, InputError, Intrinsics, make_pose
from real3d.io import RosbagSequence, detect_format, open_sequence
from real3d.io.ros_write import COLOR_TOPIC, DEPTH_TOPIC, write_rgbd_bag

H, W = 12, 16
K = Intrinsics(20.0, 21.0, 7.5, 5.5, W, H)


def _frames(n=3, poses=True):
    rng = np.random.default_rng(1)
    out = []
    for k in range(n):
        rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        mm = rng.integers(300, 5000, (H, W)).astype(np.uint16)
        mm[0, :2] = 0
        c, s = np.cos(0.3 * k), np.sin(0.3 * k)
        T = make_pose(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]), [0.1 * k, 0.0, 0.5]) if poses else None
        out.append((rgb, mm, T))
    return out


@pytest.mark.parametrize("kind", ["ros1", "mcap"])
def test_written_bag_reads_back_exactly(tmp_path, kind):
    path = tmp_path / ("rec.bag" if kind == "ros1" else "rec")
    frames = _frames()
    assert write_rgbd_bag(path, frames, K, kind=kind, period_s=0.1) == 3
    assert detect_format(path) == "rosbag"
    with open_sequence(path) as seq:
        assert isinstance(seq, RosbagSequence)
        assert (seq.rgb_topic, seq.depth_topic) == (COLOR_TOPIC, DEPTH_TOPIC)
        got = list(seq)
    assert len(got) == 3
    for f, (rgb, mm, T) in zip(got, frames):
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth_m, mm.astype(np.float32) / 1000)
        assert f.intrinsics == K
        np.testing.assert_allclose(f.world_T_cam, T, atol=1e-6)
    assert got[1].timestamp_s - got[0].timestamp_s == pytest.approx(0.1)


def test_without_poses_there_is_no_tf(tmp_path):
    write_rgbd_bag(tmp_path / "p.bag", _frames(2, poses=False), K)
    with open_sequence(tmp_path / "p.bag") as seq:
        assert "/tf" not in seq.topics
        assert len(list(seq)) == 2


def test_bad_inputs_raise(tmp_path):
    rgb, mm, T = _frames(1)[0]
    with pytest.raises(ConfigError, match="kind"):
        write_rgbd_bag(tmp_path / "a.bag", [(rgb, mm, T)], K, kind="ros3")
    with pytest.raises(InputError, match="depth_mm expected"):
        write_rgbd_bag(tmp_path / "b.bag", [(rgb, mm.astype(np.float32), T)], K)
    with pytest.raises(InputError, match="rgb expected"):
        write_rgbd_bag(tmp_path / "c.bag", [(rgb[:, :-1], mm, T)], K)
