"""A plain folder of colour and depth images, optionally with a pose list.

Layout (e.g. the Kinect captures used in the SLAM textbook exercises)::

    color/<name>.png|jpg          8-bit colour
    depth/<name>.png|pgm          16-bit depth, encoding set by ``depth_encoding``
    pose.txt                      optional, one line per colour image in name order:
                                  ``tx ty tz qx qy qz qw`` (camera-to-world, metres)
    intrinsics.json | camera*.json   optional: fx, fy, cx, cy, width, height (real3d) or
                                  Open3D's PinholeCameraIntrinsic

Each colour image is a frame; its depth image is the one with the same file stem. Without
an intrinsics file, pass ``intrinsics=Intrinsics(...)``; a frame without intrinsics raises
FormatError.

Damage costs only the frames it touches: a colour image without its depth image, or a
``pose.txt`` line that is not 7 numbers with a finite, non-zero quaternion, makes that frame
known-bad (``known_bad()``; skipped and reported while iterating). A folder without one
colour/depth pair, or a ``pose.txt`` whose line count matches neither the colour images nor
the complete pairs (its lines could not be assigned to frames), is refused with FormatError.
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
        raise ConfigError(f"unknown depth encoding {encoding!r}; valid: {', '.join(DEPTH_DECODERS)}") from None
    path = Path(path)
    if path.suffix.lower() == ".pgm":
        raw = read_pgm16(path, "little" if encoding == "nyu_disparity" else "big")
    else:
        raw = decode_u16(path)
    return decode(raw)


def read_pose_lines(path: Path, lenient: bool = False) -> list[np.ndarray | str]:
    """``tx ty tz qx qy qz qw`` per line -> list of (4, 4) float64 world_T_cam.

    A line that is not 7 finite numbers with a non-zero quaternion raises FormatError, or
    with ``lenient`` stands in the list as the string saying why (one entry per line
    either way, so the lines stay in step with the frames).
    """
    rows = _files.text_rows(path, "pose list")
    poses = []
    for n, row in enumerate(rows):
        try:
            v = _files.floats(row, 7, "pose list", path)
            if not np.isfinite(v).all() or np.linalg.norm(v[3:7]) < 1e-6:
                raise FormatError(
                    f"pose list: {path}: line {n + 1}: expected finite "
                    f"'tx ty tz qx qy qz qw' with a non-zero quaternion, got "
                    f"{' '.join(row)!r}"
                )
            poses.append(make_pose(quat_to_rotation(v[3:7]), v[:3]))
        except FormatError as e:
            if not lenient:
                raise
            poses.append(str(e))
    return poses


def find_intrinsics_file(root: Path) -> Intrinsics | None:
    """intrinsics.json (real3d keys) or an Open3D camera json in ``root``, else None."""
    p = root / "intrinsics.json"
    if p.is_file():
        d = _files.read_json(p, "intrinsics.json")
        if isinstance(d, dict) and "intrinsic_matrix" in d:
            return _files.intrinsics_from_open3d_json(p)
        return _files.intrinsics_from_dict(d, p)
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
        pose_file: pose list name inside the folder (default ``pose.txt``; absent or None =
            no poses).
    """

    format = "folder"

    def __init__(
        self,
        path,
        options: ReadOptions | None = None,
        *,
        depth_encoding: str = "mm",
        pose_file: str | None = "pose.txt",
    ) -> None:
        super().__init__(path, options)
        if depth_encoding not in DEPTH_DECODERS:
            raise ConfigError(f"unknown depth encoding {depth_encoding!r}; valid: {', '.join(DEPTH_DECODERS)}")
        self.depth_encoding = depth_encoding
        root = self.path
        if not root.is_dir():
            raise FormatError(f"folder: {root} is not a directory")
        self._pairs = self._find_pairs(root)
        if not any(d is not None for _, d in self._pairs):
            raise FormatError(f"{self.format}: no colour/depth pairs with equal names under {root}")
        for i, (cpath, dpath) in enumerate(self._pairs):
            if dpath is None:
                self._mark_bad(i, f"{self.format}: {cpath.name} has no depth image ({self._depth_hint(cpath)})")
        self._intrinsics = find_intrinsics_file(root)
        self._poses: list[np.ndarray | None] | None = None
        pose_path = None if pose_file is None else root / pose_file
        if pose_path is not None and pose_path.is_file():
            self._poses = self._assign_poses(pose_path)

    def _assign_poses(self, pose_path: Path) -> list[np.ndarray | None]:
        """Pose of each frame from the pose list: one line per colour image, or (older
        captures) one per complete colour/depth pair."""
        lines = read_pose_lines(pose_path, lenient=True)
        if all(isinstance(v, str) for v in lines):
            raise FormatError(
                f"{self.format}: {pose_path} has no usable line; " + (lines[0] if lines else "it is empty")
            )
        complete = [i for i, (_, d) in enumerate(self._pairs) if d is not None]
        if len(lines) == len(self._pairs):
            owners = list(range(len(self._pairs)))
        elif len(lines) == len(complete):
            owners = complete
        else:
            raise FormatError(
                f"{self.format}: {pose_path} has {len(lines)} poses for {len(self._pairs)} "
                f"frames ({len(complete)} with depth); expected one line per colour image in "
                "name order (pass pose_file=None to read the frames without poses)"
            )
        poses: list[np.ndarray | None] = [None] * len(self._pairs)
        for i, v in zip(owners, lines):
            if isinstance(v, str):
                self._mark_bad(i, f"{self.format}: {v}")
            else:
                poses[i] = v
        return poses

    def _depth_hint(self, cpath: Path) -> str:
        return f"expected depth/{cpath.stem}.png or .pgm"

    def _find_pairs(self, root: Path) -> list[tuple[Path, Path | None]]:
        """(colour, depth or None) per colour image, in natural name order."""
        colors = _files.list_files(root / "color", _files.COLOR_EXTS)
        depths = {p.stem: p for p in _files.list_files(root / "depth", _files.DEPTH_EXTS)}
        return [(c, depths.get(c.stem)) for c in colors]

    def _num_source_frames(self) -> int:
        return len(self._pairs)

    def _read_source(self, i: int) -> RawFrame:
        cpath, dpath = self._pairs[i]
        if dpath is None:
            raise FormatError(f"{self.format}: {cpath.name} has no depth image")
        rgb = decode_rgb(cpath)
        depth, invalid = read_depth_file(dpath, self.depth_encoding)
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=self._intrinsics,
            invalid_encoded=invalid,
            world_T_cam=None if self._poses is None else self._poses[i],
            timestamp_s=float(i),
            meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        if self._poses is None:
            return [None] * len(self)
        return self._collect_poses(self._poses.__getitem__)

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or self._intrinsics
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw,
            intrinsics=intr,
            depth_encoding=f"uint16 {self.depth_encoding}",
            pose_source="pose.txt" if self._poses is not None else None,
        )


