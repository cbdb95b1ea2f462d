"""Bags whose depth comes from a separate depth camera (own frame_id, CameraInfo and size,
RealSense's default): registered into the colour camera with tf, or refused."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2

from real3d.core import ConfigError, Intrinsics, make_pose
from real3d.geometry import register_depth
from real3d.io import open_sequence
from real3d.io.ros_write import _Messages

CK = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)  # colour camera
DK = Intrinsics(110.0, 110.0, 39.5, 29.5, 80, 60)  # depth camera: its own size
LINK_T_DEPTH = make_pose(np.eye(3), [0.04, 0.0, 0.0])  # colour optical frame = camera_link
T0 = 1_700_000_000 * 10**9


def _depth_mm(k: int) -> np.ndarray:
    d = np.full((60, 80), 2000 + 100 * k, np.uint16)
    d[20:30, 30:45] = 1200
    return d


def _write(path, *, depth_info=True, tf=True, depth_frame="depth_opt", units_per_mm=1, float_depth=False):
    m = _Messages(ros1=False)
    with Writer2(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        topics = [
            ("rgb", "/camera/color/image_raw", "sensor_msgs/msg/Image"),
            ("cinf", "/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
            ("dep", "/camera/depth/image_rect_raw", "sensor_msgs/msg/Image"),
        ]
        if depth_info:
            topics.append(("dinf", "/camera/depth/camera_info", "sensor_msgs/msg/CameraInfo"))
        if tf:
            topics.append(("tfs", "/tf_static", "tf2_msgs/msg/TFMessage"))
        c = {k: w.add_connection(t, ty, typestore=m.ts) for k, t, ty in topics}

        def put(key, t, msg):
            w.write(c[key], t, m.serialize(msg, c[key].msgtype))

        if tf:
            put("tfs", T0, m.tf(T0, "camera_link", "color_opt", np.eye(4)))
            put("tfs", T0, m.tf(T0, "camera_link", depth_frame, LINK_T_DEPTH))
        for k in range(2):
            t = T0 + k * 100_000_000
            put("cinf", t, m.camera_info(t, "color_opt", CK))
            put("rgb", t, m.image(t, "color_opt", np.full((48, 64, 3), 60 * k, np.uint8), "rgb8"))
            if depth_info:
                put("dinf", t, m.camera_info(t, depth_frame, DK))
            raw = (_depth_mm(k).astype(np.uint32) * units_per_mm).astype(np.uint16)
            if float_depth:
                f = raw.astype(np.float32) / 1000
                f[:5, :5] = np.nan  # no measurement
                put("dep", t + 1000, m.image(t + 1000, depth_frame, f, "32FC1"))
            else:
                put("dep", t + 1000, m.image(t + 1000, depth_frame, raw, "16UC1"))
    return path


def test_separate_depth_camera_is_registered_into_colour(tmp_path):
    path = _write(tmp_path / "rec")
    with open_sequence(path) as seq:
        assert seq.depth_camera_info_topic == "/camera/depth/camera_info"
        assert seq.info.extra["depth_camera_info_topic"] == "/camera/depth/camera_info"
        frames = list(seq)
    assert len(frames) == 2
    for k, f in enumerate(frames):
        assert f.depth_m.shape == (48, 64) and f.intrinsics == CK
        expect = register_depth(_depth_mm(k).astype(np.float32) / 1000, DK, CK, LINK_T_DEPTH)
        np.testing.assert_array_equal(f.depth_m, expect)
        # the near box is nearer than the wall in the colour image too
        assert f.depth_m.max() == pytest.approx(2.0 + 0.1 * k) and f.depth_m[f.depth_m > 0].min() == pytest.approx(1.2)


def test_depth_scale_applies_before_registration(tmp_path):
    path = _write(tmp_path / "rec", units_per_mm=2)  # half-millimetres
    with open_sequence(path, depth_scale_m=0.0005) as seq:
        f = seq[0]
    np.testing.assert_allclose(
        f.depth_m, register_depth(_depth_mm(0).astype(np.float32) / 1000, DK, CK, LINK_T_DEPTH), rtol=1e-6
    )


def test_without_the_depth_camera_info_it_is_refused_not_stretched(tmp_path):
    path = _write(tmp_path / "rec", depth_info=False)
    with open_sequence(path) as seq:
        with pytest.raises(ConfigError, match=r"in frame 'depth_opt' \(80 x 60\).*'color_opt' \(64 x 48\)"):
            seq[0]
    with open_sequence(path) as seq:
        with pytest.raises(ConfigError, match="no CameraInfo of the depth camera"):
            list(seq)  # every frame would be wrong: the reading stops, no frame is skipped


def test_without_tf_between_the_cameras_it_is_refused_or_uses_the_given_transform(tmp_path):
    path = _write(tmp_path / "rec", tf=False)
    with open_sequence(path) as seq:
        with pytest.raises(ConfigError, match="no transform between 'color_opt' and 'depth_opt'"):
            seq[0]
    with open_sequence(path, color_T_depth=LINK_T_DEPTH) as seq:
        f = seq[1]
    np.testing.assert_array_equal(
        f.depth_m, register_depth(_depth_mm(1).astype(np.float32) / 1000, DK, CK, LINK_T_DEPTH)
    )
    with pytest.raises(ConfigError, match="color_T_depth"):
        open_sequence(path, color_T_depth=np.eye(3))


def test_declared_aligned_depth_is_not_registered(tmp_path):
    path = _write(tmp_path / "rec")
    with open_sequence(path, depth_aligned=True) as seq:
        f = seq[0]
    # the same camera, another size: depth is the geometric reference (the reader's rule)
    assert f.depth_m.shape == (60, 80)
    np.testing.assert_array_equal(f.depth_m, _depth_mm(0).astype(np.float32) / 1000)


def test_real3d_run_refuses_unregistered_depth_at_once(tmp_path):
    from typer.testing import CliRunner

    from real3d.cli.main import app

    path = _write(tmp_path / "rec", depth_info=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--model", "rgbd-tiny"])
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)
    assert "depth not registered to colour" in str(r.exception) and "--depth-info-topic" in str(r.exception)
    assert not out.exists()
    # with the depth camera's CameraInfo named, the same command registers and runs
    path2 = _write(tmp_path / "rec2")
    r = CliRunner().invoke(
        app,
        ["info", str(path2), "--depth-info-topic", "/camera/depth/camera_info", "-n", "1"],
        terminal_width=200,
    )
    assert r.exit_code == 0, r.output
    assert "64 x 48" in r.output and "depth_camera_info_topic" in r.output


def test_info_shows_the_topics_and_the_registration_problem(tmp_path):
    from typer.testing import CliRunner

    from real3d.cli.main import app

    path = _write(tmp_path / "rec", depth_info=False)
    r = CliRunner().invoke(app, ["info", str(path)], terminal_width=200)
    assert r.exit_code == 2
    assert "/camera/depth/image_rect_raw [sensor_msgs/Image] x2" in r.output
    assert "error: rosbag: depth on /camera/depth/image_rect_raw is in frame 'depth_opt'" in r.output


def test_float_depth_with_holes_is_registered(tmp_path):
    path = _write(tmp_path / "rec", float_depth=True)
    with open_sequence(path) as seq:
        f = seq[0]
        assert seq.stats.depth_nonfinite_or_negative == 25
    d = _depth_mm(0).astype(np.float32) / 1000
    d[:5, :5] = 0
    np.testing.assert_array_equal(f.depth_m, register_depth(d, DK, CK, LINK_T_DEPTH))
