"""Containers produced by the data engine.

The ground-truth types live in ``real3d.core.gt`` (every stage's evaluation reads them);
they are re-exported here for existing imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from real3d.core.frame import Frame
from real3d.core.gt import (
    STRUCTURE_CLASSES,
    ObjectGT,
    OccupancyGrid,
    Relation,
    Room,
    SceneGT,
    SceneMesh,
    is_structure,
)

__all__ = [
    "STRUCTURE_CLASSES",
    "ObjectGT",
    "OccupancyGrid",
    "Relation",
    "Room",
    "SceneGT",
    "SceneMesh",
    "SyntheticSequence",
    "is_structure",
]


@dataclass
class SyntheticSequence:
    """Frames rendered along a trajectory through one scene.

    Supports ``len``, indexing and iteration over ``Frame`` objects; ``scene`` holds the
    scene ground truth.
    """

    frames: list[Frame]
    scene: SceneGT

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> Frame:
        return self.frames[i]

    def __iter__(self):
        return iter(self.frames)
