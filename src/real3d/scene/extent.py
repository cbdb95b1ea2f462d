"""Capping the extent of top-down grids made from a map (the costmap, the free space of the
scene graph's rooms).

A grid over the map's bounds costs memory in proportion to the area those bounds span,
not to what the map holds: one voxel cluster 250 m away (a bad pose) makes a grid of
5000 x 5000 cells. Grids larger than the configured limit are cropped to a window of
that size around the camera (the map's last camera position unless told otherwise).
"""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError
from real3d.mapping.semantic_map import SemanticMap


def map_bounds_xy(semantic_map: SemanticMap, resolution_m: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) world metres of a grid of ``resolution_m`` cells over every fine
    voxel and free-space cell of the map, with the two-cell margin that
    ``real3d.mapping.grid2d.project_map_2d`` puts around them by default."""
    coords = semantic_map.voxel_arrays()["coords"]
    xy = (coords[:, :2] + 0.5) * semantic_map.voxel_size_m
    free_pts, _ = semantic_map.free_cells()
    if len(free_pts):
        xy = np.concatenate([xy, free_pts[:, :2]])
    if len(xy) == 0:
        xy = np.zeros((1, 2))
    lo = np.floor(xy.min(axis=0) / resolution_m) * resolution_m - 2 * resolution_m
    hi = xy.max(axis=0) + 2 * resolution_m
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def grid_side_cells(resolution_m: float, max_extent_m: float, max_cells: int) -> int:
    """Cells along each side of the largest square grid both limits allow."""
    return max(1, min(int(max_extent_m / resolution_m + 1e-6), int(np.sqrt(max_cells) + 1e-6)))


def check_extent_limits(where: str, max_extent_m: float, max_cells: int) -> None:
    """Raise InputError unless ``max_extent_m > 0`` and ``max_cells >= 1``."""
    if not (max_extent_m > 0 and isinstance(max_cells, (int, np.integer)) and max_cells >= 1):
        raise InputError(
            f"{where}: expected max_extent_m > 0 and an integer max_cells >= 1, got {max_extent_m!r} and {max_cells!r}"
        )


def capped_bounds_xy(
    semantic_map: SemanticMap,
    resolution_m: float,
    max_extent_m: float,
    max_cells: int,
    center_xy=None,
    map_bounds: tuple | None = None,
) -> tuple[tuple[float, float, float, float] | None, tuple | None]:
    """Bounds of a grid over the map that respect the limits.

    Args:
        semantic_map: the map.
        resolution_m: cell edge of the grid.
        max_extent_m: longest side of the grid, metres.
        max_cells: most cells of the grid.
        center_xy: (2,) world metres the window is centred on when the map is too large;
            None: the map's last camera position (the middle of its bounds before any).
        map_bounds: the map's own bounds when the caller has them (``map_bounds_xy`` at
            ``resolution_m``); None computes them.

    Returns:
        (bounds, full): ``(None, None)`` when the map's own bounds fit (the grid covers the
        whole map); else the (x0, y0, x1, y1) window of at most ``max_extent_m`` and
        ``max_cells`` around ``center_xy``, moved inside the map's bounds where the map
        is larger, and ``full``, the map's own bounds.
    """
    check_extent_limits("capped_bounds_xy", max_extent_m, max_cells)
    full = map_bounds_xy(semantic_map, resolution_m) if map_bounds is None else tuple(map_bounds)
    x0, y0, x1, y1 = full
    w = int(np.ceil((x1 - x0) / resolution_m))
    h = int(np.ceil((y1 - y0) / resolution_m))
    if w * h <= max_cells and max(x1 - x0, y1 - y0) <= max_extent_m + 1e-6:
        return None, None
    side = grid_side_cells(resolution_m, max_extent_m, max_cells) * resolution_m
    if center_xy is None:
        cams = semantic_map.camera_positions
        center_xy = cams[-1, :2] if len(cams) else ((x0 + x1) / 2, (y0 + y1) / 2)
    c = np.asarray(center_xy, np.float64).reshape(2)
    out = []
    for lo, hi, ci in ((x0, x1, c[0]), (y0, y1, c[1])):
        if hi - lo <= side:
            out.append((lo, hi))
            continue
        # On the map's cell lattice, inside the map's bounds.
        a = lo + np.floor((min(max(ci - side / 2, lo), hi - side) - lo) / resolution_m) * resolution_m
        out.append((a, a + side - 1e-9 * resolution_m))
    return (out[0][0], out[1][0], out[0][1], out[1][1]), full
