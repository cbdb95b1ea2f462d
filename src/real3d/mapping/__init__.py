"""Semantic 3D mapping: sparse TSDF voxel map with per-voxel class evidence and free space."""

from real3d.core.refinement import MapRefinement
from real3d.mapping.hashing import VoxelHash, pack_coords, pack_floor, unpack_keys
from real3d.mapping.semantic_map import (
    FREE,
    MAP_FORMAT_VERSION,
    OCCUPIED,
    UNKNOWN,
    SemanticMap,
    SemanticMapConfig,
    SemanticPoints,
)

__all__ = [
    "SemanticMap",
    "SemanticMapConfig",
    "MapRefinement",
    "SemanticPoints",
    "VoxelHash",
    "pack_coords",
    "pack_floor",
    "unpack_keys",
    "OCCUPIED",
    "FREE",
    "UNKNOWN",
    "MAP_FORMAT_VERSION",
]
