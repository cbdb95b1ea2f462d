"""Core types and conventions: Frame, Intrinsics, poses, label sets, errors."""

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError, NoPathError, Real3DError
from real3d.core.frame import Frame, sanitize_depth
from real3d.core.labels import (
    NYU13,
    NYU40,
    SYNTH,
    LabelSet,
    get_label_set,
    map_labels,
)
from real3d.core.pose import (
    camera_from_yaw_pitch,
    check_pose,
    invert_pose,
    look_at,
    make_pose,
    quat_to_rotation,
    rotation_to_quat,
    transform_points,
)

__all__ = [
    "Intrinsics", "Frame", "sanitize_depth", "LabelSet", "NYU13", "NYU40", "SYNTH",
    "get_label_set", "map_labels", "Real3DError", "InputError", "FormatError", "ConfigError",
    "NoPathError", "check_pose", "make_pose", "invert_pose", "transform_points",
    "quat_to_rotation", "rotation_to_quat", "look_at", "camera_from_yaw_pitch",
]
