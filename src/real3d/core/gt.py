"""Ground-truth containers shared by every stage's evaluation.

A scene's ground truth (``SceneGT``) holds its labelled triangle mesh (``SceneMesh``), object
boxes (``ObjectGT``), relations between objects (``Relation``), room footprints (``Room``)
and a 2D occupancy grid at robot height (``OccupancyGrid``). The data engine
(``real3d.synth``) and the test scenes (``real3d.testing``) produce them, real3d's on-disk
layout (``real3d.io.real3d_disk``) stores them, and the evaluation of the map, the scene
graph and navigation reads them, so none of those stages depends on the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ObjectGT:
    """One object instance of a scene.

    Attributes:
        instance_id: > 0, unique in the scene, equal to the ids in instance images and mesh.
        class_name: fine data-engine class (``real3d.core.labels.SYNTH_CLASSES`` key).
        label: NYUv2-13 id of the class.
        center: (3,) world centre of the gravity-aligned box, metres.
        size: (3,) box extents along its own x, y (after yaw) and world z, metres.
        yaw_rad: rotation of the box about world +z.
        room_id: index of the room the object stands in (-1 for structure spanning rooms).
    """

    instance_id: int
    class_name: str
    label: int
    center: np.ndarray
    size: np.ndarray
    yaw_rad: float
    room_id: int = -1

    def corners(self) -> np.ndarray:
        """(8, 3) world corners of the box."""
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        return (signs * (np.asarray(self.size) / 2)) @ R.T + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {
            "instance_id": int(self.instance_id),
            "class_name": self.class_name,
            "label": int(self.label),
            "center": [float(v) for v in self.center],
            "size": [float(v) for v in self.size],
            "yaw_rad": float(self.yaw_rad),
            "room_id": int(self.room_id),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ObjectGT:
        return cls(
            int(d["instance_id"]),
            d["class_name"],
            int(d["label"]),
            np.asarray(d["center"], float),
            np.asarray(d["size"], float),
            float(d["yaw_rad"]),
            int(d.get("room_id", -1)),
        )


@dataclass(frozen=True)
class Relation:
    """``subject`` <predicate> ``object`` between instance ids.

    Predicates: ``"on"`` (subject rests on object: support) and ``"attached_to"``
    (curtains and blinds hung at a window)."""

    subject: int
    predicate: str
    object: int


@dataclass(frozen=True)
class Room:
    """An axis-aligned room footprint: [x0, x1] x [y0, y1] metres, with its type."""

    room_id: int
    kind: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class OccupancyGrid:
    """2D occupancy at robot height.

    Attributes:
        occupied: (H, W) bool, row i <-> y = origin_xy[1] + (i + 0.5) * resolution_m,
            column j <-> x = origin_xy[0] + (j + 0.5) * resolution_m.
        known: (H, W) bool, cells inside the building footprint.
        origin_xy: world (x, y) of the grid's lower-left corner, metres.
        resolution_m: cell size, metres.
        z_min_m, z_max_m: height band whose geometry counts as an obstacle.
    """

    occupied: np.ndarray
    known: np.ndarray
    origin_xy: tuple[float, float]
    resolution_m: float
    z_min_m: float
    z_max_m: float

    def world_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world xy -> (N, 2) integer (row, col)."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        col = np.floor((xy[:, 0] - self.origin_xy[0]) / self.resolution_m).astype(int)
        row = np.floor((xy[:, 1] - self.origin_xy[1]) / self.resolution_m).astype(int)
        return np.stack([row, col], axis=1)

    def cell_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """World x (W,) and y (H,) of cell centres."""
        h, w = self.occupied.shape
        xs = self.origin_xy[0] + (np.arange(w) + 0.5) * self.resolution_m
        ys = self.origin_xy[1] + (np.arange(h) + 0.5) * self.resolution_m
        return xs, ys


@dataclass
class SceneMesh:
    """Triangle mesh of the whole scene with per-face ground truth.

    Attributes:
        vertices: (V, 3) float32 world metres.
        triangles: (F, 3) int32 vertex indices.
        face_class: (F,) int16 fine class id (index into ``real3d.core.labels.SYNTH``).
        face_label: (F,) uint8 NYUv2-13 id.
        face_instance: (F,) int32 instance id (0 = none).
        face_material: (F,) int32 index into ``SceneGT.materials``.
        face_uv: (F, 2, 4) float32 affine map from homogeneous world points to texture
            pixel coordinates (u, v) for the face's material; used by the renderer.
        face_part: (F,) int32 index of the closed primitive (box or cylinder) the face
            belongs to; each part is a closed convex surface.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    face_class: np.ndarray
    face_label: np.ndarray
    face_instance: np.ndarray
    face_material: np.ndarray
    face_uv: np.ndarray | None = None
    face_part: np.ndarray | None = None


STRUCTURE_CLASSES = frozenset({"wall", "door", "floor", "rug", "ceiling", "window", "pillar"})


def is_structure(class_name: str) -> bool:
    """True for building structure (walls, floors, ceilings, windows, pillars), which scene
    graphs keep as structure nodes rather than objects."""
    return class_name in STRUCTURE_CLASSES


@dataclass
class SceneGT:
    """Ground truth of one scene: labelled mesh, object boxes, relations, rooms and 2D
    occupancy (the data engine's ``real3d.synth.generate_scene`` and the test scenes of
    ``real3d.testing`` make them; the stages' evaluations read them)."""

    seed: int
    kind: str
    mesh: SceneMesh
    objects: list[ObjectGT]
    relations: list[Relation]
    rooms: list[Room]
    occupancy: OccupancyGrid
    materials: list[dict] = field(default_factory=list)
    lights: list[dict] = field(default_factory=list)

    def object_by_id(self, instance_id: int) -> ObjectGT:
        for o in self.objects:
            if o.instance_id == instance_id:
                return o
        raise KeyError(instance_id)
