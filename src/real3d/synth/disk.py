"""real3d's on-disk sequence layout, close to ScanNet's exported frames.

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

A sequence is written into a temporary sibling folder and renamed into place at the end,
so a reader never sees half a sequence.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from real3d.core.camera import Intrinsics
from real3d.core.errors import FormatError, InputError
from real3d.core.frame import Frame
from real3d.synth.types import (
    ObjectGT,
    OccupancyGrid,
    Relation,
    Room,
    SceneGT,
    SceneMesh,
)

FORMAT_NAME = "real3d-synth"
FORMAT_VERSION = 1
IMAGE_FORMATS = ("jpg", "png")


def _depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    mm = np.round(depth_m.astype(np.float64) * 1000.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def write_ply(path: Path, mesh: SceneMesh, colors: np.ndarray | None = None) -> None:
    """Binary little-endian PLY with per-vertex colour and per-face label/instance/class."""
    v = mesh.vertices.astype("<f4")
    nv, nf = len(v), len(mesh.triangles)
    if colors is None:
        colors = np.full((nv, 3), 200, dtype=np.uint8)
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                    ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    vert = np.empty(nv, dtype=vdt)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    vert["red"], vert["green"], vert["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("label", "u1"), ("instance", "<i4"),
                    ("fine_class", "<i2")])
    face = np.empty(nf, dtype=fdt)
    face["n"] = 3
    face["v"] = mesh.triangles
    face["label"] = mesh.face_label
    face["instance"] = mesh.face_instance
    face["fine_class"] = mesh.face_class
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment real3d labelled scene mesh\n"
        f"element vertex {nv}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {nf}\nproperty list uchar int vertex_indices\nproperty uchar label\n"
        "property int instance\nproperty short fine_class\nend_header\n"
    )
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(vert.tobytes())
        fh.write(face.tobytes())


def read_ply(path: Path) -> SceneMesh:
    """Read a mesh written by :func:`write_ply` (labels, instances, classes per face)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read mesh {path}: {e}") from e
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise FormatError(f"{path}: not a PLY file (no 'ply' magic or no end_header)")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    nv = nf = None
    for line in header:
        parts = line.split()
        if parts[:2] == ["element", "vertex"]:
            nv = int(parts[2])
        elif parts[:2] == ["element", "face"]:
            nf = int(parts[2])
    if nv is None or nf is None or "property short fine_class" not in header:
        raise FormatError(f"{path}: not a real3d labelled mesh (missing elements or properties)")
    body = data[end + len(b"end_header\n"):]
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                    ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("label", "u1"), ("instance", "<i4"),
                    ("fine_class", "<i2")])
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


def scene_to_json(scene: SceneGT, extra: dict | None = None) -> dict:
    d = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "seed": int(scene.seed),
        "kind": scene.kind,
        "label_set": "nyu13",
        "objects": [o.to_dict() for o in scene.objects],
        "relations": [[r.subject, r.predicate, r.object] for r in scene.relations],
        "rooms": [{"room_id": r.room_id, "kind": r.kind, "x0": r.x0, "y0": r.y0,
                   "x1": r.x1, "y1": r.y1} for r in scene.rooms],
        "lights": scene.lights,
        "materials": scene.materials,
    }
    d.update(extra or {})
    return d


def _atomic_dir(out: Path, overwrite: bool):
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))


