"""Training data for networks on the 3D map: fused maps with per-voxel ground truth.

A ``MapSample`` is one ``SemanticMap`` fused along a camera path, the way the pipeline fuses
it (the 2D segmenter's class probabilities as evidence, noisy depth), flattened to arrays
over its fine voxels, plus the ground truth of each surface voxel taken from the scene's
labelled mesh: the class and the object instance of the nearest mesh face, void where that
face is farther than ``max_label_dist_m``. The 2D fusion's own labels stay in the sample
(``log_evidence``), so a 3D network can be scored against the map it refines.

Frames: voxel ``coords`` are integer indices on the map's grid; voxel ``i`` spans
``[coords[i], coords[i] + 1) * voxel_size_m`` in the world frame (z up, metres).

Samples are written as one ``.npz`` each (write, then rename), with a format version.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from real3d.core.errors import FormatError, InputError, describe_array
from real3d.core.files import atomic_path
from real3d.mapping.config import PIPELINE_MAP_CONFIG, SemanticMapConfig
from real3d.mapping.semantic_map import SemanticMap

MAP_SAMPLE_VERSION = 1


@dataclass
class MapSample:
    """One fused map with ground truth, row-aligned over its N fine voxels.

    Attributes:
        coords: (N, 3) int32 voxel indices (see the module docstring).
        voxel_size_m: voxel edge, metres.
        tsdf: (N,) float32 truncated signed distance in [-1, 1] (> 0 in front of surfaces).
        weight: (N,) float32 TSDF observation count.
        color: (N, 3) float32 mean colour, 0..255.
        log_evidence: (N, C) float32 the 2D fusion's class log-evidence, class k + 1 in
            column k (the map's void column dropped; 0 = the best class's level, all 0 where
            no label was seen), C = 13 NYUv2 classes.
        class_weight: (N,) float32 number of label observations.
        surface: (N,) bool voxels the map reports as surface (``SemanticMap.surface_rows``).
        points: (N, 3) float32 world metres: surface voxels snapped onto the zero level
            (as ``SemanticMap.semantic_points``), other voxels their centres.
        labels: (N,) uint8 ground-truth NYUv2-13 class of surface voxels (0 = void: not
            surface, or no mesh face within ``max_label_dist_m``).
        instances: (N,) int32 ground-truth object instance id of labelled voxels (0 = none).
        free_coords: (M, 3) int32 indices of coarse cells observed free, on a grid of
            ``free_voxel_size_m``.
        free_voxel_size_m: coarse free-space cell edge, metres.
        meta: where it came from (seed, kind, frames, segmenter, engine fingerprint...).
    """

    coords: np.ndarray
    voxel_size_m: float
    tsdf: np.ndarray
    weight: np.ndarray
    color: np.ndarray
    log_evidence: np.ndarray
    class_weight: np.ndarray
    surface: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    instances: np.ndarray
    free_coords: np.ndarray
    free_voxel_size_m: float
    meta: dict = field(default_factory=dict)

    _ROW_FIELDS = {
        "coords": (np.int32, 3),
        "tsdf": (np.float32, 0),
        "weight": (np.float32, 0),
        "color": (np.float32, 3),
        "log_evidence": (np.float32, -1),
        "class_weight": (np.float32, 0),
        "surface": (np.bool_, 0),
        "points": (np.float32, 3),
        "labels": (np.uint8, 0),
        "instances": (np.int32, 0),
    }

    def __post_init__(self) -> None:
        n = len(self.coords) if hasattr(self.coords, "__len__") else -1
        for name, (dtype, cols) in self._ROW_FIELDS.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.dtype != dtype or len(a) != n:
                raise InputError(f"MapSample.{name}: expected {np.dtype(dtype)} with {n} rows, got {describe_array(a)}")
            if (cols == 0 and a.ndim != 1) or (cols > 0 and a.shape[1:] != (cols,)) or (cols < 0 and a.ndim != 2):
                raise InputError(f"MapSample.{name}: wrong shape {a.shape} for {n} rows")
        if (
            not isinstance(self.free_coords, np.ndarray)
            or self.free_coords.dtype != np.int32
            or self.free_coords.ndim != 2
            or self.free_coords.shape[1] != 3
        ):
            raise InputError(f"MapSample.free_coords: expected int32 (M, 3), got {describe_array(self.free_coords)}")
        if not (self.voxel_size_m > 0 and self.free_voxel_size_m > 0):
            raise InputError(f"MapSample: voxel sizes must be > 0, got {self.voxel_size_m}, {self.free_voxel_size_m}")

    def __len__(self) -> int:
        return len(self.coords)

    @property
    def num_classes(self) -> int:
        return int(self.log_evidence.shape[1])

    def fusion_labels(self) -> np.ndarray:
        """(N,) uint8 the 2D fusion's label per voxel (argmax of the evidence, 0 = none seen)."""
        lab = self.log_evidence.argmax(axis=1).astype(np.uint8) + 1
        lab[self.class_weight <= 0] = 0
        return lab

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz, compressed) whole or not at all; returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"MapSample.save: expected a .npz path, got {path}")
        arrays = {name: getattr(self, name) for name in self._ROW_FIELDS}
        arrays["free_coords"] = self.free_coords
        header = {
            "version": MAP_SAMPLE_VERSION,
            "voxel_size_m": self.voxel_size_m,
            "free_voxel_size_m": self.free_voxel_size_m,
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MapSample:
        """Read a sample written by ``save``.

        Raises:
            FormatError: missing, truncated or of another format version.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode())
                arrays = {name: z[name] for name in (*cls._ROW_FIELDS, "free_coords")}
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise FormatError(f"MapSample.load: cannot read {path} ({type(e).__name__}: {e})") from e
        if not isinstance(header, dict):
            raise FormatError(
                f"MapSample.load: {path} has a header of type {type(header).__name__}, expected an object"
            )
        if header.get("version") != MAP_SAMPLE_VERSION:
            raise FormatError(
                f"MapSample.load: {path} has format version {header.get('version')}, expected {MAP_SAMPLE_VERSION}"
            )
        try:
            sizes = [float(header[k]) for k in ("voxel_size_m", "free_voxel_size_m")]
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"MapSample.load: {path} header lacks a numeric voxel size ({e})") from None
        if not all(math.isfinite(v) and v > 0 for v in sizes):
            raise FormatError(f"MapSample.load: {path} has voxel sizes {sizes}; expected finite values > 0")
        meta = header.get("meta", {})
        if not isinstance(meta, dict):
            raise FormatError(
                f"MapSample.load: {path} header field meta: expected an object, got {type(meta).__name__}"
            )
        try:
            return cls(voxel_size_m=sizes[0], free_voxel_size_m=sizes[1], meta=meta, **arrays)
        except InputError as e:
            raise FormatError(f"MapSample.load: {path} is inconsistent ({e})") from e


def label_points(mesh, points: np.ndarray, max_dist_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of world points from a labelled mesh (``SceneMesh``: ``vertices``,
    ``triangles``, ``face_label``, ``face_instance``): the nearest face's class and instance,
    (0, 0) where it is farther than ``max_dist_m``. Returns ((N,) uint8, (N,) int32)."""
    from real3d.mapping.evaluate import closest_face

    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"label_points: expected points (N, 3) metres, got {describe_array(points)}")
    labels = np.zeros(len(points), np.uint8)
    instances = np.zeros(len(points), np.int32)
    if len(points):
        face, dist = closest_face(mesh, points)
        ok = dist <= max_dist_m
        labels[ok] = np.asarray(mesh.face_label)[face[ok]]
        instances[ok] = np.asarray(mesh.face_instance)[face[ok]]
    return labels, instances


