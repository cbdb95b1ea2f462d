"""TUM RGB-D benchmark sequences.

Layout (as downloaded, e.g. ``rgbd_dataset_freiburg1_desk/``)::

    rgb.txt            "timestamp filename" per line, ``#`` comments
    depth.txt          same for depth
    groundtruth.txt    optional, "timestamp tx ty tz qx qy qz qw" (camera-to-world, metres)
    rgb/<t>.png        8-bit colour
    depth/<t>.png      uint16, 5000 units per metre, 0 = invalid; registered to colour

Colour and depth are associated by timestamp (each used once, closest pairs first, within
``max_dt_s``); the pose is interpolated at the colour timestamp (linear translation, slerp
rotation) when ground truth lies within ``max_dt_s`` of it. A damaged ground-truth row (not
8 numbers, NaN/inf, a zero quaternion) spoils only the frames whose pose would use it: they
are listed by ``known_bad()`` and skipped while iterating; a ``groundtruth.txt`` without
one usable row is refused. Unreadable rows of ``rgb.txt`` / ``depth.txt`` are left out and
counted in ``info.extra``. Intrinsics come from the sequence
name (freiburg1/2/3 factory calibrations as published with the benchmark; lens distortion is
not undone) or from ``camera=``; an unknown camera falls back to the ROS default
(525, 525, 319.5, 239.5) and says so in ``info.extra``.
"""

from __future__ import annotations

import re
import warnings
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
        raise ConfigError(f"unknown TUM camera {camera!r}; valid: {', '.join(TUM_CAMERAS)}") from None
    intr = Intrinsics(fx, fy, cx, cy, 640, 480)
    return intr if (width, height) == (640, 480) else intr.resized(width, height)


def camera_from_name(name: str) -> str | None:
    """``rgbd_dataset_freiburg2_xyz`` -> ``freiburg2``; None when the name says nothing."""
    m = re.search(r"freiburg([123])", name)
    return f"freiburg{m.group(1)}" if m else None