def find_flat_pairs(root: Path, unpaired: bool = False) -> list[tuple[Path, Path | None]]:
    """``<stem>.png|jpg`` beside ``<stem>_depth.png|pgm`` in one folder, in natural order.

    With ``unpaired``, colour images without a depth image are listed too, with None.
    """
    try:
        files = [p for p in sorted(Path(root).iterdir()) if p.is_file()]
    except OSError as e:
        raise FormatError(f"pairs: cannot list {root}: {e}") from None
    depths = {
        p.stem[: -len("_depth")]: p
        for p in files
        if p.stem.endswith("_depth") and p.suffix.lower() in _files.DEPTH_EXTS
    }
    colors = {p.stem: p for p in files if not p.stem.endswith("_depth") and p.suffix.lower() in _files.COLOR_EXTS}
    stems = set(colors) if unpaired else set(colors) & set(depths)
    return [(colors[s], depths.get(s)) for s in sorted(stems, key=_files.natural_key)]


class PairsSequence(FolderSequence):
    """A flat folder of ``<stem>.png|jpg`` colour images each beside ``<stem>_depth.png``
    (loose captures, e.g. ``1.png`` + ``1_depth.png``). Options as :class:`FolderSequence`;
    pass ``depth_encoding="tum"`` for TUM-scaled depth and ``intrinsics=`` when the folder
    has no intrinsics file. A colour image without its ``_depth`` image is a frame that is
    skipped and reported (``known_bad()``, ``skipped``), not an RGB-only frame: a lost depth
    file is damage to report, not a different kind of input."""

    format = "pairs"

    def _depth_hint(self, cpath: Path) -> str:
        return f"expected {cpath.stem}_depth.png or .pgm beside it"

    def _find_pairs(self, root: Path) -> list[tuple[Path, Path | None]]:
        pairs = find_flat_pairs(root, unpaired=True)
        if not any(d is not None for _, d in pairs):
            raise FormatError(f"pairs: no <name>.png beside <name>_depth.png under {root}")
        return pairs