def sample_from_map(
    semantic_map: SemanticMap, mesh=None, max_label_dist_m: float = 0.1, meta: dict | None = None
) -> MapSample:
    """Flatten a fused map into a ``MapSample``; with ``mesh``, label its surface voxels.

    Args:
        semantic_map: the fused map (read only).
        mesh: ground-truth mesh (``SceneMesh``) or None (labels and instances all 0).
        max_label_dist_m: a surface voxel whose snapped point lies farther than this from
            every mesh face is void.
        meta: stored with the sample.
    """
    arr = semantic_map.voxel_arrays()
    n = len(semantic_map)
    points = semantic_map.voxel_centers().astype(np.float32)
    surface = np.zeros(n, bool)
    sp = semantic_map.semantic_points()
    surface[sp.rows] = True
    points[sp.rows] = sp.points.astype(np.float32)
    labels = np.zeros(n, np.uint8)
    instances = np.zeros(n, np.int32)
    if mesh is not None and len(sp.rows):
        labels[sp.rows], instances[sp.rows] = label_points(mesh, sp.points, max_label_dist_m)
    free_xyz, free_size = semantic_map.free_cells()
    free_coords = np.floor(free_xyz / free_size).astype(np.int32) if len(free_xyz) else np.zeros((0, 3), np.int32)
    return MapSample(
        coords=arr["coords"].astype(np.int32),
        voxel_size_m=float(semantic_map.voxel_size_m),
        tsdf=arr["tsdf"].astype(np.float32, copy=True),
        weight=arr["weight"].astype(np.float32, copy=True),
        color=arr["color"].astype(np.float32, copy=True),
        log_evidence=arr["log_evidence"][:, 1:].astype(np.float32, copy=True),  # void column dropped
        class_weight=arr["class_weight"].astype(np.float32, copy=True),
        surface=surface,
        points=points,
        labels=labels,
        instances=instances,
        free_coords=free_coords,
        free_voxel_size_m=float(free_size),
        meta=dict(meta or {}),
    )


def fuse_frames(frames, segmenter=None, map_config: SemanticMapConfig | None = None) -> SemanticMap:
    """Fuse ``frames`` into a new map as the pipeline does: each frame's class probabilities
    from ``segmenter.predict(frame)`` (a ``SegmentationResult`` with (C, H, W) ``probs``), or
    the frame's own ``labels`` when ``segmenter`` is None (ground-truth fusion, an upper bound).
    ``map_config`` defaults to the pipeline's map settings."""
    if map_config is None:
        map_config = PIPELINE_MAP_CONFIG
    m = SemanticMap(map_config)
    for f in frames:
        if segmenter is None:
            m.integrate(f.replace(instances=None))
        else:
            m.integrate(f, segmenter.predict(f).probs)
    return m
