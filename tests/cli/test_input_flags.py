"""The input options ``real3d run`` and ``real3d info`` share: --depth-scale, the ROS bag
topic flags, and the depth-scale plausibility warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from real3d.cli.info_cmd import depth_scale_warning, input_options
from real3d.cli.main import app
from real3d.core import ConfigError, Intrinsics
from real3d.io.ros_write import DEPTH_TOPIC, write_rgbd_bag

TINY = ["--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
INTR = "40,40,31.5,23.5,64,48"


def _tenth_mm_pairs(root, n=2):
    """A capture whose depth is stored in tenths of a millimetre: 1.5 m = 15000."""
    root.mkdir()
    for k in range(n):
        Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(root / f"{k}.png")
        d = np.full((48, 64), 15000, np.uint16)
        d[:, :8] = 30000  # a wall 3 m away
        Image.fromarray(d).save(root / f"{k}_depth.png")
    return root


def test_warning_fires_on_tenth_millimetres_read_as_millimetres(tmp_path):
    root = _tenth_mm_pairs(tmp_path / "p")
    r = CliRunner().invoke(app, ["info", str(root), "--intrinsics", INTR], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "median 15.000" in r.output
    assert "unlike a room" in r.output and "try --depth-scale 0.0001" in r.output
    r = CliRunner().invoke(
        app, ["info", str(root), "--intrinsics", INTR, "--depth-scale", "0.0001"], terminal_width=200
    )
    assert r.exit_code == 0, r.output
    assert "median 1.500" in r.output and "plausible for a room" in r.output
    assert "unlike a room" not in r.output


def test_depth_scale_warning_values():
    room = np.full((10, 10), 2.0, np.float32)
    assert depth_scale_warning(room, 1e-3) is None
    # the example: median 7.7 m, max 52 m
    far = np.full((10, 10), 7.7, np.float32)
    far[0, 0] = 52.0
    w = depth_scale_warning(far, 1e-3)
    assert w is not None and "median 7.7 m, max 52 m" in w and "--depth-scale 0.0002" in w
    assert depth_scale_warning(np.zeros((4, 4)), 1e-3) is None
    assert "try" not in depth_scale_warning(far, None)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"depth_scale": 1000.0}, r"units per metre\? pass 0.001"),
        ({"depth_scale": 0.0}, "--depth-scale"),
        ({"rgb_topic": "/camera/color"}, "--rgb-topic: for ROS bag inputs only"),
        ({"pose_topic": "/odom", "world_frame": "map"}, "--pose-topic, --world-frame: for ROS bag"),
    ],
)
def test_input_options_refuse_what_does_not_fit(tmp_path, kw, match):
    root = _tenth_mm_pairs(tmp_path / "p")
    with pytest.raises(ConfigError, match=match):
        input_options(root, None, **kw)


def test_depth_encoding_only_for_folders(tmp_path):
    write_rgbd_bag(tmp_path / "b.bag", [_bag_frame()], Intrinsics(40, 40, 31.5, 23.5, 64, 48))
    with pytest.raises(ConfigError, match="--depth-encoding applies to plain folders"):
        input_options(tmp_path / "b.bag", None, depth_encoding="tum")
    fmt, opts = input_options(tmp_path / "b.bag", None, depth_topic=DEPTH_TOPIC, depth_scale=0.0005, rgb_topic=None)
    assert fmt == "rosbag" and opts == {"depth_topic": DEPTH_TOPIC, "depth_scale_m": 0.0005}


def _bag_frame(k=0):
    from real3d.core import make_pose

    rgb = np.full((48, 64, 3), 100 + 20 * k, np.uint8)
    rgb[:, 32:] = 200
    mm = np.full((48, 64), 3000, np.uint16)  # stored in half-millimetres: 1.5 m
    mm[30:] = 2400
    return rgb, mm, make_pose(np.eye(3), [0.02 * k, 0.0, 0.0])


def test_info_on_a_bag_lists_topics_and_takes_bag_flags(tmp_path):
    write_rgbd_bag(tmp_path / "b.bag", [_bag_frame(k) for k in range(2)], Intrinsics(40, 40, 31.5, 23.5, 64, 48))
    r = CliRunner().invoke(app, ["info", str(tmp_path / "b.bag"), "--world-frame", "odom"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "topics:" in r.output
    for line in ("/camera/color/image_raw [sensor_msgs/Image] x2", "/tf [tf2_msgs/TFMessage] x2"):
        assert line in r.output
    r = CliRunner().invoke(app, ["info", str(tmp_path / "b.bag"), "--rgb-topic", "/tf"], terminal_width=200)
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)
    assert "colour topic '/tf'" in str(r.exception)


def test_run_on_a_bag_with_topics_and_depth_scale(tmp_path):
    write_rgbd_bag(tmp_path / "b.bag", [_bag_frame(k) for k in range(3)], Intrinsics(40, 40, 31.5, 23.5, 64, 48))
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "b.bag"), "--out", str(out), *TINY, "--depth-topic", DEPTH_TOPIC]
    r = CliRunner().invoke(app, [*args, "--depth-scale", "0.0005", "--pose-topic", "/tf", "--gravity", "off"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["settings"]["depth scale"].startswith("0.0005 m per stored unit")
    assert m["settings"]["depth topic"] == DEPTH_TOPIC and m["settings"]["pose topic"] == "/tf"
    assert m["run"]["counts"]["fused"] == 3


def test_run_refuses_bag_flags_for_a_folder_before_any_work(tmp_path):
    root = _tenth_mm_pairs(tmp_path / "p")
    r = CliRunner().invoke(app, ["run", str(root), "--out", str(tmp_path / "o"), "--rgb-topic", "/c", *TINY])
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)
    assert "--rgb-topic: for ROS bag inputs only" in str(r.exception)
    assert not (tmp_path / "o").exists()


def test_run_warns_when_the_first_frame_is_unlike_a_room(tmp_path):
    root = _tenth_mm_pairs(tmp_path / "p", n=1)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(root), "--out", str(out), "--intrinsics", INTR, *TINY])
    assert r.exit_code == 0, r.output
    assert "warning: first frame: depth median 15 m" in r.output and "try --depth-scale 0.0001" in r.output
    m = json.loads((out / "metrics.json").read_text())
    assert "unlike a room" in m["settings"]["depth scale warning"]
    r = CliRunner().invoke(
        app, ["run", str(root), "--out", str(out), "--intrinsics", INTR, "--depth-scale", "0.0001", *TINY]
    )
    assert r.exit_code == 0, r.output
    assert "unlike a room" not in r.output
    assert "depth scale warning" not in json.loads((out / "metrics.json").read_text())["settings"]
