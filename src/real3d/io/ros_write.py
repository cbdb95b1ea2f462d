"""Writing RGB-D frames as a ROS bag (ROS 1 ``.bag``, or a ROS 2 bag folder with sqlite3 or
MCAP storage) with rosbags' writers and standard message types, the layout
``real3d.io.ros`` reads back:

- ``/camera/color/image_raw``: ``sensor_msgs/Image`` rgb8;
- ``/camera/depth/image_rect_raw``: ``sensor_msgs/Image`` 16UC1 (millimetres, 0 = invalid),
  ``depth_delay_s`` after its colour image;
- ``/camera/color/camera_info``: ``sensor_msgs/CameraInfo`` (K; no distortion), with
  every colour image;
- ``/tf``: ``world_frame`` -> ``camera_frame`` (an optical frame) per frame, when poses
  are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from real3d.core import ConfigError, InputError, Intrinsics, rotation_to_quat

COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/depth/image_rect_raw"
CAMERA_INFO_TOPIC = "/camera/color/camera_info"
TF_TOPIC = "/tf"
KINDS = ("ros1", "sqlite3", "mcap")


class _Messages:
    """Builds messages for one typestore (ROS 1 or ROS 2 field names)."""

    def __init__(self, ros1: bool):
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore

        self.ros1 = ros1
        self.ts = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
        if "tf2_msgs/msg/TFMessage" not in self.ts.types:
            # rosbags' ROS 1 store lacks tf2_msgs; real ROS 1 bags embed the definition.
            self.ts.register(
                get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage")
            )
        self.T = self.ts.types

    def header(self, t_ns: int, frame: str):
        stamp = self.T["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
        if self.ros1:
            return self.T["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id=frame)
        return self.T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)

    def image(self, t_ns: int, frame: str, arr: np.ndarray, encoding: str):
        h, w = arr.shape[:2]
        raw = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        return self.T["sensor_msgs/msg/Image"](
            header=self.header(t_ns, frame),
            height=h,
            width=w,
            encoding=encoding,
            is_bigendian=0,
            step=raw.size // h,
            data=raw,
        )

    def camera_info(self, t_ns: int, frame: str, K: Intrinsics):
        k = np.array([K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1], np.float64)
        p = np.array([K.fx, 0, K.cx, 0, 0, K.fy, K.cy, 0, 0, 0, 1, 0], np.float64)
        roi = self.T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        fields = dict(
            header=self.header(t_ns, frame),
            height=K.height,
            width=K.width,
            distortion_model="plumb_bob",
            binning_x=0,
            binning_y=0,
            roi=roi,
        )
        names = ("D", "K", "R", "P") if self.ros1 else ("d", "k", "r", "p")
        fields.update(zip(names, (np.zeros(5), k, np.eye(3).ravel(), p)))
        return self.T["sensor_msgs/msg/CameraInfo"](**fields)

    def tf(self, t_ns: int, parent: str, child: str, parent_T_child: np.ndarray):
        T = self.T
        x, y, z = (float(v) for v in parent_T_child[:3, 3])
        qx, qy, qz, qw = (float(v) for v in rotation_to_quat(parent_T_child[:3, :3]))
        tr = T["geometry_msgs/msg/Transform"](
            translation=T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z),
            rotation=T["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
        )
        st = T["geometry_msgs/msg/TransformStamped"](
            header=self.header(t_ns, parent), child_frame_id=child, transform=tr
        )
        return T["tf2_msgs/msg/TFMessage"](transforms=[st])

    def serialize(self, msg, msgtype: str) -> bytes:
        if self.ros1:
            return self.ts.serialize_ros1(msg, msgtype)
        return self.ts.serialize_cdr(msg, msgtype)


def write_rgbd_bag(
    path: str | Path,
    frames: Iterable[tuple],
    intrinsics: Intrinsics,
    *,
    kind: str = "ros1",
    start_ns: int = 1_700_000_000 * 10**9,
    period_s: float = 0.1,
    depth_delay_s: float = 0.005,
    world_frame: str = "odom",
    camera_frame: str = "camera_optical",
) -> int:
    """Write RGB-D frames as a bag at ``path`` (layout in the module docstring).

    Args:
        frames: (rgb, depth_mm, world_T_cam) per frame: rgb (H, W, 3) uint8, depth_mm
            (H, W) uint16 millimetres (0 = invalid), world_T_cam (4, 4) float64 or None (no
            ``/tf`` message for that frame). Frame k's colour image is stamped
            ``start_ns + k * period_s``.
        intrinsics: the colour camera (``CameraInfo``), of the images' size.
        kind: "ros1" (a ``.bag`` file), "sqlite3" or "mcap" (a ROS 2 bag folder).

    Returns:
        the number of frames written.

    Raises:
        ConfigError: an unknown ``kind``. InputError: an image of the wrong shape or dtype.
    """
    if kind not in KINDS:
        raise ConfigError(f"write_rgbd_bag: kind expected one of {KINDS}, got {kind!r}")
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer as Writer2

    hw = (intrinsics.height, intrinsics.width)
    ros1 = kind == "ros1"
    m = _Messages(ros1)
    if ros1:
        writer = Writer1(Path(path))
    else:
        plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
        writer = Writer2(Path(path), version=9, storage_plugin=plugin)
    n = 0
    with writer:

        def conn(topic: str, msgtype: str):
            return writer.add_connection(topic, msgtype, typestore=m.ts)

        c_rgb = conn(COLOR_TOPIC, "sensor_msgs/msg/Image")
        c_dep = conn(DEPTH_TOPIC, "sensor_msgs/msg/Image")
        c_inf = conn(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        c_tf = None

        def put(c, t_ns: int, msg) -> None:
            writer.write(c, t_ns, m.serialize(msg, c.msgtype))

        for k, (rgb, depth_mm, world_T_cam) in enumerate(frames):
            if rgb.shape != (*hw, 3) or rgb.dtype != np.uint8:
                raise InputError(
                    f"write_rgbd_bag: frame {k} rgb expected {(*hw, 3)} uint8, got {rgb.shape} {rgb.dtype}"
                )
            if depth_mm.shape != hw or depth_mm.dtype != np.uint16:
                raise InputError(
                    f"write_rgbd_bag: frame {k} depth_mm expected {hw} uint16, got {depth_mm.shape} {depth_mm.dtype}"
                )
            t = start_ns + round(k * period_s * 1e9)
            if world_T_cam is not None:
                if c_tf is None:
                    c_tf = conn(TF_TOPIC, "tf2_msgs/msg/TFMessage")
                put(c_tf, t, m.tf(t, world_frame, camera_frame, np.asarray(world_T_cam)))
            put(c_inf, t, m.camera_info(t, camera_frame, intrinsics))
            put(c_rgb, t, m.image(t, camera_frame, rgb, "rgb8"))
            td = t + round(depth_delay_s * 1e9)
            put(c_dep, td, m.image(td, camera_frame, depth_mm, "16UC1"))
            n += 1
    return n
