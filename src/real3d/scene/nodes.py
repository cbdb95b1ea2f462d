"""The scene graph's nodes and edges: plain data with their JSON form."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.scene.boxes import Box3D


@dataclass
class SceneNode:
    """A node of the scene graph.

    Attributes:
        id: stable integer id (unique over all nodes of the graph's life).
        kind: "object", "structure" or "room".
        label: NYUv2-13 class id (0 for rooms).
        class_name: class name ("room" for rooms).
        confidence: mean class posterior of the node's voxels (1.0 for rooms).
        centroid: (3,) float64 world metres (rooms: z = 0).
        box: gravity-aligned yaw box (None for rooms); for objects, the whole object as
            the box refiner estimates it when one is used.
        n_observations: frames that labelled the node's best-observed voxel.
        n_voxels: surface voxels in the node (rooms: free cells).
        room_id: id of the room node containing the centroid, or None.
        area_m2: footprint area of a room (0 for other kinds).
        map_instance: the map instance id the node was built from, or None.
        observed_box: the box of the seen surface before refinement (None when no
            refiner ran); relations are judged on it.
    """

    id: int
    kind: str
    label: int
    class_name: str
    confidence: float
    centroid: np.ndarray
    box: Box3D | None
    n_observations: int
    n_voxels: int
    room_id: int | None = None
    area_m2: float = 0.0
    map_instance: int | None = None
    observed_box: Box3D | None = None

    def to_dict(self) -> dict:
        """The node's entry of the graph's JSON (schema in ``real3d.scene.graph``)."""
        return {
            "id": int(self.id),
            "kind": self.kind,
            "label": int(self.label),
            "class_name": self.class_name,
            "confidence": float(self.confidence),
            "centroid": [float(v) for v in self.centroid],
            "box": None if self.box is None else self.box.to_dict(),
            "observed_box": None if self.observed_box is None else self.observed_box.to_dict(),
            "n_observations": int(self.n_observations),
            "n_voxels": int(self.n_voxels),
            "room_id": None if self.room_id is None else int(self.room_id),
            "area_m2": float(self.area_m2),
            "map_instance": None if self.map_instance is None else int(self.map_instance),
        }

    @classmethod
    def from_dict(cls, d: dict) -> SceneNode:
        """The node ``to_dict`` describes."""
        return cls(
            id=int(d["id"]),
            kind=d["kind"],
            label=int(d["label"]),
            class_name=d["class_name"],
            confidence=float(d["confidence"]),
            centroid=np.asarray(d["centroid"], np.float64),
            box=_box_or_none(d["box"]),
            n_observations=int(d["n_observations"]),
            n_voxels=int(d["n_voxels"]),
            room_id=_int_or_none(d.get("room_id")),
            area_m2=float(d.get("area_m2", 0.0)),
            map_instance=_int_or_none(d.get("map_instance")),
            observed_box=_box_or_none(d.get("observed_box")),
        )


@dataclass(frozen=True)
class Edge:
    """``subject`` <predicate> ``object`` between node ids."""

    subject: int
    predicate: str
    object: int

    def to_dict(self) -> dict:
        return {"subject": self.subject, "predicate": self.predicate, "object": self.object}

    @classmethod
    def from_dict(cls, d: dict) -> Edge:
        return cls(int(d["subject"]), str(d["predicate"]), int(d["object"]))


def _box_or_none(d: dict | None) -> Box3D | None:
    return None if d is None else Box3D.from_dict(d)


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)
