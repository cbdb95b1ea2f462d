"""Top-down 2D projection of a ``SemanticMap``: obstacle, free and unknown cells.

Shared by the scene graph (free space, rooms) and navigation (costmap). World frame z up,
floor at z = 0 (real data: align with a floor fit first, see ``real3d.nav.gravity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from real3d.core.counts import ratio_count
from real3d.core.errors import InputError
from real3d.core.labels import NYU13
from real3d.mapping.semantic_map import SemanticMap

_FLOOR = NYU13.index("floor")
_STRUCTURE = tuple(sorted(NYU13.index(n) for n in ("floor", "wall", "ceiling", "window")))


@dataclass
class Grid2D:
    """Ternary top-down grid.

    Attributes:
        occupied: (H, W) bool, geometry inside the height band.
        free: (H, W) bool, observed floor or free space and not occupied.
        origin_xy: world (x, y) of the lower-left grid corner, metres.
        resolution_m: cell edge, metres.
        z_min_m, z_max_m: the height band.
        obstacle_xy: optional (N, 2) float32 world xy of the measured surface points (or
            voxel centres) that made cells occupied: sub-cell positions for obstacle
            distances; None when only the cells are known.
        behind_xy: optional (M, 2) float32 world xy of the rest of those points: the ones
            only the truncation band behind a seen surface puts there (space no frame saw,
            which may be the inside of a thick object or nothing behind a thin one), and
            single-frame points more than a voxel behind that surface. None with
            ``obstacle_xy``.
        top_z_m, bottom_z_m: optional (H, W) float32 heights of the highest and lowest
            solid voxel centres in the band of each occupied cell, NaN elsewhere (None when
            not computed).
    Row i covers y in [origin_y + i * res, origin_y + (i + 1) * res), column j likewise x
    (same layout as ``real3d.synth.types.OccupancyGrid``).
    """

    occupied: np.ndarray
    free: np.ndarray
    origin_xy: tuple[float, float]
    resolution_m: float
    z_min_m: float
    z_max_m: float
    obstacle_xy: np.ndarray | None = None
    behind_xy: np.ndarray | None = None
    top_z_m: np.ndarray | None = None
    bottom_z_m: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape

    @property
    def unknown(self) -> np.ndarray:
        return ~(self.occupied | self.free)

    def world_to_cell(self, xy) -> np.ndarray:
        """(N, 2) world xy metres -> (N, 2) int64 (row, col); may fall outside the grid."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        col = np.floor((xy[:, 0] - self.origin_xy[0]) / self.resolution_m).astype(np.int64)
        row = np.floor((xy[:, 1] - self.origin_xy[1]) / self.resolution_m).astype(np.int64)
        return np.stack([row, col], axis=1)

    def cell_to_world(self, rc) -> np.ndarray:
        """(N, 2) (row, col) -> (N, 2) world xy of cell centres, metres."""
        rc = np.asarray(rc, np.float64).reshape(-1, 2)
        return np.stack(
            [
                self.origin_xy[0] + (rc[:, 1] + 0.5) * self.resolution_m,
                self.origin_xy[1] + (rc[:, 0] + 0.5) * self.resolution_m,
            ],
            axis=1,
        )

    def inside(self, rc) -> np.ndarray:
        rc = np.asarray(rc).reshape(-1, 2)
        h, w = self.shape
        return (rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)


def _splat(grid: np.ndarray, rc: np.ndarray) -> None:
    h, w = grid.shape
    ok = (rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)
    grid[rc[ok, 0], rc[ok, 1]] = True


def _known_columns(
    grid: Grid2D, free_pts: np.ndarray, voxel_xyz: np.ndarray, cell_m: float, z0: float, z1: float, max_gap_levels: int
) -> np.ndarray:
    """(H, W) bool: grid cells whose column of ``cell_m`` cubes over [z0, z1) the map
    knows: its top cube holds a free-space cell (centres ``free_pts``) or an observed fine
    voxel (centres ``voxel_xyz``), and no run of unknown cubes below it is longer than
    ``max_gap_levels``. Columns are the coarse cells' xy squares."""
    lv0 = ratio_count(z0, cell_m, "floor")
    lv1 = max(lv0, ratio_count(z1, cell_m) - 1)
    h, w = grid.shape
    # Coarse columns over the grid's extent, one boolean per level.
    x0, y0 = grid.origin_xy
    c0 = np.floor(np.array([x0, y0]) / cell_m).astype(np.int64)
    c1 = np.floor((np.array([x0, y0]) + np.array([w, h]) * grid.resolution_m) / cell_m).astype(np.int64)
    nx, ny = c1 - c0 + 1
    vol = np.zeros((nx, ny, lv1 - lv0 + 1), bool)
    for pts in (free_pts, voxel_xyz):
        c = np.floor(np.reshape(pts, (-1, 3)) / cell_m).astype(np.int64)
        c[:, :2] -= c0
        c[:, 2] -= lv0
        ok = (
            (c[:, 0] >= 0)
            & (c[:, 0] < nx)
            & (c[:, 1] >= 0)
            & (c[:, 1] < ny)
            & (c[:, 2] >= 0)
            & (c[:, 2] < vol.shape[2])
        )
        vol[c[ok, 0], c[ok, 1], c[ok, 2]] = True
    known = vol[:, :, -1].copy()
    g = max_gap_levels + 1
    if g <= vol.shape[2]:
        # A window of g consecutive unknown levels anywhere in the column rejects it.
        windows = np.lib.stride_tricks.sliding_window_view(~vol, g, axis=2)
        known &= ~windows.all(axis=3).any(axis=2)
    # Each fine cell looks up the coarse column its centre falls in.
    rr, cc = np.mgrid[0:h, 0:w]
    cx = np.floor((x0 + (cc + 0.5) * grid.resolution_m) / cell_m).astype(np.int64) - c0[0]
    cy = np.floor((y0 + (rr + 0.5) * grid.resolution_m) / cell_m).astype(np.int64) - c0[1]
    return known[np.clip(cx, 0, nx - 1), np.clip(cy, 0, ny - 1)]


