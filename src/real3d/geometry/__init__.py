"""Geometry: projection, back-projection, transforms."""

from real3d.geometry.projection import (
    depth_to_world_points,
    pixel_rays,
    project_points,
    rotate_vectors,
    unproject_depth,
)
from real3d.geometry.register import register_depth

__all__ = [
    "depth_to_world_points",
    "pixel_rays",
    "project_points",
    "register_depth",
    "rotate_vectors",
    "unproject_depth",
]
