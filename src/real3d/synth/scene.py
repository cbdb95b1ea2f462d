"""Procedural indoor scenes: multi-room homes and warehouses, with ground truth.

A scene is built from yawed boxes and vertical cylinders. Each primitive belongs to an
object instance of a fine class (``real3d.core.labels.SYNTH_CLASSES``). Besides the mesh,
generation records the object boxes, support relations ("on"), rooms and the 2D occupancy
grid at robot height. World frame: z up, floor at z = 0, metres.

The builder and the room shell are in ``real3d.synth.builder``, the homes in
``real3d.synth.homes`` (furnished by ``real3d.synth.furniture``), the warehouses in
``real3d.synth.warehouse``.
"""

from __future__ import annotations

from real3d.core.errors import ConfigError
from real3d.synth.builder import DOOR_HEIGHT_RANGE, GRID_RES_M, ROBOT_BAND_M, WALL_T
from real3d.synth.homes import ROOM_KINDS, ROOM_WEIGHTS, generate_home
from real3d.synth.types import SceneGT
from real3d.synth.warehouse import generate_warehouse

SCENE_KINDS = ("home", "warehouse")

__all__ = [
    "DOOR_HEIGHT_RANGE",
    "GRID_RES_M",
    "ROBOT_BAND_M",
    "ROOM_KINDS",
    "ROOM_WEIGHTS",
    "SCENE_KINDS",
    "WALL_T",
    "generate_home",
    "generate_scene",
    "generate_warehouse",
]


def generate_scene(seed: int, kind: str = "home") -> SceneGT:
    """A scene of the given kind (``"home"`` or ``"warehouse"``); deterministic in seed."""
    if kind == "home":
        return generate_home(seed)
    if kind == "warehouse":
        return generate_warehouse(seed)
    raise ConfigError(f"unknown scene kind {kind!r}; valid: {', '.join(SCENE_KINDS)}")
