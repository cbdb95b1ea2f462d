"""TUM RGB-D benchmark sequences.

Layout (as downloaded, e.g. ``rgbd_dataset_freiburg1_desk/``)::

    rgb.txt            "timestamp filename" per line, ``#`` comments
    depth.txt          same for depth
    groundtruth.txt    optional, "timestamp tx ty tz qx qy qz qw" (camera-to-world, metres)
    rgb/<t>.png        8-bit colour
    depth/<t>.png      uint16, 5000 units per metre, 0 = invalid; registered to colour

Colour and depth are associated by timestamp (each used once, closest pairs first, within
``max_dt_s``); the pose is interpolated at the colour timestamp (linear translation, slerp
rotation) when ground truth lies within ``max_dt_s`` of it. Intrinsics come from the sequence
name (freiburg1/2/3 factory calibrations as published with the benchmark; lens distortion is
not undone) or from ``camera=``; an unknown camera falls back to the ROS default
(525, 525, 319.5, 239.5) and says so in ``info.extra``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from real3d.core import ConfigError, FormatError, Intrinsics, make_pose, quat_to_rotation
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import decode_depth_tum, decode_rgb, decode_u16

#: published colour-camera calibrations of the TUM RGB-D sensors, 640x480 (fx, fy, cx, cy)
TUM_CAMERAS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
    "default": (525.0, 525.0, 319.5, 239.5),
}


def tum_intrinsics(camera: str, width: int = 640, height: int = 480) -> Intrinsics:
    """Intrinsics of a TUM camera by name (``freiburg1``, ``freiburg2``, ``freiburg3``,
    ``default``) for a 640x480 image; other sizes are scaled."""
    try:
        fx, fy, cx, cy = TUM_CAMERAS[camera]
    except KeyError:
        raise ConfigError(
            f"unknown TUM camera {camera!r}; valid: {', '.join(TUM_CAMERAS)}") from None
    intr = Intrinsics(fx, fy, cx, cy, 640, 480)
    return intr if (width, height) == (640, 480) else intr.resized(width, height)


def camera_from_name(name: str) -> str | None:
    """``rgbd_dataset_freiburg2_xyz`` -> ``freiburg2``; None when the name says nothing."""
    m = re.search(r"freiburg([123])", name)
    return f"freiburg{m.group(1)}" if m else None


def read_file_list(path) -> tuple[np.ndarray, list[str]]:
    """TUM ``rgb.txt`` / ``depth.txt`` -> (timestamps float64 seconds, relative file names)."""
    path = Path(path)
    times, names = [], []
    for row in _files.text_rows(path, "TUM file list"):
        if len(row) < 2:
            raise FormatError(f"TUM file list: {path}: expected 'timestamp filename', got {row}")
        times.append(_files.floats(row[:1], 1, "TUM file list", path)[0])
        names.append(row[1])
    return np.asarray(times, dtype=np.float64), names


def associate(t_a: np.ndarray, t_b: np.ndarray, max_dt_s: float) -> list[tuple[int, int]]:
    """Pair timestamps of two streams one-to-one, closest pairs first, within ``max_dt_s``.

    Returns (index in a, index in b) pairs sorted by ``t_a``.
    """
    order_b = np.argsort(t_b)
    tb = t_b[order_b]
    cands = []
    for i, t in enumerate(t_a):
        lo = np.searchsorted(tb, t - max_dt_s, side="left")
        hi = np.searchsorted(tb, t + max_dt_s, side="right")
        for k in range(lo, hi):
            cands.append((abs(tb[k] - t), i, int(order_b[k])))
    cands.sort()
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in cands:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs, key=lambda p: t_a[p[0]])


def slerp_xyzw(q0: np.ndarray, q1: np.ndarray, w: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions (x, y, z, w), weight ``w`` in [0, 1]."""
    q0 = q0 / np.linalg.norm(q0)
    q1 = q1 / np.linalg.norm(q1)
    dot = float(np.dot(q0, q1))
    if dot < 0:  # the shorter way round
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + w * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - w) * theta) * q0 + np.sin(w * theta) * q1) / np.sin(theta)


