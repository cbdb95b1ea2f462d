"""Writing real3d's on-disk sequence layout, close to ScanNet's exported frames. The layout
(every file, its units and encoding) is drawn once, in ``real3d.io.real3d_disk``, which
reads it back and holds its format constants.

A sequence is written into a temporary sibling folder and renamed into place at the end,
so a reader never sees half a sequence. ``read_sequence``, ``DiskSequence``, ``read_ply`` and
``is_sequence_dir`` live in ``real3d.io.real3d_disk`` and are re-exported here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from real3d.core.errors import InputError
from real3d.core.gt import SceneGT, SceneMesh
from real3d.io.real3d_disk import (  # noqa: F401 (the reader side, re-exported for existing imports)
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGE_FORMATS,
    PLY_FACE_DTYPE,
    PLY_VERTEX_DTYPE,
    DiskSequence,
    is_sequence_dir,
    read_ply,
    read_sequence,
)


def _depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    mm = np.round(depth_m.astype(np.float64) * 1000.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def write_ply(path: Path, mesh: SceneMesh, colors: np.ndarray | None = None) -> None:
    """Binary little-endian PLY with per-vertex colour and per-face label/instance/class."""
    v = mesh.vertices.astype("<f4")
    nv, nf = len(v), len(mesh.triangles)
    if colors is None:
        colors = np.full((nv, 3), 200, dtype=np.uint8)
    vert = np.empty(nv, dtype=PLY_VERTEX_DTYPE)
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    vert["red"], vert["green"], vert["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    face = np.empty(nf, dtype=PLY_FACE_DTYPE)
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


def scene_to_json(scene: SceneGT, extra: dict | None = None) -> dict:
    d = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "seed": int(scene.seed),
        "kind": scene.kind,
        "label_set": "nyu13",
        "objects": [o.to_dict() for o in scene.objects],
        "relations": [[r.subject, r.predicate, r.object] for r in scene.relations],
        "rooms": [
            {"room_id": r.room_id, "kind": r.kind, "x0": r.x0, "y0": r.y0, "x1": r.x1, "y1": r.y1} for r in scene.rooms
        ],
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


def write_sequence(
    out, frames, scene: SceneGT, *, image_format: str = "jpg", jpeg_quality: int = 95, overwrite: bool = False
) -> Path:
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

        write_ply(tmp / "mesh.ply", scene.mesh, NYU13.colors[scene.mesh.face_label[_first_face_of_vertex(scene.mesh)]])
        occ = scene.occupancy
        np.savez_compressed(
            tmp / "occupancy.npz",
            occupied=occ.occupied,
            known=occ.known,
            origin_xy=np.asarray(occ.origin_xy),
            resolution_m=occ.resolution_m,
            z_band_m=np.array([occ.z_min_m, occ.z_max_m]),
        )
        meta = scene_to_json(
            scene,
            {
                "n_frames": n,
                "size_hw": [intr.height, intr.width],
                "image_format": image_format,
                "depth_unit": "millimetre",
                "pose_convention": "world_T_cam, OpenCV camera, world z up",
            },
        )
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
