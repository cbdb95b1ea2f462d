"""ROS 2 integration for machines that have ROS 2: a live node (:class:`Real3DNode`,
``python -m real3d.ros``) running the pipeline on camera topics and publishing the same
messages as a results bag, and the conversions it uses (:func:`to_rclpy`).

rclpy is imported only when a node is built: ``import real3d.ros`` works without ROS 2,
and building a node without it raises ConfigError naming what is missing. Results bags
without ROS 2: ``real3d.io.ros_write``.
"""

from real3d.ros.convert import (
    intrinsics_from_camera_info,
    matrix_from_pose,
    matrix_from_transform,
    message_class,
    stamp_ns,
    to_rclpy,
)
from real3d.ros.node import NodeConfig, Pairer, Real3DNode, import_rclpy, main

__all__ = [
    "NodeConfig",
    "Pairer",
    "Real3DNode",
    "import_rclpy",
    "intrinsics_from_camera_info",
    "main",
    "matrix_from_pose",
    "matrix_from_transform",
    "message_class",
    "stamp_ns",
    "to_rclpy",
]
