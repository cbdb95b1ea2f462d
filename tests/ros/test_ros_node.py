"""``real3d.ros``: the conversions shared with the results bag, and the node's logic driven
through a small fake of rclpy / tf2_ros / the message packages (no ROS 2 here)."""

from __future__ import annotations

import array
import sys
import types

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from real3d.core import ConfigError, Intrinsics, make_pose, rotation_to_quat
from real3d.io.ros_msgs import decode_image_color, decode_image_depth
from real3d.io.ros_write import (
    CLOUD_TOPIC,
    COSTMAP_TOPIC,
    LABELS_COLOR_TOPIC,
    LABELS_TOPIC,
    MARKERS_TOPIC,
    PATH_TOPIC,
    TF_TOPIC,
    Msg,
    camera_info_msg,
    header_msg,
    image_msg,
    marker_array_msg,
    occupancy_grid_msg,
    path_msg,
    point_cloud_msg,
    pose_msg,
    tf_msg,
    to_rosbags,
)
from real3d.ros import NodeConfig, Pairer, Real3DNode, to_rclpy
from real3d.ros.convert import intrinsics_from_camera_info, matrix_from_transform

GRAPH = {
    "nodes": [
        {
            "id": 3,
            "kind": "object",
            "label": 4,
            "class_name": "chair",
            "centroid": [1.0, 2.0, 0.4],
            "box": {"center": [1.0, 2.0, 0.45], "size": [0.5, 0.6, 0.9], "yaw_rad": 0.5},
        },
        {"id": 5, "kind": "object", "label": 10, "class_name": "table", "centroid": [2.0, 2.0, 0.7], "box": None},
    ],
    "edges": [{"subject": 3, "predicate": "next_to", "object": 5}],
}


# ------------------------------------------------------------------ a fake ROS 2
class FakeMsg:
    """A message class of the fake packages: fields are whatever is set."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _msg_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    classes: dict[str, type] = {}

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr not in classes:
            classes[attr] = type(attr, (FakeMsg,), {"__module__": name})
        return classes[attr]

    mod.__getattr__ = __getattr__
    return mod


class FakePublisher:
    def __init__(self, cls, topic):
        self.cls, self.topic, self.sent = cls, topic, []

    def publish(self, msg):
        assert isinstance(msg, self.cls), f"{self.topic}: {type(msg).__name__} is no {self.cls.__name__}"
        self.sent.append(msg)


class FakeLogger:
    def __init__(self):
        self.lines = []

    def _log(self, level):
        return lambda text: self.lines.append((level, text))

    def __getattr__(self, level):
        return self._log(level)


class FakeNode:
    overrides: dict = {}

    def __init__(self, name):
        self.name, self.params, self.publishers, self.subscriptions, self.timers = name, {}, {}, {}, []
        self.logger = FakeLogger()
        self.destroyed = False

    def declare_parameter(self, name, default):
        self.params[name] = FakeNode.overrides.get(name, default)
        return types.SimpleNamespace(value=self.params[name])

    def get_parameter(self, name):
        return types.SimpleNamespace(value=self.params[name])

    def create_publisher(self, cls, topic, qos):
        self.publishers[topic] = FakePublisher(cls, topic)
        return self.publishers[topic]

    def create_subscription(self, cls, topic, callback, qos):
        self.subscriptions[topic] = (cls, callback)
        return object()

    def create_timer(self, period_s, callback):
        self.timers.append((period_s, callback))
        return object()

    def get_logger(self):
        return self.logger

    def destroy_node(self):
        self.destroyed = True


class FakeTFBuffer:
    """tf2_ros.Buffer holding world -> camera transforms by stamp."""

    transforms: dict = {}

    def lookup_transform(self, target, source, when):
        key = (target, source, when.ns)
        if key not in FakeTFBuffer.transforms:
            raise FakeTransformException(f"{target} -> {source} at {when.ns}")
        return to_rclpy(tf_msg(when.ns, target, source, FakeTFBuffer.transforms[key]), _fake_class).transforms[0]


class FakeTransformException(Exception):
    pass


class FakeTime:
    def __init__(self, seconds=0, nanoseconds=0):
        self.ns = int(seconds) * 10**9 + int(nanoseconds)


PACKAGES = (
    "sensor_msgs",
    "nav_msgs",
    "geometry_msgs",
    "std_msgs",
    "builtin_interfaces",
    "tf2_msgs",
    "visualization_msgs",
)


def _fake_class(msgtype: str):
    pkg, _, name = msgtype.replace("/msg/", "/").partition("/")
    return getattr(sys.modules[f"{pkg}.msg"], name)


@pytest.fixture
def fake_ros(monkeypatch):
    """rclpy, rclpy.node, rclpy.time, tf2_ros and the message packages as small fakes."""
    rclpy = types.ModuleType("rclpy")
    rclpy.node = types.ModuleType("rclpy.node")
    rclpy.node.Node = FakeNode
    rclpy.time = types.ModuleType("rclpy.time")
    rclpy.time.Time = FakeTime
    tf2 = types.ModuleType("tf2_ros")
    tf2.Buffer, tf2.TransformException = FakeTFBuffer, FakeTransformException
    tf2.TransformListener = lambda buffer, node: None
    mods = {"rclpy": rclpy, "rclpy.node": rclpy.node, "rclpy.time": rclpy.time, "tf2_ros": tf2}
    for pkg in PACKAGES:
        mods[pkg] = types.ModuleType(pkg)
        mods[f"{pkg}.msg"] = _msg_module(f"{pkg}.msg")
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(FakeNode, "overrides", {})
    monkeypatch.setattr(FakeTFBuffer, "transforms", {})
    return mods


# ------------------------------------------------------------------ shared conversions
class RclpyImage:
    """Shaped like rclpy's sensor_msgs.msg.Image: sequences are array.array."""

    def __init__(self):
        self.header, self.height, self.width, self.encoding = None, 0, 0, ""
        self.is_bigendian, self.step, self.data = 0, 0, array.array("B")