def write_sequence(out, frames, scene: SceneGT, *, image_format: str = "jpg",
                   jpeg_quality: int = 95, overwrite: bool = False) -> Path:
    """Write frames and their scene ground truth to ``out`` (see the module docstring).

    Args:
        out: target folder; must not exist unless ``overwrite``.
        frames: iterable of ``Frame`` (all with depth, pose, labels and instances).
        scene: the scene ground truth.
        image_format: ``"jpg"`` (ScanNet-like, lossy) or ``"png"`` (lossless).

    Returns:
        The folder written.
    """
    if image_format not in IMAGE_FORMATS:
        raise InputError(f"write_sequence: image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    out = Path(out)
    tmp = _atomic_dir(out, overwrite)
    try:
        for sub in ("color", "depth", "depth_clean", "label", "instance", "pose", "intrinsic"):
            (tmp / sub).mkdir()
        times = []
        intr = None
        n = 0
        for i, f in enumerate(frames):
            if f.depth_m is None or f.world_T_cam is None or f.labels is None:
                raise InputError(f"write_sequence: frame {i} lacks depth, pose or labels")
            if intr is None:
                intr = f.intrinsics
            elif f.intrinsics != intr:
                raise InputError(f"write_sequence: frame {i} has different intrinsics than frame 0")
            name = f"{i:06d}"
            img = Image.fromarray(f.rgb)
            if image_format == "jpg":
                img.save(tmp / "color" / f"{name}.jpg", quality=jpeg_quality)
            else:
                img.save(tmp / "color" / f"{name}.png")
            Image.fromarray(_depth_to_mm(f.depth_m)).save(tmp / "depth" / f"{name}.png")
            clean = f.depth_clean_m if f.depth_clean_m is not None else f.depth_m
            Image.fromarray(_depth_to_mm(clean)).save(tmp / "depth_clean" / f"{name}.png")
            Image.fromarray(f.labels).save(tmp / "label" / f"{name}.png")
            inst = f.instances if f.instances is not None else np.zeros(f.size_hw, np.int32)
            if inst.max(initial=0) > 65535:
                raise InputError("write_sequence: instance ids above 65535 do not fit uint16 PNG")
            Image.fromarray(inst.astype(np.uint16)).save(tmp / "instance" / f"{name}.png")
            np.savetxt(tmp / "pose" / f"{name}.txt", f.world_T_cam, fmt="%.9f")
            times.append(f.timestamp_s)
            n += 1
        if n == 0:
            raise InputError("write_sequence: no frames given")
        (tmp / "intrinsics.json").write_text(json.dumps(intr.to_dict(), indent=1))
        K4 = np.eye(4)
        K4[:3, :3] = intr.K
        np.savetxt(tmp / "intrinsic" / "intrinsic_color.txt", K4, fmt="%.6f")
        np.savetxt(tmp / "timestamps.txt", np.asarray(times), fmt="%.6f")
        from real3d.core.labels import NYU13

        write_ply(tmp / "mesh.ply", scene.mesh, NYU13.colors[scene.mesh.face_label[
            _first_face_of_vertex(scene.mesh)]])
        occ = scene.occupancy
        np.savez_compressed(
            tmp / "occupancy.npz", occupied=occ.occupied, known=occ.known,
            origin_xy=np.asarray(occ.origin_xy), resolution_m=occ.resolution_m,
            z_band_m=np.array([occ.z_min_m, occ.z_max_m]),
        )
        meta = scene_to_json(scene, {
            "n_frames": n, "size_hw": [intr.height, intr.width], "image_format": image_format,
            "depth_unit": "millimetre", "pose_convention": "world_T_cam, OpenCV camera, world z up",
        })
        (tmp / "scene.json").write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _first_face_of_vertex(mesh: SceneMesh) -> np.ndarray:
    """For vertex colouring: index of one face using each vertex."""
    idx = np.zeros(len(mesh.vertices), dtype=np.int64)
    idx[mesh.triangles.reshape(-1)] = np.repeat(np.arange(len(mesh.triangles)), 3)
    return idx


def _read_image(path: Path, mode_ok: tuple[str, ...], what: str) -> np.ndarray:
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
        try:
            self.meta = json.loads(meta_path.read_text())
        except FileNotFoundError as e:
            raise FormatError(f"{self.path}: no scene.json; not a real3d sequence folder") from e
        except (OSError, json.JSONDecodeError) as e:
            raise FormatError(f"{meta_path}: unreadable ({e})") from e
        if self.meta.get("format") != FORMAT_NAME:
            raise FormatError(f"{meta_path}: format is {self.meta.get('format')!r}, expected {FORMAT_NAME!r}")
        if self.meta.get("version", 0) > FORMAT_VERSION:
            raise FormatError(f"{meta_path}: version {self.meta.get('version')} is newer than supported {FORMAT_VERSION}")
        try:
            self.intrinsics = Intrinsics.from_dict(json.loads((self.path / "intrinsics.json").read_text()))
            self.timestamps = np.atleast_1d(np.loadtxt(self.path / "timestamps.txt", dtype=np.float64))
        except (OSError, ValueError, json.JSONDecodeError) as e:
            raise FormatError(f"{self.path}: missing or corrupt intrinsics.json/timestamps.txt ({e})") from e
        self.n_frames = int(self.meta["n_frames"])
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
            pose = np.loadtxt(p / "pose" / f"{name}.txt", dtype=np.float64)
        except (OSError, ValueError) as e:
            raise FormatError(f"{p / 'pose' / (name + '.txt')}: missing or corrupt pose ({e})") from e
        if pose.shape != (4, 4):
            raise FormatError(f"{p / 'pose' / (name + '.txt')}: expected a 4x4 matrix, got {pose.shape}")
        return Frame(
            rgb=rgb, depth_m=(depth.astype(np.float32) / 1000.0),
            intrinsics=self.intrinsics, world_T_cam=pose, timestamp_s=float(self.timestamps[i]),
            labels=labels.astype(np.uint8), instances=inst.astype(np.int32),
            depth_clean_m=(clean.astype(np.float32) / 1000.0), index=i,
        )

    @property
    def scene(self) -> SceneGT:
        if self._scene is None:
            m = self.meta
            try:
                occ = np.load(self.path / "occupancy.npz")
                grid = OccupancyGrid(
                    occupied=occ["occupied"], known=occ["known"],
                    origin_xy=tuple(float(v) for v in occ["origin_xy"]),
                    resolution_m=float(occ["resolution_m"]),
                    z_min_m=float(occ["z_band_m"][0]), z_max_m=float(occ["z_band_m"][1]),
                )
            except (OSError, KeyError, ValueError) as e:
                raise FormatError(f"{self.path}: missing or corrupt occupancy.npz ({e})") from e
            self._scene = SceneGT(
                seed=int(m["seed"]), kind=m["kind"], mesh=read_ply(self.path / "mesh.ply"),
                objects=[ObjectGT.from_dict(o) for o in m["objects"]],
                relations=[Relation(int(a), str(p), int(b)) for a, p, b in m["relations"]],
                rooms=[Room(r["room_id"], r["kind"], r["x0"], r["y0"], r["x1"], r["y1"]) for r in m["rooms"]],
                occupancy=grid, materials=m.get("materials", []), lights=m.get("lights", []),
            )
        return self._scene


def read_sequence(path) -> DiskSequence:
    """Open a sequence folder written by :func:`write_sequence` (lazy, frame by frame)."""
    return DiskSequence(path)


def is_sequence_dir(path) -> bool:
    """True when ``path`` looks like real3d's layout (used by format detection)."""
    p = Path(path)
    return (p / "scene.json").is_file() and (p / "intrinsics.json").is_file() and (p / "color").is_dir()
