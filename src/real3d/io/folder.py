"""A plain folder of colour and depth images, optionally with a pose list.

Layout (e.g. the Kinect captures used in the SLAM textbook exercises)::

    color/<name>.png|jpg          8-bit colour
    depth/<name>.png|pgm          16-bit depth, encoding set by ``depth_encoding``
    pose.txt                      optional, one line per frame in name order:
                                  ``tx ty tz qx qy qz qw`` (camera-to-world, metres)
    intrinsics.json | camera*.json   optional: fx, fy, cx, cy, width, height (real3d) or
                                  Open3D's PinholeCameraIntrinsic

Colour and depth are paired by file stem. Without an intrinsics file, pass
``intrinsics=Intrinsics(...)``; a frame without intrinsics raises FormatError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core import ConfigError, FormatError, Intrinsics, make_pose, quat_to_rotation
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import DEPTH_DECODERS, decode_rgb, decode_u16, read_pgm16


def read_depth_file(path: Path, encoding: str = "mm") -> tuple[np.ndarray, int]:
    """A 16-bit depth image file (PNG or big-endian PGM) -> (float32 metres, invalid count).

    ``encoding`` names the depth encoding: ``"mm"``, ``"tum"``, ``"sun"``, ``"nyu_disparity"``.
    NYU's raw ``.pgm`` dumps are little-endian; they are read that way when
    ``encoding="nyu_disparity"``.
    """
    try:
        decode = DEPTH_DECODERS[encoding]
    except KeyError:
        raise ConfigError(
            f"unknown depth encoding {encoding!r}; valid: {', '.join(DEPTH_DECODERS)}"
        ) from None
    path = Path(path)
    if path.suffix.lower() == ".pgm":
        raw = read_pgm16(path, "little" if encoding == "nyu_disparity" else "big")
    else:
        raw = decode_u16(path)
    return decode(raw)


def read_pose_lines(path: Path) -> list[np.ndarray]:
    """``tx ty tz qx qy qz qw`` per line -> list of (4, 4) float64 world_T_cam."""
    rows = _files.text_rows(path, "pose list")
    poses = []
    for row in rows:
        v = _files.floats(row, 7, "pose list", path)
        poses.append(make_pose(quat_to_rotation(v[3:7]), v[:3]))
    return poses


def find_intrinsics_file(root: Path) -> Intrinsics | None:
    """intrinsics.json (real3d keys) or an Open3D camera json in ``root``, else None."""
    p = root / "intrinsics.json"
    if p.is_file():
        d = _files.read_json(p, "intrinsics.json")
        if "intrinsic_matrix" in d:
            return _files.intrinsics_from_open3d_json(p)
        try:
            return Intrinsics.from_dict(d)
        except ValueError as e:
            raise FormatError(f"intrinsics.json: {p}: {e}") from None
    cams = sorted(root.glob("camera*.json"))
    if cams:
        return _files.intrinsics_from_open3d_json(cams[0])
    return None


class FolderSequence(Sequence):
    """``color/`` + ``depth/`` folders paired by file stem (see module docstring).

    Args:
        path: the folder holding ``color/`` and ``depth/``.
        options: common :class:`ReadOptions`.
        depth_encoding: ``"mm"`` (default), ``"tum"``, ``"sun"`` or ``"nyu_disparity"``.
        pose_file: pose list name inside the folder (default ``pose.txt``; absent = no poses).
    """

    format = "folder"

    def __init__(self, path, options: ReadOptions | None = None, *, depth_encoding: str = "mm",
                 pose_file: str = "pose.txt") -> None:
        super().__init__(path, options)
        if depth_encoding not in DEPTH_DECODERS:
            raise ConfigError(
                f"unknown depth encoding {depth_encoding!r}; valid: {', '.join(DEPTH_DECODERS)}"
            )
        self.depth_encoding = depth_encoding
        root = self.path
        if not root.is_dir():
            raise FormatError(f"folder: {root} is not a directory")
        self._pairs = self._find_pairs(root)
        self._intrinsics = find_intrinsics_file(root)
        self._poses: list[np.ndarray] | None = None
        pose_path = root / pose_file
        if pose_path.is_file():
            poses = read_pose_lines(pose_path)
            if len(poses) != len(self._pairs):
                raise FormatError(
                    f"folder: {pose_path} has {len(poses)} poses for {len(self._pairs)} frames"
                )
            self._poses = poses

    def _find_pairs(self, root: Path) -> list[tuple[Path, Path]]:
        colors = {p.stem: p for p in _files.list_files(root / "color", _files.COLOR_EXTS)}
        depths = {p.stem: p for p in _files.list_files(root / "depth", _files.DEPTH_EXTS)}
        stems = sorted(set(colors) & set(depths), key=_files.natural_key)
        if not stems:
            raise FormatError(f"folder: no colour/depth pairs with equal names under {root}")
        return [(colors[s], depths[s]) for s in stems]

    def _num_source_frames(self) -> int:
        return len(self._pairs)

    def _read_source(self, i: int) -> RawFrame:
        cpath, dpath = self._pairs[i]
        rgb = decode_rgb(cpath)
        depth, invalid = read_depth_file(dpath, self.depth_encoding)
        return RawFrame(
            rgb=rgb, depth_m=depth, intrinsics=self._intrinsics, invalid_encoded=invalid,
            world_T_cam=None if self._poses is None else self._poses[i],
            timestamp_s=float(i), meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        if self._poses is None:
            return [None] * len(self)
        return [self._poses[i] for i in self.source_indices()]

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or self._intrinsics
        return SequenceInfo(
            format=self.format, path=str(self.path), num_frames=0, num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw, intrinsics=intr,
            depth_encoding=f"uint16 {self.depth_encoding}",
            pose_source="pose.txt" if self._poses is not None else None,
        )


def find_flat_pairs(root: Path) -> list[tuple[Path, Path]]:
    """``<stem>.png|jpg`` beside ``<stem>_depth.png|pgm`` in one folder, in natural order."""
    files = [p for p in sorted(Path(root).iterdir()) if p.is_file()]
    depths = {p.stem[: -len("_depth")]: p for p in files
              if p.stem.endswith("_depth") and p.suffix.lower() in _files.DEPTH_EXTS}
    colors = {p.stem: p for p in files
              if not p.stem.endswith("_depth") and p.suffix.lower() in _files.COLOR_EXTS}
    stems = sorted(set(colors) & set(depths), key=_files.natural_key)
    return [(colors[s], depths[s]) for s in stems]


class PairsSequence(FolderSequence):
    """A flat folder of ``<stem>.png|jpg`` colour images each beside ``<stem>_depth.png``
    (loose captures, e.g. ``1.png`` + ``1_depth.png``). Options as :class:`FolderSequence`;
    pass ``depth_encoding="tum"`` for TUM-scaled depth and ``intrinsics=`` when the folder
    has no intrinsics file."""

    format = "pairs"

    def _find_pairs(self, root: Path) -> list[tuple[Path, Path]]:
        pairs = find_flat_pairs(root)
        if not pairs:
            raise FormatError(f"pairs: no <name>.png beside <name>_depth.png under {root}")
        return pairs