class RclpyCameraInfo:
    """Shaped like rclpy's CameraInfo: fixed arrays numpy, the distortion an array.array."""

    def __init__(self):
        self.header, self.height, self.width, self.distortion_model = None, 0, 0, ""
        self.d, self.k, self.r, self.p = array.array("d"), np.zeros(9), np.zeros(9), np.zeros(12)
        self.binning_x = self.binning_y = 0
        self.roi = None


class RclpyGrid:
    def __init__(self):
        self.header, self.info, self.data = None, None, array.array("b")


def test_to_rclpy_gives_each_field_rclpys_container(fake_ros):
    classes = {
        "sensor_msgs/msg/Image": RclpyImage,
        "sensor_msgs/msg/CameraInfo": RclpyCameraInfo,
        "nav_msgs/msg/OccupancyGrid": RclpyGrid,
    }

    def resolve(t):
        return classes.get(t) or _fake_class(t)

    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    img = to_rclpy(image_msg(1_500_000_000, "cam", rgb, "rgb8"), resolve)
    assert isinstance(img, RclpyImage) and isinstance(img.data, array.array) and img.data.typecode == "B"
    assert (img.header.frame_id, img.header.stamp.sec, img.header.stamp.nanosec) == ("cam", 1, 500_000_000)
    assert np.array_equal(decode_image_color(img), rgb)  # what the node reads back
    mm = np.array([[0, 1000], [65535, 1]], np.uint16)
    depth, invalid = decode_image_depth(to_rclpy(image_msg(0, "cam", mm, "16UC1"), resolve))
    assert invalid == 1 and np.allclose(depth, mm / 1000.0)

    K = Intrinsics(fx=50.0, fy=60.0, cx=15.5, cy=11.5, width=32, height=24)
    info = to_rclpy(camera_info_msg(0, "cam", K), resolve)
    assert isinstance(info.k, np.ndarray) and info.k.dtype == np.float64 and info.k.shape == (9,)
    assert isinstance(info.d, array.array) and list(info.d) == [0.0] * 5
    assert intrinsics_from_camera_info(info) == K

    occ = np.array([[-1, 0], [100, 0]], np.int8)
    grid = to_rclpy(occupancy_grid_msg(0, "m", occ, 0.05, (1.0, -2.0)), resolve)
    assert grid.data.typecode == "b" and list(grid.data) == [-1, 0, 100, 0]
    assert (grid.info.width, grid.info.height, grid.info.origin.position.y) == (2, 2, -2.0)


