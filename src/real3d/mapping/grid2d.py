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
_STRUCTURE = [NYU13.index(n) for n in ("floor", "wall", "ceiling", "window")]


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
    c = config
    resolution_m, z_min_m, z_max_m = c.resolution_m, c.z_min_m, c.z_max_m
    free_low_m, free_column_top_m, free_column_gap_m = c.free_low_m, c.free_column_top_m, c.free_column_gap_m
    min_weight, min_hit_ratio, min_column_voxels = c.min_weight, c.min_hit_ratio, c.min_column_voxels
    floor_label, traversed_radius_m, obstacle_points = c.floor_label, c.traversed_radius_m, c.obstacle_points
    if free_column_gap_m < 0 or (free_column_top_m is not None and not free_column_top_m > z_min_m):
        raise InputError(
            f"project_map_2d: need free_column_gap_m >= 0 and free_column_top_m > z_min_m, got "
            f"{free_column_gap_m} and {free_column_top_m} (z_min_m {z_min_m})"
        )
    if not free_low_m >= 0:
        raise InputError(f"project_map_2d: expected free_low_m >= 0, got {free_low_m}")
    if resolution_m <= 0 or not z_max_m > z_min_m:
        raise InputError(
            f"project_map_2d: need resolution_m > 0 and z_max_m > z_min_m, got {resolution_m}, [{z_min_m}, {z_max_m}]"
        )
    arr = semantic_map.voxel_arrays()
    vs = semantic_map.voxel_size_m
    trunc = semantic_map.config.truncation_m
    centres = (arr["coords"] + 0.5) * vs
    free_pts, fv = semantic_map.free_cells()
    if bounds_xy is None:
        allxy = np.concatenate([centres[:, :2], free_pts[:, :2]]) if len(free_pts) else centres[:, :2]
        if len(allxy) == 0:
            allxy = np.zeros((1, 2))
        lo = np.floor(allxy.min(axis=0) / resolution_m) * resolution_m - 2 * resolution_m
        hi = allxy.max(axis=0) + 2 * resolution_m
        bounds_xy = (lo[0], lo[1], hi[0], hi[1])
    x0, y0, x1, y1 = (float(b) for b in bounds_xy)
    w = max(1, ratio_count(x1 - x0, resolution_m))
    h = max(1, ratio_count(y1 - y0, resolution_m))
    grid = Grid2D(np.zeros((h, w), bool), np.zeros((h, w), bool), (x0, y0), resolution_m, z_min_m, z_max_m)

    sdf = arr["tsdf"] * trunc
    # Only voxels that can matter: observed and on or behind a surface.
    hits = arr["hits"]  # frames whose measured points fell in this voxel
    # Thin things (leaves, chair legs) average to "free" in a TSDF because views through
    # their gaps outweigh the views that hit them; a voxel hit in a good share of the frames
    # that saw it counts as solid too.
    hit_solid = (hits >= 2) & (hits >= min_hit_ratio * arr["weight"])
    cand = np.flatnonzero(((arr["weight"] >= min_weight) & (sdf < vs)) | hit_solid)
    sdf_c, z = sdf[cand], centres[cand, 2]
    is_floor = np.zeros(len(cand), bool)
    is_structure = np.zeros(len(cand), bool)
    has_cls = arr["class_weight"][cand] > 0
    if has_cls.any():
        lab = np.argmax(arr["log_evidence"][cand[has_cls], 1:], axis=1) + 1
        is_floor[has_cls] = lab == floor_label
        is_structure[has_cls] = np.isin(lab, _STRUCTURE)
    # The hit rule is for thin things; walls and floors are large surfaces whose TSDF is
    # reliable, and hits in front of them would only thicken them by a voxel.
    thin = hit_solid[cand] & ~is_structure
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
    grid.occupied |= (counts >= min_column_voxels) | (any_ & (nb >= 1.5))
    # Height range of each occupied column (thin tall obstacles, see the costmap).
    zs = centres[solid, 2].astype(np.float32)
    top = np.full(h * w, -np.inf, np.float32)
    bottom = np.full(h * w, np.inf, np.float32)
    np.maximum.at(top, cell, zs)
    np.minimum.at(bottom, cell, zs)
    grid.top_z_m = np.where(grid.occupied, top.reshape(h, w), np.float32(np.nan))
    grid.bottom_z_m = np.where(grid.occupied, bottom.reshape(h, w), np.float32(np.nan))
    if obstacle_points:
        # Where in its cell each obstacle is: the mean measured points of the voxels that
        # were hit; in a cell without any, the centres of its solid voxels. One entry per
        # 1 cm in xy.
        sdf_s = sdf[solid]
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
        behind[sel[ask]] = _near_surface(pts3[sel[ask]], pts3[sel[surface]], trunc + 0.5 * np.sqrt(3.0) * vs)
        grid.obstacle_xy = _per_cm(pts3[keep & ~behind, :2], x0, y0)
        grid.behind_xy = _per_cm(pts3[keep & behind, :2], x0, y0)
    floor_surface = (np.abs(sdf_c) < vs) & ((z < z_min_m) | is_floor)
    _splat(grid.free, grid.world_to_cell(centres[cand[floor_surface], :2]))
    if len(free_pts):
        # Only coarse cells low in the band: a ray that grazed a bed top or a sofa seat from
        # a camera just above it proves the space over it free, not the column down to the
        # floor (the coarse cell it crossed also holds the top of the mattress).
        band = (free_pts[:, 2] + fv / 2 >= z_min_m) & (free_pts[:, 2] - fv / 2 <= z_min_m + free_low_m)
        fp = free_pts[band]
        # A coarse cell covers several fine cells: mark all of them.
        k = max(1, int(round(fv / resolution_m)))
        offs = (np.arange(k) - (k - 1) / 2) * resolution_m
        ox, oy = np.meshgrid(offs, offs)
        sub = fp[:, None, :2] + np.stack([ox.ravel(), oy.ravel()], axis=1)[None]
        _splat(grid.free, grid.world_to_cell(sub.reshape(-1, 2)))
    if free_column_top_m is not None:
        # Floor and free space so far; the cells a camera stood over (below) stay free.
        grid.free &= _known_columns(
            grid,
            free_pts,
            centres[arr["weight"] > 0],
            fv,
            z_min_m,
            min(z_max_m, free_column_top_m),
            int(round(free_column_gap_m / fv)),
        )
    if traversed_radius_m > 0 and semantic_map.frames_integrated:
        k = ratio_count(traversed_radius_m, resolution_m)
        dr, dc = np.mgrid[-k : k + 1, -k : k + 1]
        disc = (dr * dr + dc * dc) * resolution_m**2 <= traversed_radius_m**2
        offs = np.stack([dr[disc], dc[disc]], axis=1)
        cams = grid.world_to_cell(semantic_map.camera_positions[:, :2])
        _splat(grid.free, (cams[:, None, :] + offs[None]).reshape(-1, 2))
    grid.free &= ~grid.occupied
    return grid
