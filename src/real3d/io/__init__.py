"""Readers for real RGB-D datasets and robot recordings.

``open_sequence(path, **options)`` detects the format and returns a lazily read
:class:`Sequence` of :class:`real3d.Frame` objects; each reader class is usable directly.
Formats: NYU Depth v2 (labeled ``.mat`` and raw dumps), ScanNet (exported frames and
``.sens``), SUN RGB-D, TUM RGB-D, Redwood / ICL-NUIM, ROS 1 / ROS 2 / MCAP bags, plain
colour+depth folders and real3d's own layout. See docs/io.md.
"""

from real3d.io.base import (
    ReadOptions,
    Sequence,
    SequenceInfo,
    SequenceStats,
    SkippedFrame,
)
from real3d.io.codecs import (
    decode_depth_mm,
    decode_depth_nyu_disparity,
    decode_depth_sun,
    decode_depth_tum,
    decode_rgb,
    decode_u16,
    read_pgm16,
    sun_unshift,
)
from real3d.io.detect import FORMATS, detect_format, open_sequence
from real3d.io.folder import FolderSequence, PairsSequence, read_depth_file
from real3d.io.nyu import NYURawSequence, NYUv2LabeledSequence, register_depth_to_color
from real3d.io.real3d_disk import Real3DSequence
from real3d.io.redwood import RedwoodSequence, read_trajectory_log
from real3d.io.ros import RosbagSequence
from real3d.io.scannet import ScanNetSequence, SensSequence, write_sens
from real3d.io.sunrgbd import SUNRGBDSequence
from real3d.io.tum import TUMSequence, tum_intrinsics

__all__ = [
    "open_sequence",
    "detect_format",
    "FORMATS",
    "ReadOptions",
    "Sequence",
    "SequenceInfo",
    "SequenceStats",
    "SkippedFrame",
    "NYUv2LabeledSequence",
    "NYURawSequence",
    "ScanNetSequence",
    "SensSequence",
    "SUNRGBDSequence",
    "TUMSequence",
    "RedwoodSequence",
    "RosbagSequence",
    "FolderSequence",
    "PairsSequence",
    "Real3DSequence",
    "decode_rgb",
    "decode_u16",
    "read_pgm16",
    "read_depth_file",
    "decode_depth_mm",
    "decode_depth_tum",
    "decode_depth_sun",
    "decode_depth_nyu_disparity",
    "sun_unshift",
    "register_depth_to_color",
    "read_trajectory_log",
    "tum_intrinsics",
    "write_sens",
]