class RclpyDuration:
    """Shaped like an rclpy class (slots, a property per field) that lacks ``nanosec``."""

    __slots__ = ("_sec",)

    def __init__(self):
        self._sec = 0

    @property
    def sec(self):
        return self._sec

    @sec.setter
    def sec(self, v):
        assert isinstance(v, int)
        self._sec = v


def test_to_rclpy_leaves_out_fields_the_installed_type_lacks():
    d = to_rclpy(Msg("builtin_interfaces/msg/Duration", {"sec": 3, "nanosec": 5}), lambda t: RclpyDuration)
    assert d.sec == 3 and not hasattr(d, "nanosec")


def _fields(obj, ros1=False):
    """A message object (rosbags or fake rclpy) as nested plain values."""
    if isinstance(obj, (list, tuple)):
        return [_fields(x) for x in obj]
    if isinstance(obj, (np.ndarray, array.array)):
        return np.asarray(obj).tolist()
    d = getattr(obj, "__dict__", None)
    if hasattr(obj, "__dataclass_fields__"):  # rosbags: its fields, not the constants (CUBE, ADD ...)
        d = {k: getattr(obj, k) for k in obj.__dataclass_fields__ if not k.isupper()}
    if d is None:
        return obj
    return {k: _fields(v) for k, v in d.items() if k != "__msgtype__"}


@pytest.mark.parametrize(
    "msg",
    [
        occupancy_grid_msg(7, "m", np.array([[0, 100, -1]], np.int8), 0.1, (0.5, 0.5)),
        path_msg(7, "m", np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])),
        marker_array_msg(7, "m", GRAPH),
        point_cloud_msg(7, "m", np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]), np.array([4, 12])),
        tf_msg(7, "odom", "cam", make_pose(np.eye(3), [1.0, 2.0, 3.0])),
    ],
    ids=["grid", "path", "markers", "cloud", "tf"],
)
def test_bag_and_node_carry_the_same_content(fake_ros, msg):
    bag = _fields(to_rosbags(msg, get_typestore(Stores.ROS2_HUMBLE)))
    node = _fields(to_rclpy(msg, _fake_class))
    assert bag == node
    assert type(to_rclpy(msg, _fake_class)).__name__ == msg.msgtype.rpartition("/")[2]


def test_plain_messages_hold_the_frames_and_values():
    m = marker_array_msg(5, "real3d_map", GRAPH)
    kinds = [(x.fields["ns"], x.fields["id"], x.fields["type"]) for x in m.fields["markers"]]
    assert kinds == [("object", 3, 1), ("object_label", 3, 9), ("relations", 0, 5)]  # no box: no cube
    assert {x.fields["header"].fields["frame_id"] for x in m.fields["markers"]} == {"real3d_map"}
    p = path_msg(5, "real3d_map", np.array([[0.0, 0.0], [0.0, 2.0]]))
    q = p.fields["poses"][0].fields["pose"].fields["orientation"].fields
    assert np.isclose(q["z"], np.sin(np.pi / 4)) and np.isclose(q["w"], np.cos(np.pi / 4))  # facing +y
    c = point_cloud_msg(5, "f", np.zeros((3, 3)), np.array([1, 2, 3]))
    assert c.fields["width"] == 3 and c.fields["data"].size == 60 and isinstance(c, Msg)


# ------------------------------------------------------------------ the node
@pytest.fixture(scope="module")
def seq():
    from real3d.synth import generate_sequence

    return generate_sequence(4, 3, size=(48, 64))


def _pipeline():
    from real3d.pipeline import Pipeline, PipelineConfig

    return Pipeline(PipelineConfig(model="rgbd-tiny", rgb_model=None, backend="torch", background_refresh=False))


def _feed(node, frame, t_ns, cam="camera_optical", depth_frame=None, depth_dt_ns=3_000_000):
    img = _fake_class("sensor_msgs/msg/Image")
    mm = np.round(frame.depth_m * 1000).astype(np.uint16)
    subs = node.node.subscriptions
    subs[node.config.color_topic][1](to_rclpy(image_msg(t_ns, cam, frame.rgb, "rgb8"), lambda t: img))
    subs[node.config.depth_topic][1](
        to_rclpy(image_msg(t_ns + depth_dt_ns, depth_frame or cam, mm, "16UC1"), lambda t: img)
    )


