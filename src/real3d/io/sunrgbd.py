"""SUN RGB-D in its official folder layout.

One frame per scene folder::

    <scene>/image/<name>.jpg        8-bit colour
    <scene>/depth/<name>.png        uint16, bit-rotated millimetres (see codecs.sun_unshift)
    <scene>/depth_bfx/<name>.png    the same, holes filled (``depth="filled"``)
    <scene>/intrinsics.txt          3x3 camera matrix of the colour image
    <scene>/extrinsics/*.txt        3x4 [Rtilt | 0]; the last file (sorted) is current

The path may be one scene folder (a one-frame sequence) or a folder of scene folders. A
scene folder with two of the three parts (``intrinsics.txt``, ``image/``, ``depth/``) is a
damaged scene: a frame listed by ``known_bad()`` and skipped while iterating.

Gravity: SUN's ``Rtilt`` acts on points written as (x, z, -y) of the camera (x right,
y forward, z up) and gives gravity-aligned coordinates with z up. So
``world_T_cam = [Rtilt @ C | 0]`` with C mapping camera (x right, y down, z forward) to
(x, z, -y). The camera sits at the world origin: this pose carries gravity only, not a
trajectory, and is also given as ``frame.meta["gravity_T_cam"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core import ConfigError, FormatError, Intrinsics, make_pose
from real3d.io import _files
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo
from real3d.io.codecs import decode_depth_sun, decode_rgb, decode_u16

#: camera axes (x right, y down, z forward) -> (x right, y forward, z up)
CAM_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _scene_parts(p: Path) -> dict[str, bool]:
    return {
        "intrinsics.txt": (p / "intrinsics.txt").is_file(),
        "image/": (p / "image").is_dir(),
        "depth/": (p / "depth").is_dir(),
    }


def is_scene_dir(p: Path) -> bool:
    return all(_scene_parts(p).values())


def read_rtilt(scene: Path) -> np.ndarray | None:
    """The scene's current Rtilt (3x3 float64) or None without an ``extrinsics/`` folder."""
    ext = scene / "extrinsics"
    if not ext.is_dir():
        return None
    files = sorted(ext.glob("*.txt"))
    if not files:
        return None
    m = _files.read_matrix_txt(files[-1], (3, 4), "SUN extrinsics")
    return m[:, :3]


def gravity_pose_from_rtilt(rtilt: np.ndarray) -> np.ndarray:
    """SUN Rtilt (3x3) -> (4, 4) gravity_T_cam: world z up, camera at the origin."""
    T = _files.check_rigid(make_pose(rtilt @ CAM_TO_ZUP, np.zeros(3)), "SUN Rtilt")
    return T


class SUNRGBDSequence(Sequence):
    """SUN RGB-D scene folder(s) (see module docstring).

    Args:
        path: a scene folder or a folder of scene folders.
        options: common :class:`ReadOptions`.
        depth: ``"raw"`` (``depth/``, default) or ``"filled"`` (``depth_bfx/``).
    """

    format = "sunrgbd"

    def __init__(self, path, options: ReadOptions | None = None, *, depth: str = "raw") -> None:
        super().__init__(path, options)
        if depth not in ("raw", "filled"):
            raise ConfigError(f"sunrgbd: depth must be 'raw' or 'filled', got {depth!r}")
        self.depth_kind = depth
        root = self.path
        if not root.is_dir():
            raise FormatError(f"sunrgbd: {root} is not a directory")
        if is_scene_dir(root):
            scenes = [root]
        else:
            # A folder with some but not all of a scene's parts is a damaged scene: it is a
            # frame, reported as bad, rather than silently left out.
            scenes = sorted(
                (p for p in root.iterdir() if p.is_dir() and sum(_scene_parts(p).values()) >= 2),
                key=lambda p: _files.natural_key(p.name),
            )
        if not any(is_scene_dir(p) for p in scenes):
            raise FormatError(f"sunrgbd: no scene folders (intrinsics.txt, image/, depth/) in {root}")
        for i, scene in enumerate(scenes):
            missing = [k for k, ok in _scene_parts(scene).items() if not ok]
            if missing:
                self._mark_bad(i, f"sunrgbd: scene {scene} lacks {', '.join(missing)}")
        self._scenes = scenes

    def _num_source_frames(self) -> int:
        return len(self._scenes)

    def _read_source(self, i: int) -> RawFrame:
        scene = self._scenes[i]
        colors = _files.list_files(scene / "image", _files.COLOR_EXTS)
        ddir = scene / ("depth" if self.depth_kind == "raw" else "depth_bfx")
        # Reference decodings may sit next to the stored depth; they are not the sensor file.
        depths = [p for p in _files.list_files(ddir, (".png",)) if ".decoded" not in p.name]
        if len(colors) != 1 or len(depths) != 1:
            raise FormatError(
                f"sunrgbd: {scene}: expected one image and one depth file, found {len(colors)} and {len(depths)}"
            )
        rgb = decode_rgb(colors[0])
        depth, invalid = decode_depth_sun(decode_u16(depths[0]))
        K = _files.read_matrix_txt(scene / "intrinsics.txt", (3, 3), "SUN intrinsics.txt")
        try:
            intr = Intrinsics.from_K(K, depth.shape[1], depth.shape[0])
        except ValueError as e:
            raise FormatError(f"sunrgbd: {scene}/intrinsics.txt: {e}") from None
        pose = self._pose(i)
        meta = {"scene": scene.name, "color_path": str(colors[0]), "depth_path": str(depths[0])}
        scene_txt = scene / "scene.txt"
        if scene_txt.is_file():
            meta["scene_type"] = scene_txt.read_text(errors="replace").strip()
        if pose is not None:
            meta["gravity_T_cam"] = pose
        return RawFrame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intr,
            invalid_encoded=invalid,
            world_T_cam=pose,
            timestamp_s=float(i),
            meta=meta,
        )

    def _pose(self, i: int):
        r = read_rtilt(self._scenes[i])
        return None if r is None else gravity_pose_from_rtilt(r)

    def source_poses(self):
        return self._collect_poses(self._pose)

    def _info(self) -> SequenceInfo:
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            depth_encoding="uint16 SUN bit-rotated mm",
            pose_source="gravity (extrinsics/, camera at origin)",
            extra={"depth maps": self.depth_kind},
        )
