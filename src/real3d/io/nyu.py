"""NYU Depth v2: the labeled set (``nyu_depth_v2_labeled.mat``) and raw Kinect dumps.

Labeled set: a MATLAB v7.3 file, i.e. HDF5, read with h5py one frame at a time. MATLAB
stores arrays column-major, so h5py sees them transposed: ``images`` is (N, 3, 640, 480)
uint8, ``depths`` / ``rawDepths`` (N, 640, 480) float32 metres, ``labels`` (N, 640, 480)
894-class ids (0 = unlabeled), ``instances`` (N, 640, 480) per-class instance ids. Labels are
mapped 894 -> 40 -> 13 with the published tables (shipped in ``real3d/io/data``), the
official 795/654 train/test split selects frames, and the published per-frame gravity
rotations give a gravity-aligned pose (see :func:`gravity_pose`).

Raw dumps: a scene folder with ``r-<t>-<n>.ppm`` colour and ``d-<t>-<n>.pgm`` Kinect
disparity (16-bit, little-endian, ``depth_m = 351.3 / (1092.5 - d)``, ``d >= 2047`` invalid).
That depth is in the depth camera's frame; it is registered to the colour camera with the
published NYU calibration (:func:`register_depth_to_color`).

Camera: the published calibration uses MATLAB's 1-based pixel coordinates; real3d puts pixel
centres at 0-based integers, so the principal points here are the published ones minus 1.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from real3d.core import ConfigError, FormatError, InputError, Intrinsics, make_pose
from real3d.io import _files
from real3d.io.base import (
    DAMAGED_INPUT_ERRORS,
    RawFrame,
    ReadOptions,
    Sequence,
    SequenceInfo,
    as_format_error,
)
from real3d.io.codecs import decode_depth_float, decode_depth_nyu_disparity, decode_rgb, read_pgm16
from real3d.geometry.register import zbuffer_to_color
from real3d.io.nyu_tables import (  # noqa: F401 (nyu894_*: public here before they moved)
    nyu894_names,
    nyu894_to_40,
    nyu_gravity_rotations,
    nyu_splits,
)
from real3d.io.sunrgbd import CAM_TO_ZUP

#: NYU colour camera (published fx, fy, cx, cy = 518.8579, 519.4696, 325.5824, 253.7362 in
#: 1-based pixel coordinates), 640x480
NYU_COLOR_INTRINSICS = Intrinsics(518.8579, 519.4696, 324.5824, 252.7362, 640, 480)
#: NYU Kinect depth (IR) camera (published 582.6245, 582.6910, 313.0448, 238.4439, 1-based)
NYU_DEPTH_INTRINSICS = Intrinsics(582.62448, 582.69103, 312.04476, 237.44390, 640, 480)
# Depth-to-colour extrinsics from the published calibration. The published rotation is
# stored negated; undone here so that p_color = R @ p_depth + t with R close to identity.
# The translation puts the depth (IR) camera 2.5 cm to the left of the colour camera,
# where it sits on a Kinect v1 seen from behind.
_NYU_R_PUBLISHED = np.array(
    [
        9.9997798940829263e-01,
        5.0518419386157446e-03,
        4.3011152014118693e-03,
        -5.0359919480810989e-03,
        9.9998051861143999e-01,
        -3.6879781309514218e-03,
        -4.3196624923060242e-03,
        3.6662365748484798e-03,
        9.9998394948385538e-01,
    ]
).reshape(3, 3, order="F")
NYU_COLOR_R_DEPTH = np.linalg.inv(_NYU_R_PUBLISHED.T)
NYU_COLOR_t_DEPTH = -np.array([2.5031875059141302e-02, 6.6238747008330102e-04, -2.9342312935846411e-04])


def gravity_pose(R_g_cam: np.ndarray) -> np.ndarray:
    """NYU gravity rotation (p_g = R p_cam, y down) -> (4, 4) gravity_T_cam with world z up
    and the camera at the origin."""
    return _files.check_rigid(make_pose(CAM_TO_ZUP @ R_g_cam, np.zeros(3)), "NYU gravity")


NYU_LABELED_SIZE = 1449


class NYUv2LabeledSequence(Sequence):
    """``nyu_depth_v2_labeled.mat`` read frame by frame (see module docstring).

    Args:
        path: the ``.mat`` file (MATLAB v7.3 / HDF5).
        options: common :class:`ReadOptions`; ``label_set`` picks NYUv2-13 or -40 labels.
        split: ``"train"`` (795 frames), ``"test"`` (654) or None (all, file order).
        depth: ``"filled"`` (``depths``, the in-painted maps used by most benchmarks; default)
            or ``"raw"`` (``rawDepths``, registered sensor depth with holes).
        gravity: give each frame the published gravity-aligned pose (world z up, camera at
            the origin) as ``world_T_cam`` and ``meta["gravity_T_cam"]``. Only applied to a
            file with the full 1,449 frames, since the rotations are indexed by frame.
    """

    format = "nyu_labeled"

    def __init__(
        self,
        path,
        options: ReadOptions | None = None,
        *,
        split: str | None = None,
        depth: str = "filled",
        gravity: bool = True,
    ) -> None:
        super().__init__(path, options)
        import h5py

        p = self.path
        if not p.is_file():
            raise FormatError(f"nyu_labeled: file not found: {p}")
        if not h5py.is_hdf5(p):
            raise FormatError(
                f"nyu_labeled: {p} is not HDF5 (MATLAB v7.3); the labeled set is distributed "
                "as v7.3 - a v5 .mat or a truncated download cannot be read"
            )
        if depth not in ("filled", "raw"):
            raise ConfigError(f"nyu_labeled: depth must be 'filled' or 'raw', got {depth!r}")
        try:
            self._h5 = h5py.File(p, "r")
        except OSError as e:
            raise FormatError(f"nyu_labeled: cannot open {p}: {e}") from None
        try:
            self._images = self._dataset("images", 4)
            self._depths = self._dataset("depths" if depth == "filled" else "rawDepths", 3)
            self._labels = self._h5["labels"] if "labels" in self._h5 else None
            self._instances = self._h5["instances"] if "instances" in self._h5 else None
        except (FormatError, *DAMAGED_INPUT_ERRORS, RuntimeError) as e:
            # h5py reports a damaged file's metadata as KeyError / OSError / RuntimeError
            self._h5.close()
            raise as_format_error(e, f"nyu_labeled: {p}") from None
        n = self._images.shape[0]
        if self._depths.shape[0] != n or self._images.shape[1:] != (3,) + self._depths.shape[1:]:
            self._h5.close()
            raise FormatError(f"nyu_labeled: images {self._images.shape} and depths {self._depths.shape} disagree")
        if split is None:
            self._frames = list(range(n))
        elif split in ("train", "test"):
            if n != NYU_LABELED_SIZE:
                self._h5.close()
                raise FormatError(f"nyu_labeled: split {split!r} needs the full {NYU_LABELED_SIZE} frames, {p} has {n}")
            self._frames = list(nyu_splits()[split])
        else:
            raise ConfigError(f"nyu_labeled: split must be 'train', 'test' or None, got {split!r}")
        self.split = split
        self.depth_kind = depth
        self.gravity = bool(gravity) and n == NYU_LABELED_SIZE

    def _dataset(self, name: str, ndim: int):
        if name not in self._h5:
            raise FormatError(f"nyu_labeled: {self.path} has no '{name}' array (found {sorted(self._h5.keys())})")
        ds = self._h5[name]
        if ds.ndim != ndim:
            raise FormatError(f"nyu_labeled: '{name}' has shape {ds.shape}, expected {ndim} dims")
        return ds

    def close(self) -> None:
        h5 = getattr(self, "_h5", None)
        if h5 is not None and h5.id.valid:
            h5.close()

    def _num_source_frames(self) -> int:
        return len(self._frames)

    def _pose(self, i: int):
        if not self.gravity:
            return None
        return gravity_pose(nyu_gravity_rotations()[self._frames[i]])

    def _read_source(self, i: int) -> RawFrame:
        k = self._frames[i]
        try:
            # One frame per read: h5py slices the file, nothing else is loaded.
            rgb = np.ascontiguousarray(np.asarray(self._images[k]).transpose(2, 1, 0))
            depth = np.asarray(self._depths[k], dtype=np.float32).T
            labels = None if self._labels is None else np.asarray(self._labels[k]).T
            inst = None if self._instances is None else np.asarray(self._instances[k]).T
        except (*DAMAGED_INPUT_ERRORS, RuntimeError) as e:
            raise FormatError(f"nyu_labeled: cannot read frame {k} of {self.path}: {e}") from None
        if rgb.dtype != np.uint8:
            raise FormatError(f"nyu_labeled: images are {rgb.dtype}, expected uint8")
        depth, invalid = decode_depth_float(depth)
        instances = None
        if inst is not None and labels is not None:
            # NYU instance ids restart per class; label * 1000 + instance makes them unique.
            instances = np.where(inst > 0, labels.astype(np.int64) * 1000 + inst, 0)
        pose = self._pose(i)
        meta = {"nyu_index": k}
        if pose is not None:
            meta["gravity_T_cam"] = pose
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=NYU_COLOR_INTRINSICS.resized(rgb.shape[1], rgb.shape[0]),
            invalid_encoded=invalid,
            world_T_cam=pose,
            timestamp_s=float(k),
            labels=labels,
            label_src="nyu894",
            instances=instances,
            meta=meta,
        )

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        h, w = self._images.shape[3], self._images.shape[2]
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=(h, w),
            intrinsics=NYU_COLOR_INTRINSICS.resized(w, h),
            depth_encoding=f"float32 m ({self.depth_kind})",
            label_set=self.options.label_set if self._labels is not None else None,
            pose_source="gravity (published rotations, camera at origin)" if self.gravity else None,
            extra={"split": self.split or "all", "file_frames": int(self._images.shape[0])},
        )


# ---------------------------------------------------------------------------------------
# raw dumps


@lru_cache(maxsize=4)
def _pixel_rays(K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (x / z, y / z) of camera K, float32 (H, W) each."""
    u = (np.arange(K.width, dtype=np.float32) - np.float32(K.cx)) / np.float32(K.fx)
    v = (np.arange(K.height, dtype=np.float32) - np.float32(K.cy)) / np.float32(K.fy)
    return np.broadcast_to(u, (K.height, K.width)), np.broadcast_to(v[:, None], (K.height, K.width))


