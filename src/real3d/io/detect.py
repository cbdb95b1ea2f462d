"""Format detection and :func:`open_sequence`, the one entry point for every reader."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from real3d.core import ConfigError, FormatError
from real3d.io.base import ReadOptions, Sequence
from real3d.io.folder import FolderSequence, PairsSequence, find_flat_pairs
from real3d.io.nyu import NYURawSequence, NYUv2LabeledSequence, list_raw_dump
from real3d.io.real3d_disk import Real3DSequence, is_real3d_dir
from real3d.io.redwood import RedwoodSequence
from real3d.io.ros import BAG_SUFFIXES, RosbagSequence, check_rosbag_path, is_rosbag_path
from real3d.io.scannet import ScanNetSequence, SensSequence
from real3d.io.sunrgbd import SUNRGBDSequence, is_scene_dir
from real3d.io.tum import TUMSequence

#: format name -> reader class; each class is also usable directly
FORMATS: dict[str, type[Sequence]] = {
    cls.format: cls
    for cls in (
        Real3DSequence,
        NYUv2LabeledSequence,
        NYURawSequence,
        ScanNetSequence,
        SensSequence,
        SUNRGBDSequence,
        TUMSequence,
        RedwoodSequence,
        RosbagSequence,
        FolderSequence,
        PairsSequence,
    )
}


def detect_format(path) -> str:
    """Name of the format of ``path`` (a key of :data:`FORMATS`), judged from file names.

    Raises:
        FormatError: the path does not exist or matches no known layout; the message lists
            what each format expects.
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(f"open_sequence: not found: {p}")
    if not p.is_file() and not p.is_dir():
        raise FormatError(
            f"open_sequence: {p} is neither a regular file nor a folder (a FIFO, "
            "socket or device?); expected a recording file (.mat, .sens, .bag, "
            ".mcap, .db3) or a dataset folder"
        )
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".mat":
            return "nyu_labeled"
        if suffix == ".sens":
            return "sens"
        if is_rosbag_path(p):
            return "rosbag"
        raise FormatError(
            f"open_sequence: unknown file type {p.name!r}; expected .mat (NYU v2 "
            "labeled), .sens (ScanNet), .bag / .mcap / .db3 (ROS), or a folder"
        )
    try:
        return _detect_folder(p)
    except OSError as e:  # an unreadable folder
        raise FormatError(f"open_sequence: cannot read the folder {p}: {e}") from None


def _detect_folder(p: Path) -> str:
    if p.suffix.lower() in BAG_SUFFIXES and not (p / "metadata.yaml").is_file():
        check_rosbag_path(p)  # raises: a folder named like a bag file
    if is_real3d_dir(p):
        return "real3d"
    if is_rosbag_path(p):
        return "rosbag"
    if (p / "rgb.txt").is_file() and (p / "depth.txt").is_file():
        return "tum"
    if (p / "color").is_dir() and (p / "depth").is_dir() and (p / "intrinsic").is_dir():
        return "scannet"
    if is_scene_dir(p) or any(c.is_dir() and is_scene_dir(c) for c in p.iterdir()):
        return "sunrgbd"
    if (p / "trajectory.log").is_file() or (p / "rgbd.match").is_file():
        return "redwood"
    if (p / "color").is_dir() and (p / "depth").is_dir():
        if any(p.glob("camera*.json")) and not (p / "pose.txt").is_file():
            return "redwood"
        return "folder"
    rgb, dep = list_raw_dump(p)
    if rgb and dep:
        return "nyu_raw"
    if find_flat_pairs(p):
        return "pairs"
    raise FormatError(
        f"open_sequence: cannot tell the format of {p}. Expected one of: "
        "scene.json+intrinsics.json+color/+depth/ (real3d); rgb.txt+depth.txt (tum); "
        "color/+depth/+intrinsic/ (scannet); intrinsics.txt+image/+depth/ (sunrgbd); "
        "trajectory.log or camera*.json with color/+depth/ (redwood); color/+depth/ (folder); "
        "r-*.ppm+d-*.pgm (nyu_raw); N.png+N_depth.png (pairs); metadata.yaml (ROS 2 bag); "
        "or a .mat/.sens/.bag/.mcap file"
    )


def open_sequence(path: str | os.PathLike, format: str | None = None, **options) -> Sequence:
    """Open an RGB-D recording or dataset as a lazily read :class:`Sequence` of Frames.

    Args:
        path: file or folder (see :func:`detect_format` and docs/io.md for the layouts).
        format: a key of :data:`FORMATS` to skip detection.
        **options: the common :class:`ReadOptions` (resize, stride, max_frames,
            depth_range_m, label_set, strict, intrinsics) and the reader's own keyword
            arguments (e.g. ``split="test"`` for NYU, ``rgb_topic=`` for bags).

    Returns:
        A :class:`Sequence`: ``len()``, indexing, iteration, ``.info``, ``.stats``,
        ``.skipped``. Close it (or use ``with``) to release file handles.

    Raises:
        FormatError: unknown layout, missing / truncated / corrupt files.
        ConfigError: unknown format name or option.
    """
    fmt = format or detect_format(path)
    try:
        cls = FORMATS[fmt]
    except KeyError:
        raise ConfigError(f"unknown format {fmt!r}; valid: {', '.join(sorted(FORMATS))}") from None
    common, specific = ReadOptions.split(options)
    params = inspect.signature(cls.__init__).parameters
    allowed = [n for n, prm in params.items() if prm.kind is prm.KEYWORD_ONLY]
    unknown = sorted(set(specific) - set(allowed))
    if unknown:
        raise ConfigError(
            f"open_sequence: unknown option(s) {', '.join(unknown)} for format {fmt!r}; valid: "
            + ", ".join(sorted(set(ReadOptions.__dataclass_fields__) | set(allowed)))
        )
    return cls(path, common, **specific)
