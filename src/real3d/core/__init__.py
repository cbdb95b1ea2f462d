"""Core types and conventions: Frame, Intrinsics, poses, label sets, errors."""

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError, NoPathError, OutputError, Real3DError
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
from real3d.core.warehouse import WAREHOUSE  # registers the warehouse label set and its mappings

__all__ = [
    "NYU13",
    "NYU40",
    "SYNTH",
    "WAREHOUSE",
    "ConfigError",
    "FormatError",
    "Frame",
    "InputError",
    "Intrinsics",
    "LabelSet",
    "NoPathError",
    "OutputError",
    "Real3DError",
    "camera_from_yaw_pitch",
    "check_pose",
    "get_label_set",
    "invert_pose",
    "look_at",
    "make_pose",
    "map_labels",
    "quat_to_rotation",
    "rotation_to_quat",
    "sanitize_depth",
    "transform_points",
]
