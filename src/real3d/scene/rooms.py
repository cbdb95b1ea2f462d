"""Rooms from a map's free space.

The free space in a height band above the floor is projected to a 2D grid; cores that survive
an erosion by ``room_erosion_m`` (doors close) and are at least ``room_min_area_m2`` large
are labelled, and the rest of the free space joins the nearest core.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from real3d.mapping.grid2d import Grid2D, IncrementalGrid, ProjectionConfig, project_map_2d
from real3d.mapping.semantic_map import SemanticMap
from real3d.scene.config import SceneGraphConfig
from real3d.scene.extent import capped_bounds_xy
from real3d.scene.nodes import SceneNode


def segment_rooms(
    semantic_map: SemanticMap,
    floor_z_m: float,
    cfg: SceneGraphConfig,
    old_rooms: list[SceneNode],
    take_id: Callable[[], int],
    grids: IncrementalGrid | None = None,
) -> tuple[Grid2D, np.ndarray, list[SceneNode]]:
    """Room nodes of the map's free space.

    Args:
        semantic_map: the map.
        floor_z_m: floor height, world metres.
        cfg: the graph's parameters (``grid_resolution_m``, ``z_min_m``, ``z_max_m``,
            ``room_erosion_m``, ``room_min_area_m2``, ``max_extent_m``, ``max_cells``).
        old_rooms: room nodes of the previous update: the nearest previous room centroid
            within 1.5 m gives a room its id.
        take_id: gives a new node id.
        grids: projects the free space over the cells that changed since its last use
            (the same grid as without it); None projects the whole map.

    Returns:
        The free-space grid, the (H, W) int64 room node id of each of its cells (0 = none)
        and the room nodes (centroid at floor height, ``area_m2``, ``n_voxels`` = cells).
    """
    # Rooms are a matter of layout: any free space seen in the band counts (the costmap
    # is stricter about what a robot may drive over).
    res = cfg.grid_resolution_m

    def capped(own=None):
        return capped_bounds_xy(semantic_map, res, cfg.max_extent_m, cfg.max_cells, map_bounds=own)[0] or own

    projection = ProjectionConfig(
        resolution_m=cfg.grid_resolution_m,
        z_min_m=floor_z_m + cfg.z_min_m,
        z_max_m=floor_z_m + cfg.z_max_m,
        free_low_m=np.inf,
        obstacle_points=False,
    )
    if grids is None:
        grid = project_map_2d(semantic_map, projection, bounds_xy=capped())
    else:
        # The grid hands over the map's bounds from the arrays it reads anyway.
        grid = grids.update(semantic_map, projection, bounds_xy=capped)
    free = grid.free
    dist = ndimage.distance_transform_edt(free) * res
    cores, n = ndimage.label(dist > cfg.room_erosion_m)
    if n:
        areas = ndimage.sum(np.ones_like(cores), cores, index=np.arange(1, n + 1)) * res * res
        small = np.flatnonzero(areas < cfg.room_min_area_m2) + 1
        cores[np.isin(cores, small)] = 0
    room_map = np.zeros(free.shape, np.int64)
    if (cores > 0).any():
        _, (ri, ci) = ndimage.distance_transform_edt(cores == 0, return_indices=True)
        room_map = cores[ri, ci]
    rooms, grid_labels = [], []
    for lab in np.unique(room_map[free]):
        if lab == 0:
            continue
        cells = np.argwhere((room_map == lab) & free)
        xy = grid.cell_to_world(cells)
        rooms.append(
            SceneNode(
                id=-1,
                kind="room",
                label=0,
                class_name="room",
                confidence=1.0,
                centroid=np.array([*xy.mean(axis=0), floor_z_m]),
                box=None,
                n_observations=0,
                n_voxels=len(cells),
                area_m2=float(len(cells) * res * res),
            )
        )
        grid_labels.append(int(lab))
    # Stable room ids: the nearest previous room centroid within 1.5 m keeps its id.
    used = set()
    for k in np.argsort([-r.area_m2 for r in rooms]):
        r = rooms[k]
        best, bd = None, 1.5
        for o in old_rooms:
            d = float(np.linalg.norm(r.centroid[:2] - o.centroid[:2]))
            if o.id not in used and d < bd:
                best, bd = o.id, d
        r.id = best if best is not None else take_id()
        used.add(r.id)
    lut = np.zeros(int(room_map.max()) + 1, np.int64)
    for r, lab in zip(rooms, grid_labels):
        lut[lab] = r.id
    return grid, lut[room_map], rooms


def assign_rooms(nodes, grid: Grid2D, room_ids: np.ndarray) -> None:
    """Set ``room_id`` of every node that is not a room to the room its centroid lies in
    (None outside every room); ``room_ids`` is the grid of ``segment_rooms``."""
    for n in nodes:
        if n.kind == "room":
            continue
        rc = grid.world_to_cell(n.centroid[None, :2])
        if grid.inside(rc)[0]:
            rid = int(room_ids[rc[0, 0], rc[0, 1]])
            n.room_id = rid if rid > 0 else None
