"""Between real3d and rclpy's messages: :func:`to_rclpy` turns the plain messages of
``real3d.io.ros_write`` (the ones a results bag holds) into rclpy message objects, and the
``*_from_*`` functions read what the node subscribes to.

Nothing here imports rclpy at module level: message classes are looked up by their type
name (``"sensor_msgs/msg/Image"`` -> ``sensor_msgs.msg.Image``) when first needed.
"""

from __future__ import annotations

import array
import importlib

import numpy as np

from real3d.core import ConfigError, Intrinsics, make_pose, quat_to_rotation
from real3d.io.ros_write import Msg

#: what ROS 2 provides that the node needs
ROS2_HINT = (
    "it needs ROS 2's Python client (rclpy, tf2_ros and the standard message packages), which "
    "comes with a ROS 2 install (source /opt/ros/<distro>/setup.bash) and is not on PyPI"
)


def message_class(msgtype: str):
    """The rclpy class of a ROS 2 type name (``"nav_msgs/msg/Path"``). ConfigError when its
    package cannot be imported (no ROS 2 sourced) or lacks the type."""
    pkg, _, name = msgtype.replace("/msg/", "/").partition("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"real3d.ros: message type {msgtype} not found ({e}); {ROS2_HINT}") from None


def _value(v, default, resolve):
    if isinstance(v, Msg):
        return to_rclpy(v, resolve)
    if isinstance(v, list):
        return [_value(x, None, resolve) for x in v]
    if isinstance(v, np.ndarray):
        # rclpy keeps sequences of numbers as array.array, fixed-size arrays as numpy
        if isinstance(default, array.array):
            out = array.array(default.typecode)
            out.frombytes(np.ascontiguousarray(v, dtype=np.dtype(default.typecode)).tobytes())
            return out
        if isinstance(default, np.ndarray):
            return np.asarray(v, dtype=default.dtype).reshape(default.shape)
        if isinstance(default, (bytes, bytearray)):
            return bytes(np.ascontiguousarray(v).tobytes())
        if isinstance(default, list):
            return v.tolist()
    return v


def to_rclpy(msg: Msg, resolve=message_class):
    """``msg`` as an rclpy message object, field by field (nested messages too).

    Arrays are given the container rclpy's class holds for the field (``array.array`` of
    its type code for sequences of numbers, a numpy array of its dtype for fixed-size
    arrays), read from a default-constructed instance. A field the installed ROS 2's type
    does not have (``Marker.mesh_file`` before Humble) is left out.

    Args:
        resolve: type name -> message class (default :func:`message_class`).
    """
    cls = resolve(msg.msgtype)
    obj = cls()
    slotted = hasattr(cls, "__slots__")  # rclpy's classes: a property per field
    for name, v in msg.fields.items():
        if slotted and not hasattr(cls, name):
            continue
        setattr(obj, name, _value(v, getattr(obj, name, None), resolve))
    return obj


def stamp_ns(header) -> int:
    """A ``std_msgs/Header``'s stamp in nanoseconds."""
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


def intrinsics_from_camera_info(msg) -> Intrinsics | None:
    """The pinhole intrinsics of a ``sensor_msgs/CameraInfo`` (K, width, height;
    distortion is not undone); None for an uncalibrated camera (K all zeros)."""
    K = np.asarray(msg.k, np.float64).reshape(3, 3)
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        return None
    return Intrinsics.from_K(K, int(msg.width), int(msg.height))


def matrix_from_pose(pose) -> np.ndarray:
    """(4, 4) float64 of a ``geometry_msgs/Pose`` (position, orientation)."""
    p, q = pose.position, pose.orientation
    return make_pose(quat_to_rotation(np.array([q.x, q.y, q.z, q.w], np.float64)), [p.x, p.y, p.z])


def matrix_from_transform(tr) -> np.ndarray:
    """(4, 4) float64 of a ``geometry_msgs/Transform`` (translation, rotation)."""
    t, q = tr.translation, tr.rotation
    return make_pose(quat_to_rotation(np.array([q.x, q.y, q.z, q.w], np.float64)), [t.x, t.y, t.z])
