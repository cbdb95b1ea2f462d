"""Redwood / ICL-NUIM sequences in the Open3D "Redwood" layout.

Layout::

    color/00000.jpg|png           8-bit colour (``image/`` also accepted)
    depth/00000.png               uint16 millimetres (``depth_scale`` units per metre), 0 = invalid
    camera*.json | intrinsics.json  Open3D PinholeCameraIntrinsic (column-major matrix)
    trajectory.log                optional: per frame a line ``id id n`` and a 4x4
                                  camera-to-world matrix (4 lines), metres
    rgbd.match                    optional: ``depth/x.png color/y.jpg`` per line

Without ``rgbd.match``, colour and depth are paired in sorted order. The k-th trajectory
entry belongs to frame ``id`` of its header line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core import FormatError
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import decode_depth_scaled, decode_rgb, decode_u16
from real3d.io.folder import find_intrinsics_file


def read_trajectory_log(path) -> dict[int, np.ndarray]:
    """Redwood ``trajectory.log`` -> {frame id: (4, 4) float64 world_T_cam}.

    Each entry is a header line of three integers (the first is the frame id) followed by the
    four rows of a camera-to-world matrix. Raises FormatError for a cut-short or malformed file.
    """
    path = Path(path)
    rows = _files.text_rows(path, "trajectory.log")
    if len(rows) % 5:
        raise FormatError(
            f"trajectory.log: {path} has {len(rows)} lines; expected 5 per pose (cut short?)"
        )
    poses = {}
    for k in range(0, len(rows), 5):
        head = _files.floats(rows[k], 3, "trajectory.log header", path)
        m = np.stack([_files.floats(r, 4, "trajectory.log matrix", path)
                      for r in rows[k + 1:k + 5]])
        T = _files.check_rigid(m, f"trajectory.log entry {k // 5} of {path}")
        poses[int(head[0])] = T
    return poses


class RedwoodSequence(Sequence):
    """Redwood / ICL-NUIM layout (see module docstring).

    Args:
        path: the sequence folder.
        options: common :class:`ReadOptions`.
        depth_scale: depth units per metre (1000 for Redwood and ICL-NUIM's PNGs).
    """

    format = "redwood"

    def __init__(self, path, options: ReadOptions | None = None, *,
                 depth_scale: float = 1000.0) -> None:
        super().__init__(path, options)
        root = self.path
        if not root.is_dir():
            raise FormatError(f"redwood: {root} is not a directory")
        self.depth_scale = float(depth_scale)
        match = root / "rgbd.match"
        if match.is_file():
            pairs = []
            for row in _files.text_rows(match, "rgbd.match"):
                if len(row) < 2:
                    raise FormatError(f"rgbd.match: {match}: expected 'depth color' per line")
                pairs.append((root / row[1], root / row[0]))
        else:
            cdir = root / "color" if (root / "color").is_dir() else root / "image"
            colors = _files.list_files(cdir, _files.COLOR_EXTS)
            depths = _files.list_files(root / "depth", _files.DEPTH_EXTS)
            if len(colors) != len(depths):
                raise FormatError(
                    f"redwood: {len(colors)} colour but {len(depths)} depth images under {root}"
                )
            pairs = list(zip(colors, depths))
        if not pairs:
            raise FormatError(f"redwood: no frames under {root}")
        self._pairs = pairs
        self._intrinsics = find_intrinsics_file(root)
        traj = root / "trajectory.log"
        self._poses = read_trajectory_log(traj) if traj.is_file() else None

    def _num_source_frames(self) -> int:
        return len(self._pairs)

    def _pose(self, i: int):
        return None if self._poses is None else self._poses.get(i)

    def _read_source(self, i: int) -> RawFrame:
        cpath, dpath = self._pairs[i]
        depth, invalid = decode_depth_scaled(decode_u16(dpath), self.depth_scale)
        return RawFrame(
            rgb=decode_rgb(cpath), depth_m=depth, intrinsics=self._intrinsics,
            invalid_encoded=invalid, world_T_cam=self._pose(i), timestamp_s=float(i),
            meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        return [self._pose(i) for i in self.source_indices()]

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or self._intrinsics
        return SequenceInfo(
            format=self.format, path=str(self.path), num_frames=0, num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw, intrinsics=intr,
            depth_encoding=f"uint16, {self.depth_scale:g} per metre",
            pose_source="trajectory.log" if self._poses is not None else None,
        )
