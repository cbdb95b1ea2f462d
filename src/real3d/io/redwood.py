"""Redwood / ICL-NUIM sequences in the Open3D "Redwood" layout.

Layout::

    color/00000.jpg|png           8-bit colour (``image/`` also accepted)
    depth/00000.png               uint16 millimetres (``depth_scale`` units per metre), 0 = invalid
    camera*.json | intrinsics.json  Open3D PinholeCameraIntrinsic (column-major matrix)
    trajectory.log                optional: per frame a line ``id id n`` and a 4x4
                                  camera-to-world matrix (4 lines), metres
    rgbd.match                    optional: ``depth/x.png color/y.jpg`` per line

Without ``rgbd.match``, colour and depth are paired by file stem (``color/00003.jpg`` with
``depth/00003.png``), or in sorted order when the stems differ but the counts agree. The
k-th trajectory entry belongs to frame ``id`` of its header line.

Damage costs only the frames it touches (``known_bad()``; skipped and reported while
iterating): a colour image without its depth image, an ``rgbd.match`` line naming a
missing file, a trajectory entry that is not a rigid transform or not numbers. A log cut
short inside an entry keeps the complete entries and marks that entry's frame bad; frames
without an entry have no pose. Refused whole: no frames at all, or colour and depth
images that can be paired neither by name nor by count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core import FormatError
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import decode_depth_scaled, decode_rgb, decode_u16
from real3d.io.folder import find_intrinsics_file


def read_trajectory_log(path, bad: dict[int, str] | None = None) -> dict[int, np.ndarray]:
    """Redwood ``trajectory.log`` -> {frame id: (4, 4) float64 world_T_cam}.

    Each entry is a header line of three integers (the first is the frame id) followed by the
    four rows of a camera-to-world matrix. Raises FormatError for a cut-short or malformed
    file; when ``bad`` is a dict, a damaged entry is instead recorded there as
    {frame id: why} (the entry's position stands in for an unreadable id) and the rest is
    read, a cut-short last entry included.
    """
    path = Path(path)
    rows = _files.text_rows(path, "trajectory.log")
    if len(rows) % 5 and bad is None:
        raise FormatError(f"trajectory.log: {path} has {len(rows)} lines; expected 5 per pose (cut short?)")
    poses = {}
    for k in range(0, len(rows), 5):
        entry = k // 5
        fid = entry
        try:
            head = _files.floats(rows[k], 3, "trajectory.log header", path)
            if not np.isfinite(head[0]) or head[0] != int(head[0]) or head[0] < 0:
                raise FormatError(
                    f"trajectory.log header: {path}: entry {entry}: frame id {rows[k][0]!r} is not an integer >= 0"
                )
            fid = int(head[0])
            if k + 5 > len(rows):
                raise FormatError(
                    f"trajectory.log: {path}: cut short inside entry {entry} (frame {fid}): {len(rows) - k} of 5 lines"
                )
            m = np.stack([_files.floats(r, 4, "trajectory.log matrix", path) for r in rows[k + 1 : k + 5]])
            T = _files.check_rigid(m, f"trajectory.log entry {entry} of {path}")
            if T is None:
                raise FormatError(f"trajectory.log: {path}: entry {entry} (frame {fid}) has NaN/inf values")
        except FormatError as e:
            if bad is None:
                raise
            bad.setdefault(fid, str(e))
            continue
        if fid in poses and bad is not None:
            bad.setdefault(fid, f"trajectory.log: {path}: frame {fid} has two entries")
        poses[fid] = T
    return poses


class RedwoodSequence(Sequence):
    """Redwood / ICL-NUIM layout (see module docstring).

    Args:
        path: the sequence folder.
        options: common :class:`ReadOptions`.
        depth_scale: depth units per metre (1000 for Redwood and ICL-NUIM's PNGs).
    """

    format = "redwood"

    def __init__(self, path, options: ReadOptions | None = None, *, depth_scale: float = 1000.0) -> None:
        super().__init__(path, options)
        root = self.path
        if not root.is_dir():
            raise FormatError(f"redwood: {root} is not a directory")
        self.depth_scale = float(depth_scale)
        match = root / "rgbd.match"
        if match.is_file():
            pairs = []
            for n, row in enumerate(_files.text_rows(match, "rgbd.match")):
                if len(row) < 2:
                    self._mark_bad(
                        len(pairs), f"rgbd.match: {match}: line {n + 1}: expected 'depth color', got {' '.join(row)!r}"
                    )
                    pairs.append((None, None))
                    continue
                pairs.append((root / row[1], root / row[0]))
        else:
            pairs = self._pair_images(root)
        if not pairs:
            raise FormatError(f"redwood: no frames under {root}")
        for i, (cpath, dpath) in enumerate(pairs):
            if cpath is not None and dpath is None:
                self._mark_bad(i, f"redwood: {cpath.name} has no depth image (expected depth/{cpath.stem}.png)")
        self._pairs = pairs
        self._intrinsics = find_intrinsics_file(root)
        traj = root / "trajectory.log"
        self._poses = None
        if traj.is_file():
            bad: dict[int, str] = {}
            self._poses = read_trajectory_log(traj, bad)
            if bad and not self._poses:
                raise FormatError(f"redwood: {traj} has no usable entry; " + next(iter(bad.values())))
            for fid, reason in bad.items():
                self._mark_bad(fid, f"redwood: {reason}")

    @staticmethod
    def _pair_images(root: Path) -> list[tuple[Path, Path | None]]:
        """(colour, depth or None) per colour image: by file stem, else by sorted order."""
        cdir = root / "color" if (root / "color").is_dir() else root / "image"
        colors = _files.list_files(cdir, _files.COLOR_EXTS)
        depths = _files.list_files(root / "depth", _files.DEPTH_EXTS)
        by_stem = {p.stem: p for p in depths}
        if any(c.stem in by_stem for c in colors):
            return [(c, by_stem.get(c.stem)) for c in colors]
        if len(colors) != len(depths):
            raise FormatError(
                f"redwood: {len(colors)} colour but {len(depths)} depth images under {root}, "
                "and no colour image has a depth image of the same name; expected "
                "color/<name>.jpg|png beside depth/<name>.png, or rgbd.match"
            )
        return list(zip(colors, depths))

    def _num_source_frames(self) -> int:
        return len(self._pairs)

    def _pose(self, i: int):
        return None if self._poses is None else self._poses.get(i)

    def _read_source(self, i: int) -> RawFrame:
        cpath, dpath = self._pairs[i]
        if dpath is None:
            raise FormatError(f"redwood: frame {i} has no depth image")
        depth, invalid = decode_depth_scaled(decode_u16(dpath), self.depth_scale)
        return RawFrame(
            rgb=decode_rgb(cpath),
            depth_m=depth,
            intrinsics=self._intrinsics,
            invalid_encoded=invalid,
            world_T_cam=self._pose(i),
            timestamp_s=float(i),
            meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or self._intrinsics
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw,
            intrinsics=intr,
            depth_encoding=f"uint16, {self.depth_scale:g} per metre",
            pose_source="trajectory.log" if self._poses is not None else None,
        )
