"""real3d's own on-disk sequence layout, close to ScanNet's exported frames: reading it.

::

    DIR/
      scene.json              format, version, seed, kind, frame count, size, label set,
                              objects (boxes), relations, rooms, lights, materials
      intrinsics.json         fx, fy, cx, cy, width, height (pixels)
      intrinsic/intrinsic_color.txt   4x4 camera matrix (ScanNet style)
      timestamps.txt          one time in seconds per frame
      color/000000.jpg        (or .png) uint8 RGB
      depth/000000.png        uint16 millimetres, 0 = invalid (sensor-noised depth)
      depth_clean/000000.png  uint16 millimetres, noise-free depth
      label/000000.png        uint8 NYUv2-13, 0 = void
      instance/000000.png     uint16 instance ids, 0 = none
      pose/000000.txt         4x4 world_T_cam (p_world = T @ p_cam), metres
      mesh.ply                binary PLY, faces with label, instance and fine class
      occupancy.npz           2D occupancy at robot height

The data engine writes the layout (``real3d.synth.disk.write_sequence``, into a temporary
sibling folder renamed into place at the end, so a reader never sees half a sequence);
``read_sequence`` reads it back with its scene ground truth, and ``Real3DSequence`` serves it
through ``open_sequence`` with the same options (resize, stride, max_frames, depth range,
label set) and statistics as every other reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from real3d.core import ConfigError, FormatError, InputError
from real3d.core.frame import Frame
from real3d.core.gt import ObjectGT, OccupancyGrid, Relation, Room, SceneGT, SceneMesh
from real3d.io._files import intrinsics_from_dict, read_json
from real3d.io.base import RawFrame, ReadOptions, Sequence, SequenceInfo

FORMAT_NAME = "real3d-synth"
FORMAT_VERSION = 1
IMAGE_FORMATS = ("jpg", "png")
# Binary PLY records of ``mesh.ply``: per-vertex position and colour, per-face triangle,
# NYUv2-13 label, instance id and fine class.
PLY_VERTEX_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
PLY_FACE_DTYPE = np.dtype(
    [("n", "u1"), ("v", "<i4", (3,)), ("label", "u1"), ("instance", "<i4"), ("fine_class", "<i2")]
)


def read_ply(path: Path) -> SceneMesh:
    """Read a mesh written by ``real3d.synth.disk.write_ply`` (labels, instances, classes per face)."""
    path = Path(path)
    try:
        data = _require_file(path).read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read mesh {path}: {e}") from e
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise FormatError(f"{path}: not a PLY file (no 'ply' magic or no end_header)")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    nv = nf = None
    for line in header:
        parts = line.split()
        try:
            if parts[:2] == ["element", "vertex"]:
                nv = int(parts[2])
            elif parts[:2] == ["element", "face"]:
                nf = int(parts[2])
        except (IndexError, ValueError):
            raise FormatError(f"{path}: malformed PLY header line {line!r}") from None
    if nv is None or nf is None or nv < 0 or nf < 0 or "property short fine_class" not in header:
        raise FormatError(f"{path}: not a real3d labelled mesh (missing elements or properties)")
    body = data[end + len(b"end_header\n") :]
    vdt, fdt = PLY_VERTEX_DTYPE, PLY_FACE_DTYPE
    need = nv * vdt.itemsize + nf * fdt.itemsize
    if len(body) < need:
        raise FormatError(f"{path}: truncated PLY ({len(body)} of {need} body bytes)")
    vert = np.frombuffer(body, dtype=vdt, count=nv)
    face = np.frombuffer(body, dtype=fdt, count=nf, offset=nv * vdt.itemsize)
    verts = np.stack([vert["x"], vert["y"], vert["z"]], axis=1).astype(np.float32)
    return SceneMesh(
        vertices=verts,
        triangles=face["v"].astype(np.int32),
        face_class=face["fine_class"].astype(np.int16),
        face_label=face["label"].astype(np.uint8),
        face_instance=face["instance"].astype(np.int32),
        face_material=np.zeros(nf, dtype=np.int32),
    )


def _require_file(path: Path) -> Path:
    # Checked before opening: opening a FIFO or device in place of a file would block.
    if not path.is_file():
        raise FormatError(f"missing file {path} (or not a regular file)")
    return path


def _read_image(path: Path, mode_ok: tuple[str, ...], what: str) -> np.ndarray:
    _require_file(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in mode_ok:
                raise FormatError(f"{path}: expected a {what} image (mode {'/'.join(mode_ok)}), got mode {im.mode}")
            return np.asarray(im)
    except FormatError:
        raise
    except FileNotFoundError as e:
        raise FormatError(f"missing file {path}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise FormatError(f"{path}: corrupt or truncated image ({e})") from e


class DiskSequence:
    """A sequence in real3d's layout, read lazily frame by frame.

    Supports ``len``, indexing and iteration (``Frame`` objects with labels, instances,
    clean depth and pose). ``scene`` loads the scene ground truth on first access.
    """

    def __init__(self, path):
        self.path = Path(path)
        meta_path = self.path / "scene.json"
        if meta_path.exists() and not meta_path.is_file():
            raise FormatError(f"{meta_path}: not a regular file")
        try:
            self.meta = json.loads(meta_path.read_text())
        except FileNotFoundError as e:
            raise FormatError(f"{self.path}: no scene.json; not a real3d sequence folder") from e
        except (OSError, ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
            raise FormatError(f"{meta_path}: unreadable ({e})") from e
        if not isinstance(self.meta, dict):
            raise FormatError(
                f"{meta_path}: expected a JSON object with format, version and "
                f"n_frames, got a JSON {type(self.meta).__name__}"
            )
        if self.meta.get("format") != FORMAT_NAME:
            raise FormatError(f"{meta_path}: format is {self.meta.get('format')!r}, expected {FORMAT_NAME!r}")
        version = self.meta.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise FormatError(f"{meta_path}: version {version!r}: expected an integer")
        if version > FORMAT_VERSION:
            raise FormatError(f"{meta_path}: version {version} is newer than supported {FORMAT_VERSION}")
        n_frames = self.meta.get("n_frames")
        if not isinstance(n_frames, int) or isinstance(n_frames, bool) or n_frames < 0:
            raise FormatError(f"{meta_path}: n_frames {n_frames!r}: expected an integer >= 0")
        self.intrinsics = intrinsics_from_dict(
            read_json(self.path / "intrinsics.json", "intrinsics.json"), self.path / "intrinsics.json"
        )
        try:
            self.timestamps = np.atleast_1d(np.loadtxt(_require_file(self.path / "timestamps.txt"), dtype=np.float64))
        except (OSError, ValueError) as e:
            raise FormatError(f"{self.path}: missing or corrupt timestamps.txt ({e})") from e
        if self.timestamps.ndim != 1:
            raise FormatError(
                f"{self.path}/timestamps.txt: expected one time per line, got shape {self.timestamps.shape}"
            )
        self.n_frames = n_frames
        if len(self.timestamps) != self.n_frames:
            raise FormatError(f"{self.path}: {len(self.timestamps)} timestamps for {self.n_frames} frames")
        self.image_format = self.meta.get("image_format", "jpg")
        self._scene: SceneGT | None = None

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self):
        for i in range(self.n_frames):
            yield self[i]

    def __getitem__(self, i: int) -> Frame:
        if i < 0:
            i += self.n_frames
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} out of range [0, {self.n_frames})")
        name = f"{i:06d}"
        p = self.path
        rgb = _read_image(p / "color" / f"{name}.{self.image_format}", ("RGB",), "RGB")
        depth = _read_image(p / "depth" / f"{name}.png", ("I;16", "I;16L", "I"), "16-bit depth")
        clean = _read_image(p / "depth_clean" / f"{name}.png", ("I;16", "I;16L", "I"), "16-bit depth")
        labels = _read_image(p / "label" / f"{name}.png", ("L",), "8-bit label")
        inst = _read_image(p / "instance" / f"{name}.png", ("I;16", "I;16L", "I"), "16-bit instance")
        try:
            pose = np.loadtxt(_require_file(p / "pose" / f"{name}.txt"), dtype=np.float64)
        except (OSError, ValueError) as e:
            raise FormatError(f"{p / 'pose' / (name + '.txt')}: missing or corrupt pose ({e})") from e
        if pose.shape != (4, 4):
            raise FormatError(f"{p / 'pose' / (name + '.txt')}: expected a 4x4 matrix, got {pose.shape}")
        return Frame(
            rgb=rgb,
            depth_m=(depth.astype(np.float32) / 1000.0),
            intrinsics=self.intrinsics,
            world_T_cam=pose,
            timestamp_s=float(self.timestamps[i]),
            labels=labels.astype(np.uint8),
            instances=inst.astype(np.int32),
            depth_clean_m=(clean.astype(np.float32) / 1000.0),
            index=i,
        )

    @property
    def scene(self) -> SceneGT:
        if self._scene is None:
            m = self.meta
            try:
                occ = np.load(_require_file(self.path / "occupancy.npz"))
                grid = OccupancyGrid(
                    occupied=occ["occupied"],
                    known=occ["known"],
                    origin_xy=tuple(float(v) for v in occ["origin_xy"]),
                    resolution_m=float(occ["resolution_m"]),
                    z_min_m=float(occ["z_band_m"][0]),
                    z_max_m=float(occ["z_band_m"][1]),
                )
            except (OSError, KeyError, ValueError) as e:
                raise FormatError(f"{self.path}: missing or corrupt occupancy.npz ({e})") from e
            mesh = read_ply(self.path / "mesh.ply")
            try:
                self._scene = SceneGT(
                    seed=int(m["seed"]),
                    kind=m["kind"],
                    mesh=mesh,
                    objects=[ObjectGT.from_dict(o) for o in m["objects"]],
                    relations=[Relation(int(a), str(p), int(b)) for a, p, b in m["relations"]],
                    rooms=[Room(r["room_id"], r["kind"], r["x0"], r["y0"], r["x1"], r["y1"]) for r in m["rooms"]],
                    occupancy=grid,
                    materials=m.get("materials", []),
                    lights=m.get("lights", []),
                )
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                raise FormatError(
                    f"{self.path}/scene.json: the scene ground truth (seed, kind, "
                    f"objects, relations, rooms) is incomplete or malformed "
                    f"({type(e).__name__}: {e})"
                ) from e
        return self._scene


def read_sequence(path) -> DiskSequence:
    """Open a sequence folder written by ``real3d.synth.disk.write_sequence`` (lazy, frame by frame)."""
    return DiskSequence(path)


def is_sequence_dir(path) -> bool:
    """True when ``path`` looks like real3d's layout (used by format detection)."""
    p = Path(path)
    return (p / "scene.json").is_file() and (p / "intrinsics.json").is_file() and (p / "color").is_dir()