def _sent(node, topic):
    return node.node.publishers[topic].sent


def test_a_frame_in_gives_labels_tf_and_the_map_products(fake_ros, seq):
    node = Real3DNode(pipeline=_pipeline())
    cfg = node.config
    assert cfg == NodeConfig()  # no overrides: the defaults
    subs = node.node.subscriptions
    assert set(subs) == {cfg.color_topic, cfg.depth_topic, cfg.camera_info_topic, cfg.goal_topic}
    assert node.node.timers[0][0] == cfg.map_period_s
    f0 = seq.frames[0]
    subs[cfg.camera_info_topic][1](to_rclpy(camera_info_msg(0, "camera_optical", f0.intrinsics), _fake_class))
    for k, f in enumerate(seq.frames[:2]):
        t = 10**9 * (100 + k)
        FakeTFBuffer.transforms[("odom", "camera_optical", t)] = f.world_T_cam
        _feed(node, f, t)
    assert node.frames_in == 2 and node.last_result.status == "fused"
    labels = _sent(node, LABELS_TOPIC)
    assert len(labels) == 2 and len(_sent(node, LABELS_COLOR_TOPIC)) == 2
    assert {m.header.frame_id for m in labels} == {"camera_optical"}
    assert labels[1].header.stamp.sec == 101 and labels[1].encoding == "mono8"
    assert np.array_equal(decode_image_color(labels[1])[..., 0], node.last_result.labels)
    tf = _sent(node, TF_TOPIC)[-1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("odom", "real3d_map")
    assert np.allclose(matrix_from_transform(tf.transform), np.linalg.inv(node.pipeline.gravity_T_world))
    # a goal in the map frame: the path comes with the map products
    goal = to_rclpy(
        Msg("geometry_msgs/msg/PoseStamped", {"header": _hdr("real3d_map"), "pose": _pose(f0)}), _fake_class
    )
    subs[cfg.goal_topic][1](goal)
    timer = node.node.timers[0][1]
    published = timer()
    assert set(published) == {COSTMAP_TOPIC, MARKERS_TOPIC, CLOUD_TOPIC, PATH_TOPIC}
    for topic in published:
        m = _sent(node, topic)[-1]
        for h in [x.header for x in m.markers] if topic == MARKERS_TOPIC else [m.header]:
            assert h.frame_id == "real3d_map" and h.stamp.sec == 101, topic
    grid = _sent(node, COSTMAP_TOPIC)[-1]
    cm = node.pipeline.costmap.grid
    assert (grid.info.width, grid.info.height) == (cm.occupied.shape[1], cm.occupied.shape[0])
    assert np.array_equal(np.asarray(grid.data).reshape(cm.occupied.shape) == 100, cm.occupied & ~cm.unknown)
    cloud = _sent(node, CLOUD_TOPIC)[-1]
    assert cloud.width == len(node.pipeline.map.semantic_points().points) > 0
    path = _sent(node, PATH_TOPIC)[-1]
    assert len(path.poses) >= 1 and path.poses[0].header.frame_id == "real3d_map"
    assert np.allclose([path.poses[-1].pose.position.x, path.poses[-1].pose.position.y], node.goal_xy, atol=0.1)
    node.destroy()
    assert node.node.destroyed


def _hdr(frame):
    return header_msg(0, frame)


def _pose(frame):
    p = frame.world_T_cam[:3, 3]
    return pose_msg((p[0], p[1], 0.0), (0, 0, 0, 1))


def test_parameters_override_and_a_pose_topic(fake_ros, seq):
    FakeNode.overrides = {"map_frame": "semantic", "pose_topic": "/cam_pose", "world_frame": "world"}
    node = Real3DNode(pipeline=_pipeline())
    assert (node.config.map_frame, node.config.pose_topic, node.tf_buffer) == ("semantic", "/cam_pose", None)
    subs = node.node.subscriptions
    f = seq.frames[0]
    subs["/camera/color/camera_info"][1](to_rclpy(camera_info_msg(0, "c", f.intrinsics), _fake_class))
    t = 5 * 10**9
    exact = pose_msg(f.world_T_cam[:3, 3], rotation_to_quat(f.world_T_cam[:3, :3]))
    subs["/cam_pose"][1](
        to_rclpy(Msg("geometry_msgs/msg/PoseStamped", {"header": header_msg(t, "world"), "pose": exact}), _fake_class)
    )
    _feed(node, f, t, cam="c")
    assert node.last_result.status == "fused"
    assert np.allclose(node.pipeline.trajectory[-1][:3], f.world_T_cam[:3, 3])
    # no pose near the next image's stamp: that frame has none (the pipeline skips it)
    _feed(node, seq.frames[1], t + 10**9, cam="c")
    assert node.last_result.status == "skipped" and node.frames_in == 2
    assert _sent(node, TF_TOPIC)[-1].transforms[0].child_frame_id == "semantic"
    assert _sent(node, LABELS_TOPIC)[-1].header.frame_id == "c"


def test_depth_in_another_frame_is_refused_not_stretched(fake_ros, seq):
    node = Real3DNode(pipeline=_pipeline())
    f = seq.frames[0]
    node.on_camera_info(to_rclpy(camera_info_msg(0, "color", f.intrinsics), _fake_class))
    _feed(node, f, 10**9, cam="color", depth_frame="depth")
    assert node.frames_in == 0 and _sent(node, LABELS_TOPIC) == []
    assert any("not registered to colour" in text for _, text in node.log.lines)


def test_no_camera_info_yet_skips_with_a_warning(fake_ros, seq):
    node = Real3DNode(pipeline=_pipeline())
    _feed(node, seq.frames[0], 10**9)
    assert node.frames_in == 0 and any("no CameraInfo" in text for _, text in node.log.lines)
    assert node.node.timers[0][1]() == []  # an empty map publishes nothing


def test_bad_parameters_are_refused(fake_ros):
    FakeNode.overrides = {"map_frame": "odom"}
    with pytest.raises(ConfigError, match="map_frame and world_frame"):
        Real3DNode(pipeline=object())
    with pytest.raises(ConfigError, match="pose_type"):
        NodeConfig(pose_type="Twist")


def test_pairer_matches_nearest_and_drops_the_unmatched():
    p = Pairer(max_dt_ns=10)
    assert p.push("color", 100, "c100") is None
    assert p.push("depth", 95, "d95") == ("c100", "d95")
    assert p.push("color", 200, "c200") is None
    assert p.push("depth", 230, "d230") is None  # too far: c200 can never match
    assert p.dropped == 1 and not p.colors
    assert p.push("color", 235, "c235") == ("c235", "d230")


def test_without_rclpy_the_node_names_ros2(monkeypatch):
    import real3d.ros

    monkeypatch.setitem(sys.modules, "rclpy", None)
    assert real3d.ros.NodeConfig().map_frame == "real3d_map"  # the package works without it
    with pytest.raises(ConfigError, match="ROS 2") as e:
        real3d.ros.Real3DNode()
    assert "rclpy" in str(e.value)
    with pytest.raises(ConfigError, match="ROS 2"):
        real3d.ros.main([])


def test_a_warehouse_pipeline_publishes_warehouse_colours(fake_ros, seq):
    from real3d.core.warehouse import WAREHOUSE
    from real3d.pipeline import Pipeline, PipelineConfig

    cfg = PipelineConfig(model="rgbd-warehouse", rgb_model=None, backend="torch", background_refresh=False)
    node = Real3DNode(pipeline=Pipeline(cfg))
    f0 = seq.frames[0]
    node.node.subscriptions[node.config.camera_info_topic][1](
        to_rclpy(camera_info_msg(0, "camera_optical", f0.intrinsics), _fake_class)
    )
    FakeTFBuffer.transforms[("odom", "camera_optical", 10**9)] = f0.world_T_cam
    _feed(node, f0, 10**9)
    labels = node.last_result.labels
    colour = decode_image_color(_sent(node, LABELS_COLOR_TOPIC)[-1])
    assert np.array_equal(colour, WAREHOUSE.colors[labels])
    node.node.timers[0][1]()
    cloud = _sent(node, CLOUD_TOPIC)[-1]
    rec = np.frombuffer(bytes(cloud.data), dtype=[("xyz", "<f4", 3), ("rgb", "<u4"), ("label", "<u4")])
    rgb = WAREHOUSE.colors[rec["label"]].astype(np.uint32)
    assert len(rec) and np.array_equal(rec["rgb"], (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])
    node.destroy()