def _per_cm(xy: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """(M, 2) float32: ``xy`` rounded to 1 cm, one entry per centimetre square."""
    o = np.array([x0 - 1.0, y0 - 1.0])  # points lie at most half a voxel outside the grid
    q = np.round((xy - o) / 0.01).astype(np.int64)
    key = np.unique(q[:, 0] * (1 << 31) + q[:, 1])
    return (np.stack([key >> 31, key & ((1 << 31) - 1)], axis=1) * 0.01 + o).astype(np.float32)


def _near_surface(points: np.ndarray, surface: np.ndarray, reach_m: float) -> np.ndarray:
    """(N,) bool: ``points`` with a ``surface`` point within ``reach_m``.

    For solid voxels with neither a measured point nor the zero level next to them: such a
    voxel lies in the truncation band behind a surface, up to a truncation distance deep,
    inside a thick object or, behind one seen from one side only (the back of a chair, a
    thin board), in space no frame saw. The map cannot tell which; the costmap makes such
    space dear rather than lethal (``CostmapConfig.behind_cost``). One without a surface
    within reach is an obstacle like any other."""
    from scipy.spatial import cKDTree

    if not len(points) or not len(surface):
        return np.zeros(len(points), bool)
    tree = cKDTree(surface, balanced_tree=False, compact_nodes=False)
    d, _ = tree.query(points, distance_upper_bound=reach_m)
    return np.isfinite(d)


@dataclass(frozen=True)
class ProjectionConfig:
    """How ``project_map_2d`` turns the map into a ternary grid (metres, world heights).

    Attributes:
        resolution_m: cell edge.
        z_min_m, z_max_m: the height band whose solid voxels make cells occupied.
        min_weight: TSDF weight a voxel needs to count as solid.
        floor_label: class id of the floor (never an obstacle).
        min_column_voxels: solid voxels a cell needs in the band to be occupied (or one
            with two occupied neighbour cells).
        min_hit_ratio: share of the frames that updated a voxel in which it was hit as a
            surface that makes it solid on its own (thin things).
        traversed_radius_m: cells this close to a camera position are free unless
            occupied; 0 disables.
        free_low_m: coarse free-space cells free the grid only when they start at most this
            far above ``z_min_m``.
        obstacle_points: also collect ``Grid2D.obstacle_xy`` and ``Grid2D.behind_xy``.
        free_column_top_m: when given, floor and low free space free a cell only where the
            map knows its column from ``z_min_m`` up to this height.
        free_column_gap_m: the longest unknown stretch such a column may have.
        structure_labels: class ids of large structure surfaces (floor, walls, ...), whose
            TSDF alone decides whether they are solid (NYUv2-13's by default, as
            ``floor_label``; ``real3d.scene.roles`` has other label sets').
    The function's docstring gives the rules in full.
    """

    resolution_m: float = 0.05
    z_min_m: float = 0.1
    z_max_m: float = 1.5
    min_weight: float = 3.0
    floor_label: int = _FLOOR
    min_column_voxels: int = 2
    min_hit_ratio: float = 0.15
    traversed_radius_m: float = 0.0
    free_low_m: float = 0.2
    obstacle_points: bool = True
    free_column_top_m: float | None = None
    free_column_gap_m: float = 0.2
    structure_labels: tuple[int, ...] = _STRUCTURE


# The keyword form's argument order before ProjectionConfig (bounds_xy was the fifth).
_LEGACY_ORDER = (
    "resolution_m",
    "z_min_m",
    "z_max_m",
    "min_weight",
    "bounds_xy",
    "floor_label",
    "min_column_voxels",
    "min_hit_ratio",
    "traversed_radius_m",
    "free_low_m",
    "obstacle_points",
    "free_column_top_m",
    "free_column_gap_m",
)


def _legacy_config(args: tuple, kwargs: dict) -> tuple[ProjectionConfig, object]:
    """(config, bounds_xy) from the keyword form ``project_map_2d(map, resolution_m, ...)``."""
    if len(args) > len(_LEGACY_ORDER):
        raise InputError(f"project_map_2d: expected at most {len(_LEGACY_ORDER)} settings, got {len(args)}")
    given = dict(zip(_LEGACY_ORDER, args))
    for k, v in kwargs.items():
        if k not in _LEGACY_ORDER:
            raise InputError(f"project_map_2d: unknown setting {k!r}; valid: {', '.join(_LEGACY_ORDER)}")
        if k in given:
            raise InputError(f"project_map_2d: {k} given twice")
        given[k] = v
    bounds_xy = given.pop("bounds_xy", None)
    return ProjectionConfig(**given), bounds_xy


def project_map_2d(
    semantic_map: SemanticMap, config: ProjectionConfig | float | None = None, *args, bounds_xy=None, **kwargs
) -> Grid2D:
    """Project the map onto the floor plane.

    Occupied: fine voxels on or behind a surface (sdf < half a voxel) with weight >=
    ``min_weight`` (3: voxels updated only once or twice are mostly the fringe of a
    surface seen edge-on, one voxel beyond it), or hit as a surface in at least 2
    frames and ``min_hit_ratio`` of those that updated them, whose centre
    lies in [z_min_m, z_max_m] and whose class is not floor (a noisy floor can poke above
    z_min). Free: cells holding an observed floor surface (any voxel of class
    ``floor_label`` or a surface voxel below z_min_m) or a coarse free-space cell that
    overlaps the band and starts at most ``free_low_m`` above its bottom (free space seen
    only high up says nothing about a bed or a seat below it); occupied wins. A cell needs at least
    ``min_column_voxels`` solid voxels in the band, or one with two occupied neighbour
    cells, to count as occupied: isolated voxels are mostly depth outliers (flying pixels),
    and one of them would block a corridor once inflated by the robot radius.
    Cells within ``traversed_radius_m`` of a camera position (on the floor plane) are free
    too unless occupied: whatever carried the camera stood there, and the floor right
    under a camera is rarely in its view (doorways a robot drove through).
    With ``free_column_top_m``, observed floor and low free space free a cell only where
    the map knows its column from ``z_min_m`` up to that height: the column's coarse
    free-space cells (``free_voxel_size_m``) in that range were crossed by a ray or hold an
    observed fine voxel, the top one always, and no unknown stretch between is longer than
    ``free_column_gap_m`` (free space is carved by every 12th pixel only, so a column seen
    from one place has gaps). A camera low on a robot sees the floor under a table, and
    the space between its legs, without ever seeing its top; the floor alone says nothing
    about what hangs above it. Cells within ``traversed_radius_m`` of a camera stay free.

    Args:
        semantic_map: the map.
        config: the settings (``ProjectionConfig``; None: its defaults). The older keyword
            form, ``project_map_2d(map, resolution_m, z_min_m, z_max_m, ..., free_low_m=...)``
            with the fields of ``ProjectionConfig`` (and ``bounds_xy`` fifth), still works.
        bounds_xy: optional (x0, y0, x1, y1) world metres; default the map's extent.

    Raises:
        InputError: inconsistent settings (band, resolution, free-space rules) or an
            unknown setting in the keyword form.
    """
    if isinstance(config, ProjectionConfig):
        if args or kwargs:
            raise InputError("project_map_2d: give either a ProjectionConfig or the separate settings, not both")
    elif config is None and not args and not kwargs:
        config = ProjectionConfig()
    else:
        if bounds_xy is not None:
            kwargs = {**kwargs, "bounds_xy": bounds_xy}
        config, bounds_xy = _legacy_config(args if config is None else (config, *args), kwargs)
    _check_projection(config)
    arr = semantic_map.voxel_arrays()
    centres = (arr["coords"] + 0.5) * semantic_map.voxel_size_m
    free_pts, fv = semantic_map.free_cells()
    if bounds_xy is None:
        bounds_xy = _default_bounds(centres, free_pts, config.resolution_m)
    grid = _empty_grid(bounds_xy, config)
    obs, beh = _fill(grid, semantic_map, config, arr, centres, None, free_pts, fv, _cameras(semantic_map))
    if config.obstacle_points:
        x0, y0 = grid.origin_xy
        grid.obstacle_xy = _per_cm(obs[0], x0, y0)
        grid.behind_xy = _per_cm(beh[0], x0, y0)
    return grid


def _check_projection(c: ProjectionConfig) -> None:
    """Raise InputError for inconsistent ``ProjectionConfig`` settings."""
    if c.free_column_gap_m < 0 or (c.free_column_top_m is not None and not c.free_column_top_m > c.z_min_m):
        raise InputError(
            f"project_map_2d: need free_column_gap_m >= 0 and free_column_top_m > z_min_m, got "
            f"{c.free_column_gap_m} and {c.free_column_top_m} (z_min_m {c.z_min_m})"
        )
    if not c.free_low_m >= 0:
        raise InputError(f"project_map_2d: expected free_low_m >= 0, got {c.free_low_m}")
    if c.resolution_m <= 0 or not c.z_max_m > c.z_min_m:
        raise InputError(
            f"project_map_2d: need resolution_m > 0 and z_max_m > z_min_m, got {c.resolution_m}, "
            f"[{c.z_min_m}, {c.z_max_m}]"
        )


def _cameras(semantic_map: SemanticMap) -> np.ndarray:
    """(F, 3) camera positions of the map's frames (none before the first)."""
    return semantic_map.camera_positions if semantic_map.frames_integrated else np.zeros((0, 3))


def _default_bounds(centres: np.ndarray, free_pts: np.ndarray, resolution_m: float) -> tuple:
    """(x0, y0, x1, y1) over voxel centres and free-space cell centres, two cells of margin."""
    parts = [p[:, :2] for p in (centres, free_pts) if len(p)] or [np.zeros((1, 2))]
    lo = np.min([p.min(axis=0) for p in parts], axis=0)
    hi = np.max([p.max(axis=0) for p in parts], axis=0)
    lo = np.floor(lo / resolution_m) * resolution_m - 2 * resolution_m
    hi = hi + 2 * resolution_m
    return (lo[0], lo[1], hi[0], hi[1])


def _empty_grid(bounds_xy, c: ProjectionConfig) -> Grid2D:
    x0, y0, x1, y1 = (float(b) for b in bounds_xy)
    w = max(1, ratio_count(x1 - x0, c.resolution_m))
    h = max(1, ratio_count(y1 - y0, c.resolution_m))
    return Grid2D(np.zeros((h, w), bool), np.zeros((h, w), bool), (x0, y0), c.resolution_m, c.z_min_m, c.z_max_m)


def _fill(
    grid: Grid2D,
    semantic_map: SemanticMap,
    c: ProjectionConfig,
    arr: dict,
    centres: np.ndarray,
    rows: np.ndarray | None,
    free_pts: np.ndarray,
    fv: float,
    cams: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fill an empty ``grid`` (occupied, free, top_z_m, bottom_z_m) from the map rows
    ``rows`` (None: all), the free-space cell centres ``free_pts`` (M, 3) of edge ``fv`` and
    the camera positions ``cams`` (F, 3) (the rules: ``project_map_2d``).

    Returns:
        ((xy, cell), (xy, cell)): the obstacle points (K, 2) world metres and their flat
        cell indices (K,), then the points only the truncation band puts there (see
        ``Grid2D.behind_xy``), before the 1 cm thinning; empty without
        ``c.obstacle_points``. Every cell's values depend only on the rows, free cells and
        cameras within ``_reach_cells`` of it, so a window of the grid can be filled from
        the inputs around it (``IncrementalGrid``).
    """
    resolution_m, z_min_m, z_max_m = c.resolution_m, c.z_min_m, c.z_max_m
    vs = semantic_map.voxel_size_m
    trunc = semantic_map.config.truncation_m
    h, w = grid.shape
    x0, y0 = grid.origin_xy
    every = slice(None) if rows is None else rows
    weight = arr["weight"][every]
    sdf_r = arr["tsdf"][every] * trunc
    # Only voxels that can matter: observed and on or behind a surface.
    hits = arr["hits"]  # frames whose measured points fell in this voxel
    hits_r = hits[every]
    # Thin things (leaves, chair legs) average to "free" in a TSDF because views through
    # their gaps outweigh the views that hit them; a voxel hit in a good share of the frames
    # that saw it counts as solid too.
    hit_solid = (hits_r >= 2) & (hits_r >= c.min_hit_ratio * weight)
    ci = np.flatnonzero(((weight >= c.min_weight) & (sdf_r < vs)) | hit_solid)
    cand = ci if rows is None else rows[ci]  # map rows
    sdf_c, z = sdf_r[ci], centres[cand, 2]
    is_floor = np.zeros(len(cand), bool)
    is_structure = np.zeros(len(cand), bool)
    has_cls = arr["class_weight"][cand] > 0
    if has_cls.any():
        lab = np.argmax(arr["log_evidence"][cand[has_cls], 1:], axis=1) + 1
        is_floor[has_cls] = lab == c.floor_label
        is_structure[has_cls] = np.isin(lab, c.structure_labels)
    # The hit rule is for thin things; walls and floors are large surfaces whose TSDF is
    # reliable, and hits in front of them would only thicken them by a voxel.
    thin = hit_solid[ci] & ~is_structure
    sdf_c = np.where(thin, np.minimum(sdf_c, 0.0), sdf_c)
    in_band = (z >= z_min_m) & (z <= z_max_m)
    is_solid = (sdf_c < 0.5 * vs) & in_band & ~is_floor
    rc = grid.world_to_cell(centres[cand[is_solid], :2])
    inside = grid.inside(rc)
    solid = cand[is_solid][inside]  # rows of the solid voxels in the band over the grid
    cell = rc[inside, 0] * w + rc[inside, 1]  # their flat cell index
    counts = np.bincount(cell, minlength=h * w).reshape(h, w)
    # Outlier rejection: a cell is occupied with min_column_voxels solid voxels, or with one
    # when at least two of its 8 neighbours hold one too (a bed top seen at a grazing angle
    # is one voxel thick but wide; a flying pixel is alone).
    any_ = counts > 0
    nb = ndimage.uniform_filter(any_.astype(np.float32), size=3, mode="constant") * 9 - any_
    grid.occupied |= (counts >= c.min_column_voxels) | (any_ & (nb >= 1.5))
    # Height range of each occupied column (thin tall obstacles, see the costmap).
    zs = centres[solid, 2].astype(np.float32)
    top = np.full(h * w, -np.inf, np.float32)
    bottom = np.full(h * w, np.inf, np.float32)
    if len(cell):
        # Per-cell max and min over the voxels sorted by cell (reduceat: ufunc.at is slow).
        order = np.argsort(cell, kind="stable")
        sc = cell[order]
        start = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
        top[sc[start]] = np.maximum.reduceat(zs[order], start)
        bottom[sc[start]] = np.minimum.reduceat(zs[order], start)
    grid.top_z_m = np.where(grid.occupied, top.reshape(h, w), np.float32(np.nan))
    grid.bottom_z_m = np.where(grid.occupied, bottom.reshape(h, w), np.float32(np.nan))
    none = (np.zeros((0, 2)), np.zeros(0, np.int64))
    obs, beh = none, none
    if c.obstacle_points:
        # Where in its cell each obstacle is: the mean measured points of the voxels that
        # were hit; in a cell without any, the centres of its solid voxels. One entry per
        # 1 cm in xy (``_per_cm``, by the caller).
        sdf_s = arr["tsdf"][solid] * trunc
        was_hit = hits[solid] > 0
        # A point measured in only one frame, more than a voxel behind the surface the
        # TSDF's many rays agree on, is a stray reading (a depth-noise tail behind a chair
        # back), not a surface.
        trusted = (hits[solid] >= 2) | (was_hit & (sdf_s > -vs))
        cell_hit = np.bincount(cell[was_hit], minlength=h * w) > 0
        keep = grid.occupied.ravel()[cell] & (was_hit | ~cell_hit[cell])
        pts3 = centres[solid] + np.where(was_hit[:, None], arr["hit_offset"][solid] * vs, 0.0)
        # Which of them only the truncation band behind a seen surface puts there
        # (behind_xy): stray points, and voxels without a measured point behind the zero
        # level (sdf < 0) and without it next to them, with a surface point within reach.
        sel = np.flatnonzero(keep)
        surface = trusted[sel] | (sdf_s[sel] >= 0)
        ask = ~surface & ~was_hit[sel]
        surface[ask] = semantic_map.zero_crossing(solid[sel[ask]])
        # A voxel without a measured point stands at its column's centre in xy; where a
        # surface voxel of the same column stands there too, the point is an obstacle
        # point anyway and needs no search.
        col = arr["coords"][solid[sel], 0] * (1 << 32) + arr["coords"][solid[sel], 1]
        ask = ~surface & ~(~was_hit[sel] & np.isin(col, col[surface & ~was_hit[sel]]))
        behind = np.zeros(len(solid), bool)
        behind[sel[ask]] = _near_surface(pts3[sel[ask]], pts3[sel[surface]], _behind_reach_m(semantic_map))
        obs = (pts3[keep & ~behind, :2], cell[keep & ~behind])
        beh = (pts3[keep & behind, :2], cell[keep & behind])
    floor_surface = (np.abs(sdf_c) < vs) & ((z < z_min_m) | is_floor)
    _splat(grid.free, grid.world_to_cell(centres[cand[floor_surface], :2]))
    if len(free_pts):
        # Only coarse cells low in the band: a ray that grazed a bed top or a sofa seat from
        # a camera just above it proves the space over it free, not the column down to the
        # floor (the coarse cell it crossed also holds the top of the mattress).
        band = (free_pts[:, 2] + fv / 2 >= z_min_m) & (free_pts[:, 2] - fv / 2 <= z_min_m + c.free_low_m)
        fp = free_pts[band]
        # A coarse cell covers several fine cells: mark all of them.
        k = max(1, int(round(fv / resolution_m)))
        offs = (np.arange(k) - (k - 1) / 2) * resolution_m
        ox, oy = np.meshgrid(offs, offs)
        sub = fp[:, None, :2] + np.stack([ox.ravel(), oy.ravel()], axis=1)[None]
        _splat(grid.free, grid.world_to_cell(sub.reshape(-1, 2)))
    if c.free_column_top_m is not None:
        # Floor and free space so far; the cells a camera stood over (below) stay free.
        grid.free &= _known_columns(
            grid,
            free_pts,
            centres[every][weight > 0],
            fv,
            z_min_m,
            min(z_max_m, c.free_column_top_m),
            int(round(c.free_column_gap_m / fv)),
        )
    if c.traversed_radius_m > 0 and len(cams):
        k = ratio_count(c.traversed_radius_m, resolution_m)
        dr, dc = np.mgrid[-k : k + 1, -k : k + 1]
        disc = (dr * dr + dc * dc) * resolution_m**2 <= c.traversed_radius_m**2
        offs = np.stack([dr[disc], dc[disc]], axis=1)
        cams_rc = grid.world_to_cell(cams[:, :2])
        _splat(grid.free, (cams_rc[:, None, :] + offs[None]).reshape(-1, 2))
    grid.free &= ~grid.occupied
    return obs, beh


def _behind_reach_m(semantic_map: SemanticMap) -> float:
    """How far a surface point makes a solid voxel's point one behind that surface."""
    return semantic_map.config.truncation_m + 0.5 * np.sqrt(3.0) * semantic_map.voxel_size_m


# The per-voxel inputs of ``project_map_2d``; a row whose values differ from the last
# update's (or a new row) dirties its grid cell.
_WATCHED = ("tsdf", "weight", "hits", "hit_offset", "class_weight", "log_evidence")


def _reach_cells(semantic_map: SemanticMap, c: ProjectionConfig, free_voxel_size_m: float) -> int:
    """Cells within which a change of the map's inputs can change a cell of
    ``project_map_2d``: the 3 x 3 outlier rule, the reach of the behind-surface search
    (points sit up to half a voxel off their voxel's cell), a coarse free-space cell's
    span and the traversed disc, plus a cell of rounding."""
    res = c.resolution_m
    reach = 1
    if c.obstacle_points:
        # a voxel's keep needs its cell's occupancy (1), the surface points within reach
        # (their voxels' cells), whose own keep needs their cells' occupancy (1).
        reach = 2 + int(np.ceil((_behind_reach_m(semantic_map) + semantic_map.voxel_size_m) / res)) + 1
    reach = max(reach, int(np.ceil(free_voxel_size_m / res)) + 1)
    if c.traversed_radius_m > 0:
        reach = max(reach, ratio_count(c.traversed_radius_m, res) + 1)
    return reach + 1


def _band_moved_only(a: ProjectionConfig, b: ProjectionConfig) -> bool:
    """Whether two settings differ at most in the height band (a new floor estimate)."""
    from dataclasses import replace

    return replace(b, z_min_m=a.z_min_m, z_max_m=a.z_max_m, free_column_top_m=a.free_column_top_m) == a


class IncrementalGrid:
    """``project_map_2d`` of a map that grows, recomputed over the cells that changed.

    Each ``update(map)`` compares the map's per-voxel inputs (tsdf, weight, hits, hit
    offsets, class evidence), its free-space cells and camera positions with a snapshot of
    the last update (one vectorised pass, ``changed_rows``), marks the grid cells of what
    changed, and recomputes the cells within ``_reach_cells`` of those from the inputs
    within the same reach of them; the other cells keep their values. The result equals
    ``project_map_2d(map, config, bounds_xy=...)`` of the same map. Everything the
    projection reads is compared, so the map may be the same object or a copy of it (a
    snapshot taken for a worker thread). A moved grid origin (the map grew towards -x or
    -y), rows that changed their voxel (another map), other map settings, a change of
    settings other than the height band, or free-space cells or camera positions that
    vanished make a full rebuild; a grid grown towards +x / +y and a moved height band (a
    new floor estimate) recompute only what they touch.

    Attributes:
        config: the projection settings of the last update.
        last_cells: cells recomputed by the last update (all on a full rebuild).
        last_full: whether the last update was a full rebuild.
    """

    def __init__(self, config: ProjectionConfig | None = None) -> None:
        self.config = ProjectionConfig() if config is None else config
        _check_projection(self.config)
        self.last_cells = 0
        self.last_full = True
        self.reset()

    def reset(self) -> None:
        """Forget the cached grid: the next update is a full rebuild."""
        self._grid: Grid2D | None = None
        self._map_config = None
        self._snap = RowSnapshot(_WATCHED)
        self._coords = np.zeros((0, 3), np.int64)
        self._free = np.zeros((0, 3))
        self._cams = np.zeros((0, 3))
        self._obs = (np.zeros((0, 2)), np.zeros(0, np.int64))
        self._beh = (np.zeros((0, 2)), np.zeros(0, np.int64))
        # Flat grid cell of each row and free cell (-1 outside) for the cached grid.
        self._row_cell = np.zeros(0, np.int64)
        self._free_cell = np.zeros(0, np.int64)

    def update(self, semantic_map: SemanticMap, config: ProjectionConfig | None = None, bounds_xy=None) -> Grid2D:
        """The grid of ``project_map_2d(semantic_map, config, bounds_xy=bounds_xy)``, a new
        ``Grid2D`` (arrays not shared with earlier results).

        Args:
            semantic_map: the map.
            config: the settings; None keeps the last ones.
            bounds_xy: (x0, y0, x1, y1) world metres; None: the map's extent; or a
                callable that maps the map's own bounds (``real3d.scene.extent.map_bounds_xy``
                at the config's resolution) to the grid's.

        Raises:
            InputError: not a SemanticMap, or inconsistent settings.
        """
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"IncrementalGrid.update: expected a SemanticMap, got {type(semantic_map).__name__}")
        old_cfg = self.config
        if config is not None:
            if not isinstance(config, ProjectionConfig):
                raise InputError(f"IncrementalGrid.update: expected a ProjectionConfig, got {type(config).__name__}")
            _check_projection(config)
            self.config = config
        c = self.config
        arr = semantic_map.voxel_arrays()
        coords = arr["coords"]
        n = len(coords)
        centres = (coords + 0.5) * semantic_map.voxel_size_m
        free_pts, fv = semantic_map.free_cells()
        cams = _cameras(semantic_map)
        if bounds_xy is None or callable(bounds_xy):
            own = _default_bounds(centres, free_pts, c.resolution_m)
            bounds_xy = own if bounds_xy is None else bounds_xy(own)
        fresh = _empty_grid(bounds_xy, c)
        h, w = fresh.shape
        old = self._grid
        n_old, m_old = len(self._coords), len(self._free)
        full = (
            old is None
            or self._map_config != semantic_map.config
            or (old_cfg != c and not _band_moved_only(old_cfg, c))
            or old.origin_xy != fresh.origin_xy
            or old.shape[0] > h
            or old.shape[1] > w
            or n < n_old
            or len(free_pts) < m_old
            or len(cams) < len(self._cams)
            or not np.array_equal(coords[:n_old], self._coords)
            or not np.array_equal(free_pts[:m_old], self._free)
            or not np.array_equal(cams[: len(self._cams)], self._cams)
        )
        if not full and old_cfg != c:
            # The band moved: only what lies between the old and the new thresholds
            # changes side, as long as the coarse column levels stay the same.
            full = _column_levels(old_cfg, fv) != _column_levels(c, fv)
        # Flat cells of rows and free cells, kept while the grid's layout stays.
        if not full and old.shape == (h, w):
            row_cell = np.concatenate([self._row_cell, _flat_cells(fresh, centres[n_old:])])
            free_cell = np.concatenate([self._free_cell, _flat_cells(fresh, free_pts[m_old:])])
        else:
            row_cell, free_cell = _flat_cells(fresh, centres), _flat_cells(fresh, free_pts)
        if full:
            dirty = np.ones((h, w), bool)
        else:
            dirty = np.zeros((h, w), bool)
            dirty[old.shape[0] :, :] = True
            dirty[:, old.shape[1] :] = True
            changed = self._snap.changed(arr)
            new_free = np.zeros(len(free_pts), bool)
            new_free[m_old:] = True
            if old_cfg != c:
                z = centres[:, 2]
                for lo, hi in ((old_cfg.z_min_m, c.z_min_m), (old_cfg.z_max_m, c.z_max_m)):
                    changed |= (z >= min(lo, hi)) & (z <= max(lo, hi))
                zf = free_pts[:, 2]
                for lo, hi in (
                    (old_cfg.z_min_m, c.z_min_m),
                    (old_cfg.z_min_m + old_cfg.free_low_m, c.z_min_m + c.free_low_m),
                ):
                    for zz in (zf + fv / 2, zf - fv / 2):
                        new_free |= (zz >= min(lo, hi)) & (zz <= max(lo, hi))
            flat = dirty.ravel()
            for cells in (row_cell[changed], free_cell[new_free]):
                flat[cells[cells >= 0]] = True
            _splat(dirty, fresh.world_to_cell(cams[len(self._cams) :, :2]))
        reach = _reach_cells(semantic_map, c, fv)
        redo = dirty if full else grow_cells(dirty, reach)
        self.last_full, self.last_cells = bool(full), int(redo.sum())
        if full:
            obs, beh = _fill(fresh, semantic_map, c, arr, centres, None, free_pts, fv, cams)
            grid = fresh
        else:
            grid = Grid2D(
                np.zeros((h, w), bool),
                np.zeros((h, w), bool),
                fresh.origin_xy,
                c.resolution_m,
                c.z_min_m,
                c.z_max_m,
                top_z_m=np.full((h, w), np.nan, np.float32),
                bottom_z_m=np.full((h, w), np.nan, np.float32),
            )
            oh, ow = old.shape
            for name in ("occupied", "free", "top_z_m", "bottom_z_m"):
                getattr(grid, name)[:oh, :ow] = getattr(old, name)
            obs, beh = self._obs, self._beh
            if redo.any():
                near = grow_cells(redo, reach).ravel()
                rows = np.flatnonzero((row_cell >= 0) & near[row_cell])
                free_sel = free_pts[(free_cell >= 0) & near[free_cell]]
                cam_sel = cams[_in_mask(fresh, near.reshape(h, w), cams)]
                new_obs, new_beh = _fill(fresh, semantic_map, c, arr, centres, rows, free_sel, fv, cam_sel)
                for name in ("occupied", "free", "top_z_m", "bottom_z_m"):
                    getattr(grid, name)[redo] = getattr(fresh, name)[redo]
                flat = redo.ravel()
                # Cached points keep their cells' flat index in the old shape.
                obs = _merge_points(obs, new_obs, flat, ow, w)
                beh = _merge_points(beh, new_beh, flat, ow, w)
        if c.obstacle_points:
            x0, y0 = grid.origin_xy
            grid.obstacle_xy = _per_cm(obs[0], x0, y0)
            grid.behind_xy = _per_cm(beh[0], x0, y0)
        self._grid = grid
        self._map_config = semantic_map.config
        self._snap.take(arr, None if full else changed)
        self._coords = coords
        self._free = free_pts
        self._cams = cams
        self._row_cell, self._free_cell = row_cell, free_cell
        self._obs, self._beh = obs, beh
        return _copy_grid(grid)


def grow_cells(mask: np.ndarray, cells: int) -> np.ndarray:
    """(H, W) bool: the cells within ``cells`` (Chebyshev distance) of a True cell of
    ``mask`` (a square dilation; outside the grid counts as False)."""
    if cells <= 0 or not mask.any():
        return mask.copy()
    return ndimage.maximum_filter(mask, size=2 * cells + 1, mode="constant", cval=False)


class RowSnapshot:
    """Copies of per-row map arrays (``SemanticMap.voxel_arrays`` keys), brought up to date
    row by row: ``changed`` says which rows differ from the copies (and which are new),
    ``take`` copies those rows only."""

    def __init__(self, keys) -> None:
        self.keys = tuple(keys)
        self.n = 0
        self._buf: dict[str, np.ndarray] = {}

    def view(self) -> dict[str, np.ndarray]:
        return {k: b[: self.n] for k, b in self._buf.items()}

    def changed(self, arrays: dict) -> np.ndarray:
        """(N,) bool: rows of ``arrays`` that differ from the copies, or are new."""
        return changed_rows(arrays, self.view(), self.keys)

    def take(self, arrays: dict, changed: np.ndarray | None = None) -> None:
        """Copy the rows ``changed`` (``changed`` gave it; None: all rows, anew)."""
        n = len(arrays[self.keys[0]])
        if changed is None or not self._buf:
            self._buf = {k: arrays[k].copy() for k in self.keys}
            self.n = n
            return
        old = self.n
        rows = np.flatnonzero(changed[:old])
        for k in self.keys:
            buf, a = self._buf[k], arrays[k]
            if len(buf) < n:
                grown = np.empty((max(n, int(1.5 * len(buf))), *buf.shape[1:]), buf.dtype)
                grown[:old] = buf[:old]
                self._buf[k] = buf = grown
            buf[rows] = a[rows]
            buf[old:n] = a[old:n]
        self.n = n


def changed_rows(arrays: dict, snapshot: dict, keys) -> np.ndarray:
    """(N,) bool: map rows whose values under ``keys`` differ between ``arrays`` (as
    ``SemanticMap.voxel_arrays`` gives, N rows) and ``snapshot`` (the same keys, a prefix of
    the rows), and the rows beyond the snapshot. Bit-wise: a NaN equals itself."""
    n = len(next(iter(arrays.values())))
    out = np.zeros(n, bool)
    n_old = len(snapshot[keys[0]]) if keys else 0
    out[n_old:] = True
    for k in keys:
        a, b = arrays[k][:n_old], snapshot[k]
        per = int(np.prod(a.shape[1:], dtype=np.int64))
        ai = np.ascontiguousarray(a).view(_uint_of(a.dtype)).ravel()
        bi = np.ascontiguousarray(b).view(_uint_of(b.dtype)).ravel()
        out[np.flatnonzero(ai != bi) // per] = True
    return out


def _uint_of(dtype) -> np.dtype:
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


def _flat_cells(grid: Grid2D, pts: np.ndarray) -> np.ndarray:
    """(N,) int64 flat cell index of world points (N, >= 2) in ``grid``; -1 outside."""
    if not len(pts):
        return np.zeros(0, np.int64)
    rc = grid.world_to_cell(pts[:, :2])
    ok = grid.inside(rc)
    return np.where(ok, rc[:, 0] * grid.shape[1] + rc[:, 1], -1)


def _column_levels(c: ProjectionConfig, fv: float) -> tuple | None:
    """The coarse levels ``_known_columns`` spans for these settings (None: unused)."""
    if c.free_column_top_m is None:
        return None
    lv0 = ratio_count(c.z_min_m, fv, "floor")
    return lv0, max(lv0, ratio_count(min(c.z_max_m, c.free_column_top_m), fv) - 1)


def _in_mask(grid: Grid2D, mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N,) bool: world points (N, >= 2) whose cell lies inside ``grid`` and in ``mask``."""
    rc = grid.world_to_cell(pts[:, :2]) if len(pts) else np.zeros((0, 2), np.int64)
    ok = grid.inside(rc)
    ok[ok] = mask[rc[ok, 0], rc[ok, 1]]
    return ok


def _merge_points(cached, new, redo_flat: np.ndarray, old_w: int, w: int):
    """Cached (xy, flat cell) points outside the recomputed cells plus the new ones inside
    them; flat cells of the old width ``old_w`` are renumbered to width ``w``."""
    xy, cell = cached
    if old_w != w:
        cell = (cell // old_w) * w + cell % old_w
    keep = ~redo_flat[cell]
    take = redo_flat[new[1]]
    return np.concatenate([xy[keep], new[0][take]]), np.concatenate([cell[keep], new[1][take]])


def _copy_grid(g: Grid2D) -> Grid2D:
    def cp(a):
        return None if a is None else a.copy()

    return Grid2D(
        g.occupied.copy(),
        g.free.copy(),
        g.origin_xy,
        g.resolution_m,
        g.z_min_m,
        g.z_max_m,
        cp(g.obstacle_xy),
        cp(g.behind_xy),
        cp(g.top_z_m),
        cp(g.bottom_z_m),
    )
