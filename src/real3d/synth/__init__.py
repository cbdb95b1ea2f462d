"""The synthetic indoor/warehouse RGB-D data engine.

``generate_sequence`` renders frames with ground truth for every stage (labels,
instances, clean and noisy depth, normals, poses) along a camera path through a
procedural scene whose ``SceneGT`` holds the labelled mesh, object boxes, support
relations, rooms and a 2D occupancy grid. ``SynthDataset`` renders independent views on
the fly for training; ``write_sequence``/``read_sequence`` keep sequences on disk.
"""

from real3d.synth.dataset import SynthDataset
from real3d.synth.disk import read_sequence, write_sequence
from real3d.synth.fingerprint import engine_fingerprint
from real3d.synth.render import RenderConfig, Renderer
from real3d.synth.scene import generate_home, generate_scene, generate_warehouse
from real3d.synth.sequence import SyntheticStream, generate_sequence, random_intrinsics
from real3d.synth.textures import TextureBank
from real3d.synth.trajectory import free_mask, random_viewpoint, trajectory
from real3d.synth.types import (
    ObjectGT,
    OccupancyGrid,
    Relation,
    Room,
    SceneGT,
    SceneMesh,
    SyntheticSequence,
    is_structure,
)

__all__ = [
    "ObjectGT",
    "OccupancyGrid",
    "Relation",
    "RenderConfig",
    "Renderer",
    "Room",
    "SceneGT",
    "SceneMesh",
    "SynthDataset",
    "SyntheticSequence",
    "SyntheticStream",
    "TextureBank",
    "engine_fingerprint",
    "free_mask",
    "generate_home",
    "generate_scene",
    "generate_sequence",
    "generate_warehouse",
    "is_structure",
    "random_intrinsics",
    "random_viewpoint",
    "read_sequence",
    "trajectory",
    "write_sequence",
]
