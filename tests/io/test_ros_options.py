"""RosbagSequence's options the command line passes: topics, the pose topic and the
depth unit (``depth_scale_m``), and the topic list ``info`` shows."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2

from real3d.core import ConfigError, Intrinsics, make_pose
from real3d.io import open_sequence
from real3d.io.ros_write import _Messages, write_rgbd_bag

H, W = 12, 16
K = Intrinsics(20.0, 21.0, 7.5, 5.5, W, H)
T0 = 1_700_000_000 * 10**9


def _frames(n=3):
    rng = np.random.default_rng(2)
    return [
        (
            rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            rng.integers(300, 5000, (H, W)).astype(np.uint16),
            make_pose(np.eye(3), [0.1 * k, 0.0, 0.0]),
        )
        for k in range(n)
    ]


def _odom(m: _Messages, t_ns: int, parent: str, child: str, xyz):
    T = m.T
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=xyz[0], y=xyz[1], z=xyz[2]),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
    )
    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    return T["nav_msgs/msg/Odometry"](
        header=m.header(t_ns, parent),
        child_frame_id=child,
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](
            twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero), covariance=np.zeros(36)
        ),
    )


def _two_pose_sources(path):
    """Colour + depth + camera info; poses both on /tf (map -> cam, along x) and on
    /odom (odom -> cam, along y)."""
    m = _Messages(ros1=False)
    with Writer2(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = {
            name: w.add_connection(topic, ty, typestore=m.ts)
            for name, topic, ty in (
                ("rgb", "/cam/color", "sensor_msgs/msg/Image"),
                ("dep", "/cam/depth", "sensor_msgs/msg/Image"),
                ("inf", "/cam/color/camera_info", "sensor_msgs/msg/CameraInfo"),
                ("tf", "/tf", "tf2_msgs/msg/TFMessage"),
                ("odom", "/odom", "nav_msgs/msg/Odometry"),
            )
        }

        def put(key, t, msg):
            w.write(c[key], t, m.serialize(msg, c[key].msgtype))

        for k, (rgb, mm, _) in enumerate(_frames()):
            t = T0 + k * 100_000_000
            put("tf", t, m.tf(t, "map", "cam", make_pose(np.eye(3), [0.1 * k, 0, 0])))
            put("odom", t, _odom(m, t, "odom", "cam", (0.0, 0.2 * k, 0.0)))
            put("inf", t, m.camera_info(t, "cam", K))
            put("rgb", t, m.image(t, "cam", rgb, "rgb8"))
            put("dep", t + 1000, m.image(t + 1000, "cam", mm, "16UC1"))
    return path


@pytest.mark.parametrize("topic,axis,step", [("/tf", 0, 0.1), ("/odom", 1, 0.2)])
def test_pose_topic_selects_the_pose_source(tmp_path, topic, axis, step):
    path = _two_pose_sources(tmp_path / "rec")
    with open_sequence(path, pose_topic=topic) as seq:
        assert seq.info.extra["pose_topic"] == topic
        poses = [f.world_T_cam for f in seq]
    assert len(poses) == 3
    for k, T in enumerate(poses):
        expect = np.zeros(3)
        expect[axis] = step * k
        np.testing.assert_allclose(T[:3, 3], expect, atol=1e-9)


def test_topics_given_and_listed(tmp_path):
    path = _two_pose_sources(tmp_path / "rec")
    with open_sequence(path, rgb_topic="/cam/color", depth_topic="/cam/depth") as seq:
        topics = seq.info.extra["topics"]
        assert seq.topic_counts["/cam/color"] == ("sensor_msgs/msg/Image", 3)
    assert "/odom [nav_msgs/Odometry] x3" in topics and "/cam/depth [sensor_msgs/Image] x3" in topics


@pytest.mark.parametrize(
    "opts,match",
    [
        ({"rgb_topic": "/nope"}, "no topic '/nope'"),
        ({"rgb_topic": "/odom"}, "colour topic '/odom' carries nav_msgs/msg/Odometry"),
        ({"depth_topic": "/cam/color/camera_info"}, "depth topic"),
        ({"camera_info_topic": "/cam/depth"}, "camera info topic"),
        ({"pose_topic": "/cam/color"}, r"pose topic '/cam/color' carries .*Such topics: /tf, /odom"),
    ],
)
def test_wrong_topics_are_refused(tmp_path, opts, match):
    path = _two_pose_sources(tmp_path / "rec")
    with pytest.raises(ConfigError, match=match):
        open_sequence(path, **opts)


def test_depth_scale_on_a_millimetre_bag(tmp_path):
    frames = _frames(2)
    write_rgbd_bag(tmp_path / "b.bag", frames, K)
    with open_sequence(tmp_path / "b.bag") as seq:
        assert seq.assumed_depth_unit_m() is None  # known once a depth message is decoded
        f = seq[0]
        assert seq.assumed_depth_unit_m() == 1e-3
    np.testing.assert_allclose(f.depth_m, frames[0][1] / np.float32(1000), rtol=1e-6)
    with open_sequence(tmp_path / "b.bag", depth_scale_m=1e-4) as seq:
        got = list(seq)
    np.testing.assert_allclose(got[1].depth_m, frames[1][1] * np.float32(1e-4), rtol=1e-6)