def read_file_list(path, bad_rows: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """TUM ``rgb.txt`` / ``depth.txt`` -> (timestamps float64 seconds, relative file names).

    A row that is not ``timestamp filename`` (with a finite timestamp) raises FormatError,
    or, when ``bad_rows`` is a list, is left out and described there.
    """
    path = Path(path)
    times, names = [], []
    for row in _files.text_rows(path, "TUM file list"):
        try:
            if len(row) < 2:
                raise FormatError(f"TUM file list: {path}: expected 'timestamp filename', got {row}")
            t = _files.floats(row[:1], 1, "TUM file list", path)[0]
            if not np.isfinite(t):
                raise FormatError(f"TUM file list: {path}: timestamp {row[0]!r} is not finite")
        except FormatError as e:
            if bad_rows is None:
                raise
            bad_rows.append(str(e))
            continue
        times.append(t)
        names.append(row[1])
    return np.asarray(times, dtype=np.float64), names


def read_groundtruth(path) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """TUM ``groundtruth.txt`` -> (times (N,) float64 sorted, rows (N, 7)
    ``tx ty tz qx qy qz qw`` float64, {row: why it is unusable}).

    Rows whose timestamp can be read are all kept, so that a frame near a damaged row is
    not silently given the pose of a farther one; a damaged row's values are NaN and its
    reason is in the dict. Rows without a readable timestamp are left out. A file without
    rows gives empty arrays; one whose rows are all unusable raises FormatError.
    """
    path = Path(path)
    times, vals, bad = [], [], {}
    reasons = []
    for n, row in enumerate(_files.text_rows(path, "groundtruth.txt")):
        try:
            t = float(row[0])
        except ValueError:
            reasons.append(f"row {n + 1}: timestamp {row[0]!r} is not a number")
            continue
        if not np.isfinite(t):
            reasons.append(f"row {n + 1}: timestamp {row[0]!r} is not finite")
            continue
        try:
            v = _files.floats(row, 8, "groundtruth.txt", path)[1:]
            if not np.isfinite(v).all():
                raise FormatError(f"groundtruth.txt: {path}: row {n + 1} (t={t}) has NaN/inf")
            if np.linalg.norm(v[3:]) < 1e-6:
                raise FormatError(f"groundtruth.txt: {path}: row {n + 1} (t={t}) has a zero quaternion")
        except FormatError as e:
            bad[len(times)] = str(e)
            reasons.append(str(e))
            v = np.full(7, np.nan)
        times.append(t)
        vals.append(v)
    rows_seen = len(times) + len(reasons) - len(bad)
    if rows_seen == 0:
        return np.zeros(0), np.zeros((0, 7)), {}
    if len(bad) == len(times):
        raise FormatError(
            f"groundtruth.txt: {path}: no usable row (expected 8 numbers "
            "'timestamp tx ty tz qx qy qz qw' per row with a non-zero "
            f"quaternion); {reasons[0] if reasons else 'the file is empty'}"
        )
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return times[order], np.stack(vals)[order], {int(rank[k]): r for k, r in bad.items()}


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


def samples_used(times: np.ndarray, t: float, max_dt_s: float) -> tuple[int, ...]:
    """Indices of the sorted samples ``times`` that :func:`interpolate_pose` uses for time
    ``t``: the two bracketing ones, or the one nearest within ``max_dt_s``, or none."""
    if len(times) == 0:
        return ()
    k = int(np.searchsorted(times, t))
    lo, hi = k - 1, k
    has_lo = lo >= 0 and t - times[lo] <= max_dt_s
    has_hi = hi < len(times) and times[hi] - t <= max_dt_s
    if hi < len(times) and times[hi] == t:
        return (hi,)
    if has_lo and has_hi:
        return (lo, hi)
    if has_lo or has_hi:
        return (lo,) if has_lo and (not has_hi or t - times[lo] <= times[hi] - t) else (hi,)
    return ()


def interpolate_pose(times: np.ndarray, txyz_qxyzw: np.ndarray, t: float, max_dt_s: float) -> np.ndarray | None:
    """Pose at time ``t`` from sorted samples (N,) and (N, 7) rows ``tx ty tz qx qy qz qw``.

    Interpolates between the bracketing samples when both are within ``max_dt_s`` of ``t``,
    else takes the nearest sample within ``max_dt_s``; None when there is none. A sample
    with NaN/inf values or a zero quaternion raises FormatError.
    """
    used = samples_used(times, t, max_dt_s)
    for k in used:
        v = txyz_qxyzw[k]
        if not np.isfinite(v).all() or np.linalg.norm(v[3:]) < 1e-6:
            raise FormatError(
                f"pose sample at t={times[k]}: expected finite 'tx ty tz qx qy "
                f"qz qw' with a non-zero quaternion, got {np.asarray(v).tolist()}"
            )
    if not used:
        return None
    if len(used) == 1:
        v = txyz_qxyzw[used[0]]
    else:
        lo, hi = used
        w = (t - times[lo]) / (times[hi] - times[lo])
        a, b = txyz_qxyzw[lo], txyz_qxyzw[hi]
        v = np.concatenate([a[:3] + w * (b[:3] - a[:3]), slerp_xyzw(a[3:], b[3:], w)])
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

    def __init__(
        self, path, options: ReadOptions | None = None, *, camera: str | None = None, max_dt_s: float = 0.02
    ) -> None:
        super().__init__(path, options)
        root = self.path
        if not root.is_dir():
            raise FormatError(f"tum: {root} is not a directory")
        self.max_dt_s = float(max_dt_s)
        self._bad_list_rows: list[str] = []
        t_rgb, rgb_names = read_file_list(root / "rgb.txt", self._bad_list_rows)
        t_depth, depth_names = read_file_list(root / "depth.txt", self._bad_list_rows)
        if self._bad_list_rows:
            warnings.warn(
                f"tum: {len(self._bad_list_rows)} unreadable row(s) of rgb.txt / "
                f"depth.txt left out; first: {self._bad_list_rows[0]}",
                stacklevel=2,
            )
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
        times, vals, bad_rows = read_groundtruth(gt) if gt.is_file() else ((), (), {})
        if len(times):
            self._gt = (times, vals)
            if bad_rows:
                # A frame whose pose would use a damaged row is known to be bad now.
                for i, (t, _, _) in enumerate(self._frames):
                    hit = [k for k in samples_used(times, t, self.max_dt_s) if k in bad_rows]
                    if hit:
                        self._mark_bad(i, f"tum: pose of the frame at t={t:.6f}: {bad_rows[hit[0]]}")

    def _num_source_frames(self) -> int:
        return len(self._frames)

    def _pose(self, i: int):
        if self._gt is None:
            return None
        try:
            return interpolate_pose(self._gt[0], self._gt[1], self._frames[i][0], self.max_dt_s)
        except FormatError as e:
            raise FormatError(f"tum: groundtruth.txt of {self.path}: {e}") from None

    def _read_source(self, i: int) -> RawFrame:
        t, cpath, dpath = self._frames[i]
        rgb = decode_rgb(cpath)
        depth, invalid = decode_depth_tum(decode_u16(dpath))
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=tum_intrinsics(self.camera, rgb.shape[1], rgb.shape[0]),
            invalid_encoded=invalid,
            world_T_cam=self._pose(i),
            timestamp_s=float(t),
            meta={"color_path": str(cpath), "depth_path": str(dpath)},
        )

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        intr = self.options.intrinsics or tum_intrinsics(self.camera)
        extra = {"camera": self.camera + (" (name unknown: ROS default)" if self._camera_guessed else "")}
        if self._bad_list_rows:
            extra["unreadable list rows"] = f"{len(self._bad_list_rows)} left out; first: {self._bad_list_rows[0]}"
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=intr.size_hw,
            intrinsics=intr,
            depth_encoding="uint16, 5000 per metre",
            pose_source="groundtruth.txt" if self._gt is not None else None,
            extra=extra,
        )