def is_real3d_dir(p: Path) -> bool:
    return (
        p.is_dir()
        and (p / "scene.json").is_file()
        and (p / "intrinsics.json").is_file()
        and (p / "color").is_dir()
        and (p / "depth").is_dir()
    )


class Real3DSequence(Sequence):
    """A folder in real3d's own layout (see the module docstring).

    Args:
        path: the folder.
        options: common :class:`ReadOptions`.

    Raises:
        FormatError: the folder is not in the layout.
    """

    format = "real3d"

    def __init__(self, path, options: ReadOptions | None = None) -> None:
        super().__init__(path, options)
        if self.options.label_set != "nyu13":
            raise ConfigError(
                f"real3d: the layout stores NYUv2-13 labels; label_set="
                f"{self.options.label_set!r} cannot be made from them"
            )
        if not is_real3d_dir(self.path):
            raise FormatError(f"real3d: {self.path} lacks scene.json, intrinsics.json, color/ or depth/")
        self._source = read_sequence(self.path)
        self.scene_meta = getattr(self._source, "meta", {})

    def _num_source_frames(self) -> int:
        return len(self._source)

    def _read_source(self, i: int) -> RawFrame:
        try:
            f = self._source[i]
        except InputError as e:
            # A Frame the stored files cannot make (e.g. a non-rigid pose) is a file problem.
            raise FormatError(f"real3d: frame {i} of {self.path}: {e}") from e
        # Frames from the data engine are already in real3d's conventions; depth in metres.
        depth = f.depth_m
        invalid = 0 if depth is None else int((depth == 0).sum())
        return RawFrame(
            rgb=f.rgb,
            depth_m=depth,
            intrinsics=f.intrinsics,
            invalid_encoded=invalid,
            world_T_cam=f.world_T_cam,
            timestamp_s=f.timestamp_s,
            labels=f.labels,
            label_src="nyu13",
            instances=f.instances,
            depth_clean_m=f.depth_clean_m,
            meta=dict(f.meta),
        )

    def close(self) -> None:
        close = getattr(getattr(self, "_source", None), "close", None)
        if callable(close):
            close()

    def _info(self) -> SequenceInfo:
        from real3d.io.folder import find_intrinsics_file

        intr = find_intrinsics_file(self.path)
        return SequenceInfo(
            format=self.format,
            path=str(self.path),
            num_frames=0,
            num_source_frames=0,
            size_hw=None if intr is None else intr.size_hw,
            intrinsics=intr,
            depth_encoding="uint16 mm",
            label_set=self.options.label_set if (self.path / "label").is_dir() else None,
            pose_source="pose/" if (self.path / "pose").is_dir() else None,
        )