def register_depth_to_color(
    depth_m: np.ndarray,
    depth_K: Intrinsics = NYU_DEPTH_INTRINSICS,
    color_K: Intrinsics = NYU_COLOR_INTRINSICS,
    color_R_depth: np.ndarray = NYU_COLOR_R_DEPTH,
    color_t_depth: np.ndarray = NYU_COLOR_t_DEPTH,
) -> np.ndarray:
    """Re-project depth from the depth camera into the colour camera.

    Args:
        depth_m: (H, W) float32 z-depth in metres in the depth camera, 0 = invalid.
        depth_K, color_K: intrinsics of the two cameras (depth_K for depth_m's size).
        color_R_depth, color_t_depth: p_color = R @ p_depth + t (metres).

    Returns:
        (color_K.height, color_K.width) float32 z-depth in metres in the colour camera,
        0 where no depth pixel lands. Where several land on one pixel the nearest wins.
    """
    if depth_m.shape != depth_K.size_hw:
        raise InputError(f"register_depth_to_color: depth is {depth_m.shape}, depth_K is for {depth_K.size_hw}")
    valid = depth_m > 0
    z = depth_m[valid].astype(np.float32)
    rx, ry = _pixel_rays(depth_K)
    x, y = rx[valid] * z, ry[valid] * z
    R = np.asarray(color_R_depth, dtype=np.float32)
    t = np.asarray(color_t_depth, dtype=np.float32).reshape(3)
    return zbuffer_to_color(x, y, z, R, t, color_K)