def interpolate_pose(times: np.ndarray, txyz_qxyzw: np.ndarray, t: float,
                     max_dt_s: float) -> np.ndarray | None:
    """Pose at time ``t`` from sorted samples (N,) and (N, 7) rows ``tx ty tz qx qy qz qw``.

    Interpolates between the bracketing samples when both are within ``max_dt_s`` of ``t``,
    else takes the nearest sample within ``max_dt_s``; None when there is none.
    """
    if len(times) == 0:
        return None
    k = int(np.searchsorted(times, t))
    lo, hi = k - 1, k
    has_lo = lo >= 0 and t - times[lo] <= max_dt_s
    has_hi = hi < len(times) and times[hi] - t <= max_dt_s
    if hi < len(times) and times[hi] == t:
        v = txyz_qxyzw[hi]
    elif has_lo and has_hi:
        w = (t - times[lo]) / (times[hi] - times[lo])
        a, b = txyz_qxyzw[lo], txyz_qxyzw[hi]
        v = np.concatenate([a[:3] + w * (b[:3] - a[:3]), slerp_xyzw(a[3:], b[3:], w)])
    elif has_lo or has_hi:
        v = txyz_qxyzw[lo] if has_lo and (not has_hi or t - times[lo] <= times[hi] - t) \
            else txyz_qxyzw[hi]
    else:
        return None
    return make_pose(quat_to_rotation(v[3:]), v[:3])


class TUMSequence(Sequence):
    """A TUM RGB-D sequence folder (see module docstring).

    Args:
        path: the sequence folder holding ``rgb.txt`` and ``depth.txt``.
        options: common :class:`ReadOptions`.
        camera: ``freiburg1``/``freiburg2``/``freiburg3``/``default``; None = from the name.
        max_dt_s: association tolerance between colour, depth and ground truth, seconds.
    """

    format = "tum"

    def __init__(self, path, options: ReadOptions | None = None, *, camera: str | None = None,
                 max_dt_s: float = 0.02) -> None:
        super().__init__(path, options)
        root = self.path
        if not root.is_dir():
            raise FormatError(f"tum: {root} is not a directory")
        self.max_dt_s = float(max_dt_s)
        t_rgb, rgb_names = read_file_list(root / "rgb.txt")
        t_depth, depth_names = read_file_list(root / "depth.txt")
        pairs = associate(t_rgb, t_depth, self.max_dt_s)
        if not pairs:
            raise FormatError(f"tum: no colour/depth pairs within {self.max_dt_s} s in {root}")
        self._frames = [(t_rgb[i], root / rgb_names[i], root / depth_names[j]) for i, j in pairs]
        guessed = camera_from_name(root.resolve().name)
        self.camera = camera or guessed or "default"
        self._camera_guessed = camera is None and guessed is None
        tum_intrinsics(self.camera)  # validates the name
        gt = root / "groundtruth.txt"
        self._gt = None
        if gt.is_file():
            rows = [_files.floats(r, 8, "groundtruth.txt", gt) for r in _files.text_rows(gt, "gt")]
            if rows:
                a = np.stack(rows)
                a = a[np.argsort(a[:, 0])]
                self._gt = (a[:, 0], a[:, 1:])

    def _num_source_frames(self) -> int:
        return len(self._frames)

    def _pose(self, i: int):
        if self._gt is None:
            return None
        return interpolate_pose(self._gt[0], self._gt[1], self._frames[i][0], self.max_dt_s)

    def _read_source(self, i: int) -> RawFrame:
        t, cpath, dpath = self._frames[i]
        rgb = decode_rgb(cpath)
        depth, invalid = decode_depth_tum(decode_u16(dpath))
        return RawFrame(
            rgb=rgb, depth_m=depth, intrinsics=tum_intrinsics(self.camera, rgb.shape[1],
                                                              rgb.shape[0]),
            invalid_encoded=invalid, world_T_cam=self._pose(i), timestamp_s=float(t),
            meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        return [self._pose(i) for i in self.source_indices()]

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or tum_intrinsics(self.camera)
        return SequenceInfo(
            format=self.format, path=str(self.path), num_frames=0, num_source_frames=0,
            size_hw=intr.size_hw, intrinsics=intr, depth_encoding="uint16, 5000 per metre",
            pose_source="groundtruth.txt" if self._gt is not None else None,
            extra={"camera": self.camera + (" (name unknown: ROS default)"
                                            if self._camera_guessed else "")},
        )