_RAW_NAME = re.compile(r"^([rd])-(\d+(?:\.\d+)?)-\d+\.(ppm|pgm)$")


def list_raw_dump(folder: Path) -> tuple[list[tuple[float, Path]], list[tuple[float, Path]]]:
    """(colour, depth) lists of (timestamp_s, path), sorted, from a NYU raw scene folder."""
    rgb, dep = [], []
    for p in folder.iterdir():
        m = _RAW_NAME.match(p.name)
        if m:
            (rgb if m.group(1) == "r" else dep).append((float(m.group(2)), p))
    return sorted(rgb), sorted(dep)


class NYURawSequence(Sequence):
    """A NYU Depth v2 raw scene folder (``r-*.ppm`` + ``d-*.pgm``).

    Each depth frame is paired with the colour frame closest in time (within ``max_dt_s``),
    as the NYU toolbox does; the disparity is converted to metres and, with ``register``,
    re-projected into the colour camera.

    Args:
        path: the scene folder.
        options: common :class:`ReadOptions`.
        register: register depth to colour (default). When False the depth stays in the
            depth camera, the frame's intrinsics are the depth camera's and the colour image
            is NOT aligned with it (``meta["registered"]`` says which).
        max_dt_s: pairing tolerance in seconds.
    """

    format = "nyu_raw"

    def __init__(
        self, path, options: ReadOptions | None = None, *, register: bool = True, max_dt_s: float = 0.05
    ) -> None:
        super().__init__(path, options)
        from real3d.io.tum import associate

        root = self.path
        if not root.is_dir():
            raise FormatError(f"nyu_raw: {root} is not a directory")
        rgb, dep = list_raw_dump(root)
        if not rgb or not dep:
            raise FormatError(f"nyu_raw: no r-*.ppm / d-*.pgm frames in {root}")
        pairs = associate(np.array([t for t, _ in dep]), np.array([t for t, _ in rgb]), float(max_dt_s))
        if not pairs:
            raise FormatError(f"nyu_raw: no colour frame within {max_dt_s} s of a depth frame")
        self._pairs = [(dep[i][0], rgb[j][1], dep[i][1]) for i, j in pairs]
        self.register = bool(register)

    def _num_source_frames(self) -> int:
        return len(self._pairs)

    def _read_source(self, i: int) -> RawFrame:
        t, cpath, dpath = self._pairs[i]
        rgb = decode_rgb(cpath)
        depth, invalid = decode_depth_nyu_disparity(read_pgm16(dpath, "little"))
        if self.register:
            # Negative depths (disparity past the range) are dropped before projecting;
            # the reader boundary still counts them as non-finite/negative.
            bad = ~np.isfinite(depth) | (depth < 0)
            removed = int(bad.sum())
            depth = register_depth_to_color(np.where(bad, 0.0, depth).astype(np.float32))
            intr = NYU_COLOR_INTRINSICS
        else:
            intr = NYU_DEPTH_INTRINSICS
            removed = 0
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intr,
            invalid_encoded=invalid,
            nonfinite_removed=removed,
            timestamp_s=t,
            meta={"registered": self.register, "color_path": str(cpath), "depth_path": str(dpath)},
        )

    def _info(self) -> SequenceInfo:
        intr = NYU_COLOR_INTRINSICS if self.register else NYU_DEPTH_INTRINSICS
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=intr.size_hw,
            intrinsics=intr,
            depth_encoding="Kinect disparity uint16 LE, 351.3 / (1092.5 - d)",
            extra={"registered": self.register},
        )
