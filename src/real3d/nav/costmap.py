"""2D costmap: lethal obstacles inflated by the robot radius, a soft cost band around them,
unknown space kept apart, and an optional layer of scene-graph object boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from real3d.core.counts import ratio_count
from real3d.core.errors import InputError, describe_array
from real3d.mapping.grid2d import Grid2D, ProjectionConfig, grow_cells, project_map_2d
from real3d.mapping.semantic_map import SemanticMap
from real3d.scene.roles import roles_for

LETHAL = np.float32(np.inf)
FOOTPRINT_PAD_M = 0.1
"""Where a plan starts, the unknown cells within ``robot_radius_m`` plus this count as free
(``Costmap.with_free_footprint``): the body and a little slack for the pose's error."""


@dataclass(frozen=True)
class CostmapConfig:
    """Parameters of ``build_costmap`` (metres).

    Attributes:
        resolution_m: cell edge.
        robot_radius_m: cells closer than this to an obstacle are lethal.
        safety_margin_m: padding beyond the robot radius for map and path discretisation.
        margin_cost: added cost of free cells inside that padding: high but finite
            (default), so the planner keeps out of it where it can yet still passes a
            doorway the map draws a few centimetres too narrow; ``inf`` makes the padding
            lethal too.
        behind_cost: added cost of free cells within ``robot_radius_m`` of the space behind
            a seen surface only (``Grid2D.behind_xy``: the TSDF's truncation band, solid
            up to 15 cm behind a surface no frame saw from the other side) but not of an
            obstacle the camera showed. That space is the inside of a thick object or
            nothing behind a thin one (a chair back seen from the front); the map cannot
            tell which. Far above ``margin_cost``, so that the planner goes round where
            it can, but finite, so that a passage behind a thin thing stays open; ``inf``
            makes it lethal.
        inflation_m: beyond the lethal zone the cost decays over this distance.
        inflation_weight: extra cost per cell right at the lethal boundary (decays to 0).
        unknown_cost: cost of unknown cells; ``inf`` keeps the planner out of them.
        unknown_margin_m, unknown_margin_cost: free cells closer than ``unknown_margin_m``
            to unknown space (the robot's body, or the cell-sized uncertainty of where the
            seen space ends, would reach into space nobody saw) cost ``unknown_margin_cost``
            more at that distance, up to 1.5 times that right at the unknown edge. Below
            ``margin_cost``: an obstacle the map has measured is surer than one that unseen
            space may hide. 0 disables.
        unknown_body_cost: free cells closer than r_margin = robot_radius_m +
            safety_margin_m to unknown space (the body itself, give or take a cell, would
            sweep unseen cells, where a chair under a table may stand) cost
            ``2 * unknown_body_cost * (1 - d / r_margin)`` more on top, so that a path along
            the edge of the seen space pays far more than one a body's width in. 0 disables.
        unknown_hole_m2: unknown groups of cells no larger than this (0.03 m^2: 12 cells of
            5 cm) and enclosed by the grid are holes in seen space, not space nobody saw:
            they stay lethal but get neither zone above. 0 disables.
        z_min_m, z_max_m: the robot's height band above the floor. The bottom, 5 cm, is the
            lowest thing the robot cannot drive over (an office chair's star base).
        traversed_radius_m: cells this close to where a camera was (on the floor plane)
            are free unless the map says occupied (see ``project_map_2d``); 0 disables.
        free_column_top_m: observed floor or low free space frees a cell only where the
            map knows the column above it up to this height above the floor (see
            ``project_map_2d``): a table top a low camera never saw must not be driven
            under. 1 m covers tables, desks and counters; None disables.
        free_column_gap_m: the longest unknown stretch such a column may have below its
            known top (free space is carved along sparse rays).
        free_low_m: observed free space frees a cell only through coarse free-space cells
            that start at most this far above the band's bottom (see ``project_map_2d``).
            Rays that skim over a low object whose top the sensor never returned (a bag
            seen at a grazing angle) cross the coarse cell that also holds that top: with
            the band's bottom at 0.1 m, 0.2 m here let the inside of such a bag be free.
            0.1 m over the band's 5 cm bottom keeps the two lowest 10 cm cells (up to 0.2 m
            above the floor) whichever way the floor estimate errs by a few millimetres.
        overhang_m, thin_extent_m, thin_bottom_m, thin_top_m: an obstacle whose footprint
            (a connected group of occupied cells) spans at most ``thin_extent_m`` and that
            rises from within ``thin_bottom_m`` of the band's bottom to at least
            ``thin_top_m`` above it is a pole (a floor lamp, a coat stand, a plant stem)
            whose top a low camera may never have seen: what it carries up there (a lamp
            shade) may reach ``overhang_m`` out. Free cells within ``robot_radius_m +
            overhang_m`` of it cost from ``margin_cost`` at that distance up to twice that
            next to it (high but finite, like the margin). ``overhang_m=0`` disables.
        object_layer: let ``build_costmap`` add the boxes of its ``objects`` (below).
        object_cost, object_margin_m: free cells within ``robot_radius_m +
            object_margin_m`` of the footprint of a scene-graph object box that reaches into
            the height band (the ``objects`` of ``build_costmap``) cost ``object_cost``
            more at that distance, up to twice that on the footprint. The boxes
            stand for whole objects, parts of which the camera may never have measured (a
            lamp shade above a low camera's view, the far side of a bag). High but finite,
            like the margin, so that a box grown too large or turned wrong slows the
            planner instead of closing a passage; ``inf`` makes the zone lethal.
        max_extent_m, max_cells: the largest grid ``build_costmap`` makes (longest side,
            metres; cells). A map whose bounds exceed either (a voxel cluster far away, from
            a bad pose) gets a costmap of a window that size around the camera instead of
            one over its whole bounds (``Costmap.cropped_from_xy`` says so).
        label_set: the label set of the map's class ids (``"nyu13"`` or ``"warehouse"``):
            which class is the floor (never an obstacle) and which are structure
            (``real3d.scene.roles``).
    """

    resolution_m: float = 0.05
    robot_radius_m: float = 0.2
    safety_margin_m: float = 0.05
    margin_cost: float = 200.0
    behind_cost: float = 1000.0
    inflation_m: float = 0.3
    inflation_weight: float = 4.0
    unknown_cost: float = float("inf")
    unknown_margin_m: float = 0.3
    unknown_margin_cost: float = 100.0
    unknown_body_cost: float = 100.0
    unknown_hole_m2: float = 0.03
    z_min_m: float = 0.05
    z_max_m: float = 1.5
    traversed_radius_m: float = 0.2
    free_column_top_m: float | None = 1.0
    free_column_gap_m: float = 0.2
    free_low_m: float = 0.1
    overhang_m: float = 0.25
    thin_extent_m: float = 0.25
    thin_bottom_m: float = 0.2
    thin_top_m: float = 0.4
    object_layer: bool = True
    object_cost: float = 25.0
    object_margin_m: float = 0.1
    max_extent_m: float = 100.0
    max_cells: int = 4_000_000
    label_set: str = "nyu13"

    def projection(self, floor_z_m: float = 0.0) -> ProjectionConfig:
        """The ``project_map_2d`` settings of this costmap over a floor at ``floor_z_m``:
        the height band and the free-space rules, in world heights."""
        roles = roles_for(self.label_set)
        return ProjectionConfig(
            floor_label=roles.floor_id,
            structure_labels=tuple(sorted(roles.structure_ids)),
            resolution_m=self.resolution_m,
            z_min_m=floor_z_m + self.z_min_m,
            z_max_m=floor_z_m + self.z_max_m,
            traversed_radius_m=self.traversed_radius_m,
            free_low_m=self.free_low_m,
            free_column_gap_m=self.free_column_gap_m,
            free_column_top_m=None if self.free_column_top_m is None else floor_z_m + self.free_column_top_m,
        )


@dataclass
class Costmap:
    """Per-cell traversal cost (>= 1, ``inf`` = lethal) on a ``Grid2D`` layout.

    Attributes:
        cost: (H, W) float32.
        grid: the occupied/free/unknown grid it came from.
        obstacle_distance_m: (H, W) float32 distance to the nearest obstacle: to the
            nearest occupied cell's centre, or near obstacles to the nearest measured
            obstacle point when the grid carries them (``Grid2D.obstacle_xy``).
        cropped_from_xy: the map's own (x0, y0, x1, y1) bounds, world metres, when the
            grid covers only a window of them (``CostmapConfig.max_extent_m``); else None.
    """

    cost: np.ndarray
    grid: Grid2D
    obstacle_distance_m: np.ndarray
    config: CostmapConfig
    cropped_from_xy: tuple | None = None

    @property
    def resolution_m(self) -> float:
        return self.grid.resolution_m

    @property
    def lethal(self) -> np.ndarray:
        return ~np.isfinite(self.cost)

    def world_to_cell(self, xy) -> np.ndarray:
        return self.grid.world_to_cell(xy)

    def with_free_footprint(self, xy: ArrayLike, radius_m: float | None = None) -> Costmap:
        """A new costmap (``cost`` copied, the rest shared) in which the unknown cells within
        ``radius_m`` of world ``xy`` (metres) are free, cost 1; this one is unchanged.

        The camera never sees the floor under the robot, so the start is usually unknown; the
        robot standing there is evidence that it is free. Occupied cells, and cells within
        ``robot_radius_m + safety_margin_m`` of an obstacle, keep their cost. ``radius_m``
        None: ``config.robot_radius_m + FOOTPRINT_PAD_M``."""
        if radius_m is None:
            radius_m = self.config.robot_radius_m + FOOTPRINT_PAD_M
        out = Costmap(self.cost.copy(), self.grid, self.obstacle_distance_m, self.config, self.cropped_from_xy)
        _free_footprint(out, xy, radius_m)
        return out

    def cell_to_world(self, rc) -> np.ndarray:
        return self.grid.cell_to_world(rc)


def _refine_distance(
    grid: Grid2D, dist: np.ndarray, config: CostmapConfig, points: np.ndarray, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from free cell centres to the nearest obstacle point (``points``, e.g.
    ``grid.obstacle_xy``) instead of the nearest occupied cell's centre, where they shape
    the cost: a surface anywhere in a 5 cm cell moves the lethal edge by up to half a cell
    either way. Returns those distances, and the same counting the ``extra`` points too
    (the first again when there are none)."""
    from scipy.spatial import cKDTree

    res = grid.resolution_m
    cap = config.robot_radius_m + config.safety_margin_m + config.inflation_m + 2 * res
    rc = np.argwhere((dist < cap) & ~grid.occupied)
    if not len(rc) or not len(points):
        return dist, dist
    xy = grid.cell_to_world(rc)
    d, _ = cKDTree(points).query(xy, distance_upper_bound=cap + res)
    out = dist.copy()
    # A cell whose nearest point lies beyond the bound keeps its cell-centre distance.
    out[rc[:, 0], rc[:, 1]] = np.where(np.isfinite(d), d, out[rc[:, 0], rc[:, 1]]).astype(np.float32)
    if extra is None or not len(extra):
        return out, out
    d2, _ = cKDTree(extra).query(xy, distance_upper_bound=cap + res)
    both = out.copy()
    both[rc[:, 0], rc[:, 1]] = np.minimum(out[rc[:, 0], rc[:, 1]], d2).astype(np.float32)
    return out, both


def _box_distance(grid: Grid2D, boxes, reach_m: float, patch=None) -> np.ndarray:
    """(H, W) float32 distance from each cell centre to the nearest footprint of ``boxes``
    (``Box3D``; 0 inside one), inf where none lies within ``reach_m``. ``patch(grid, box,
    reach_m)``: ``_box_patch`` (default) or a cached form of it."""
    out = np.full(grid.shape, np.inf, np.float32)
    for box in boxes:
        r0, r1, c0, c1, d = (patch or _box_patch)(grid, box, reach_m)
        if d is not None:
            out[r0:r1, c0:c1] = np.minimum(out[r0:r1, c0:c1], d)
    return out


def _box_patch(grid: Grid2D, box, reach_m: float) -> tuple:
    """(r0, r1, c0, c1, d): the window of ``grid`` within ``reach_m`` of the box's footprint
    and the distances there (inf beyond the reach); d None when it misses the grid."""
    h, w = grid.shape
    res = grid.resolution_m
    x0, y0 = grid.origin_xy
    poly = box.footprint()
    lo = grid.world_to_cell(poly.min(axis=0) - reach_m)[0]
    hi = grid.world_to_cell(poly.max(axis=0) + reach_m)[0]
    r0, c0 = max(0, lo[0]), max(0, lo[1])
    r1, c1 = min(h, hi[0] + 1), min(w, hi[1] + 1)
    if r0 >= r1 or c0 >= c1:
        return 0, 0, 0, 0, None
    # Cell centres in the box's frame; distance to an axis-aligned rectangle there.
    dx = x0 + (np.arange(c0, c1) + 0.5) * res - box.center[0]
    dy = y0 + (np.arange(r0, r1) + 0.5) * res - box.center[1]
    c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
    u = c * dx[None, :] + s * dy[:, None]
    v = -s * dx[None, :] + c * dy[:, None]
    d = np.hypot(np.maximum(np.abs(u) - box.size[0] / 2, 0), np.maximum(np.abs(v) - box.size[1] / 2, 0))
    return r0, r1, c0, c1, np.where(d < reach_m, d, np.inf)


def _thin_tall(grid: Grid2D, config: CostmapConfig) -> np.ndarray:
    """(H, W) bool: occupied cells of poles (see ``CostmapConfig.overhang_m``); none when
    the grid carries no column heights."""
    if config.overhang_m <= 0 or grid.top_z_m is None or grid.bottom_z_m is None or not grid.occupied.any():
        return np.zeros(grid.shape, bool)
    lab, n = ndimage.label(grid.occupied, structure=np.ones((3, 3), bool))
    idx = np.arange(1, n + 1)
    extent = np.array([max(r.stop - r.start, c.stop - c.start) for r, c in ndimage.find_objects(lab)])
    top = ndimage.maximum(np.nan_to_num(grid.top_z_m, nan=-np.inf), lab, idx) - grid.z_min_m
    bottom = ndimage.minimum(np.nan_to_num(grid.bottom_z_m, nan=np.inf), lab, idx) - grid.z_min_m
    pole = (
        (extent * grid.resolution_m <= config.thin_extent_m + 1e-6)
        & (bottom <= config.thin_bottom_m)
        & (top >= config.thin_top_m)
    )
    return np.concatenate([[False], pole])[lab]


def costmap_from_grid(
    grid: Grid2D,
    config: CostmapConfig = CostmapConfig(),
    obstacle_distance_m: np.ndarray | None = None,
    object_boxes=None,
) -> Costmap:
    """Inflate a ternary grid into a costmap.

    Lethal: occupied cells and cells within robot_radius of one (Euclidean distance
    transform, refined to the measured obstacle points of ``grid.obstacle_xy`` when the
    grid carries them); cells within robot_radius of only the space behind seen surfaces
    (``grid.behind_xy``) cost ``behind_cost`` more instead; unknown cells cost
    ``unknown_cost``. Free cells cost
    ``1 + inflation_weight * exp(-3 (d - r_margin) / inflation_m)`` inside the inflation
    band (r_margin = robot_radius + safety_margin), plus, where they lie in them, the
    zones' costs, which add up: ``margin_cost`` within r_margin of an obstacle (lethal when
    it is inf); ``unknown_margin_cost * (1.5 - 0.5 d_u / unknown_margin_m)`` within
    ``unknown_margin_m`` of unknown space, plus ``2 unknown_body_cost (1 - d_u / r_margin)``
    within r_margin of it (small enclosed holes, ``unknown_hole_m2``, make neither);
    ``margin_cost * (2 - d_p / reach_p)`` within
    reach_p = robot_radius + overhang of a pole (``CostmapConfig.overhang_m``); and, for
    ``object_boxes`` (``Box3D`` of objects, e.g. scene-graph nodes), ``object_cost * (2 -
    d_b / reach_b)`` within reach_b = robot_radius + object_margin of their footprints.
    ``obstacle_distance_m`` (H, W), when given, replaces the cell-centre distance
    transform (e.g. distances to the exact obstacle outlines).
    """
    return _inflate(grid, config, obstacle_distance_m, object_boxes, _refine_distance, _box_distance)


def _inflate(grid, config, obstacle_distance_m, object_boxes, refine, box_distance) -> Costmap:
    """``costmap_from_grid`` with the obstacle-point refinement ``refine`` and the box
    distances ``box_distance`` (``_refine_distance`` and ``_box_distance``, or cached
    forms of them that give the same values)."""
    if grid.occupied.shape != grid.free.shape or grid.occupied.ndim != 2:
        raise InputError(
            f"costmap_from_grid: occupied and free must be equal (H, W) grids, got "
            f"{describe_array(grid.occupied)} and {describe_array(grid.free)}"
        )
    res = grid.resolution_m
    if obstacle_distance_m is not None:
        dist = np.asarray(obstacle_distance_m, np.float32)
        if dist.shape != grid.shape:
            raise InputError(
                f"costmap_from_grid: expected obstacle_distance_m of shape {grid.shape}, got {describe_array(dist)}"
            )
        dist_seen = dist
    else:
        dist = (ndimage.distance_transform_edt(~grid.occupied) * res).astype(np.float32)
        dist_seen = dist
        if not grid.occupied.any():
            dist[:] = np.inf
        elif grid.obstacle_xy is not None:
            # Lethal by what the camera showed (obstacle_xy); every other zone, and the
            # distances the costmap reports, also count the space behind seen surfaces.
            dist_seen, dist = refine(grid, dist, config, grid.obstacle_xy, grid.behind_xy)
    if not config.margin_cost >= 1:
        raise InputError(f"costmap_from_grid: expected margin_cost >= 1 (or inf), got {config.margin_cost}")
    if not config.behind_cost >= 1:
        raise InputError(f"costmap_from_grid: expected behind_cost >= 1 (or inf), got {config.behind_cost}")
    if not (
        config.unknown_margin_cost >= 0
        and config.unknown_margin_m >= 0
        and config.unknown_body_cost >= 0
        and config.unknown_hole_m2 >= 0
    ):
        raise InputError(
            f"costmap_from_grid: expected unknown_margin_cost, unknown_margin_m, unknown_body_cost and "
            f"unknown_hole_m2 >= 0, got {config.unknown_margin_cost}, {config.unknown_margin_m}, "
            f"{config.unknown_body_cost} and {config.unknown_hole_m2}"
        )
    r_margin = config.robot_radius_m + config.safety_margin_m
    cost = np.ones(grid.shape, np.float32)
    band = dist - r_margin
    if config.inflation_m > 0:
        soft = config.inflation_weight * np.exp(-3.0 * np.maximum(band, 0) / config.inflation_m)
        cost += np.where(band < config.inflation_m, soft, 0).astype(np.float32)
    # The zones below add up: a cell in the safety margin of one obstacle and near unknown
    # space costs more than one in either, so that inside a zone it cannot avoid (a start
    # next to unseen space) the planner still keeps clear of the others.
    in_margin = (dist < r_margin) & (dist >= config.robot_radius_m)
    cost[in_margin] += np.float32(config.margin_cost)
    unknown = ~grid.free & ~grid.occupied
    margin_on = config.unknown_margin_m > 0
    body_on = config.unknown_body_cost > 0 and r_margin > 0
    if unknown.any() and (margin_on or body_on):
        # A robot whose body reaches into unseen space may meet what is hidden there (a bed
        # the camera never saw, whose edge lies in a cell the map calls free); dearer
        # towards that space, so that within the zone the path keeps as far off as it can.
        # Small holes inside seen space (free space is carved along sparse rays, so a
        # corridor the camera crossed can keep a few unseen cells) stay unknown, hence
        # lethal, but make no zone: theirs would push paths off a corridor's middle
        # towards what the map has really measured.
        zone_src = unknown & ~_small_holes(unknown, ratio_count(config.unknown_hole_m2, res**2, "floor"))
        to_unknown = ndimage.distance_transform_edt(~zone_src) * res if zone_src.any() else np.full(grid.shape, np.inf)
        if margin_on:
            near = to_unknown < config.unknown_margin_m
            cost[near] += (
                config.unknown_margin_cost * (1.5 - 0.5 * to_unknown[near] / config.unknown_margin_m)
            ).astype(np.float32)
        if body_on:
            # Within r_margin the body itself, give or take a cell, sweeps unseen cells: a
            # path along the edge of what the camera saw (a chair under a table it never
            # saw) must pay much more there than a few cells further in.
            body = to_unknown < r_margin
            cost[body] += (config.unknown_body_cost * 2.0 * (1.0 - to_unknown[body] / r_margin)).astype(np.float32)
    poles = _thin_tall(grid, config)
    if poles.any():
        reach = config.robot_radius_m + config.overhang_m
        d_pole = (ndimage.distance_transform_edt(~poles) * res).astype(np.float32)
        near = d_pole < reach
        cost[near] += (config.margin_cost * (2.0 - d_pole[near] / reach)).astype(np.float32)
    boxes = list(object_boxes) if object_boxes is not None else []
    if boxes:
        if not (config.object_cost >= 1 and config.object_margin_m >= 0):
            raise InputError(
                f"costmap_from_grid: expected object_cost >= 1 (or inf) and object_margin_m >= 0, "
                f"got {config.object_cost} and {config.object_margin_m}"
            )
        reach = config.robot_radius_m + config.object_margin_m
        d_box = box_distance(grid, boxes, reach)
        near = np.isfinite(d_box)
        # Dearer towards the box: inside the zone the planner, and the shortcutting after
        # it, still keep as far off as they can.
        cost[near] += (config.object_cost * (2.0 - d_box[near] / reach)).astype(np.float32)
    # Within the robot radius of space behind a seen surface only: dear, not lethal.
    cost[(dist < config.robot_radius_m) & (dist_seen >= config.robot_radius_m)] += np.float32(config.behind_cost)
    cost[unknown] = np.float32(config.unknown_cost)
    cost[dist_seen < config.robot_radius_m] = LETHAL
    cost[grid.occupied] = LETHAL  # also when the robot radius is 0
    return Costmap(cost, grid, dist, config)


def _small_holes(unknown: np.ndarray, max_cells: int) -> np.ndarray:
    """(H, W) bool: the cells of 4-connected unknown groups of at most ``max_cells`` cells
    that do not touch the grid's border."""
    if max_cells < 1 or not unknown.any():
        return np.zeros_like(unknown)
    lab, n = ndimage.label(unknown)
    small = np.bincount(lab.ravel(), minlength=n + 1) <= max_cells
    small[0] = False
    small[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = False
    return small[lab]


def build_costmap(
    semantic_map: SemanticMap,
    config: CostmapConfig = CostmapConfig(),
    floor_z_m: float = 0.0,
    bounds_xy=None,
    objects=None,
    center_xy=None,
) -> Costmap:
    """Project the map's robot height band (above ``floor_z_m``) and inflate it.

    The grid covers the map's bounds, or ``bounds_xy`` (x0, y0, x1, y1) world metres. A
    map larger than ``config.max_extent_m`` / ``config.max_cells`` is cropped to a window
    of that size around ``center_xy`` ((2,) world metres; None: the map's last camera
    position), and the costmap's ``cropped_from_xy`` holds the map's own bounds.

    ``objects``: scene-graph nodes (``SceneNode``, e.g. ``SceneGraph.objects()``; nodes of
    other kinds are skipped) or ``Box3D``; those whose boxes reach into the height band
    form the object layer (``CostmapConfig.object_cost``; ``object_layer=False`` ignores
    them).

    Raises:
        InputError: ``bounds_xy`` larger than the limits, or inconsistent settings.
    """
    return _build(semantic_map, config, floor_z_m, bounds_xy, objects, center_xy, None)


class _InflationCache:
    """What ``costmap_from_grid`` computed on the last grid of an ``IncrementalCostmap``:
    the obstacle-point distances (recomputed only near changed cells and points) and the
    box distance patches (recomputed only for new boxes), both for one grid layout."""

    def __init__(self) -> None:
        self.layout = None
        self.grid: Grid2D | None = None
        self.dist: np.ndarray | None = None
        self.out: np.ndarray | None = None
        self.both: np.ndarray | None = None
        self.boxes: dict = {}
        self.last_cells = 0

    def start(self, grid: Grid2D) -> None:
        layout = (grid.origin_xy, grid.shape, grid.resolution_m)
        if layout != self.layout:
            self.layout, self.grid, self.boxes = layout, None, {}

    def box_distance(self, grid: Grid2D, boxes, reach_m: float) -> np.ndarray:
        old, self.boxes = self.boxes, {}

        def patch(grid, box, reach_m):
            key = (box.center.tobytes(), box.size.tobytes(), float(box.yaw_rad), float(reach_m))
            got = self.boxes.get(key) or old.get(key) or _box_patch(grid, box, reach_m)
            self.boxes[key] = got
            return got

        return _box_distance(grid, boxes, reach_m, patch)

    def refine(self, grid, dist, config, points, extra):
        old = self.grid
        res = grid.resolution_m
        cap = config.robot_radius_m + config.safety_margin_m + config.inflation_m + 2 * res
        plain = old is None or not len(points) or extra is None or not len(extra) or old.behind_xy is None
        if not plain:
            k = int(np.ceil((cap + res) / res)) + 2
            x0, y0 = grid.origin_xy
            moved = np.zeros(grid.shape, bool)
            for a, b in ((points, old.obstacle_xy), (extra, old.behind_xy)):
                xy = _changed_points(a, b, x0, y0)
                if len(xy):
                    _mark(moved, grid, xy)
            moved |= grid.occupied != old.occupied
            redo = grow_cells(moved, k)
            redo |= dist != self.dist
            rc = np.argwhere(redo & (dist < cap) & ~grid.occupied)
            out, both = self.out.copy(), self.both.copy()
            out[redo], both[redo] = dist[redo], dist[redo]
            self.last_cells = len(rc)
            if len(rc):
                near = grow_cells(redo, k)
                xy = grid.cell_to_world(rc)
                p_sel, e_sel = points[_inside_mask(grid, near, points)], extra[_inside_mask(grid, near, extra)]
                r, c = rc[:, 0], rc[:, 1]
                if len(p_sel):
                    from scipy.spatial import cKDTree

                    d, _ = cKDTree(p_sel).query(xy, distance_upper_bound=cap + res)
                    out[r, c] = np.where(np.isfinite(d), d, out[r, c]).astype(np.float32)
                both[r, c] = out[r, c]
                if len(e_sel):
                    from scipy.spatial import cKDTree

                    d2, _ = cKDTree(e_sel).query(xy, distance_upper_bound=cap + res)
                    both[r, c] = np.minimum(out[r, c], d2).astype(np.float32)
        else:
            out, both = _refine_distance(grid, dist, config, points, extra)
            self.last_cells = int(((dist < cap) & ~grid.occupied).sum())
            if out is dist or both is out or not len(points) or extra is None or not len(extra):
                # The plain path's special cases: nothing to keep for the next call.
                self.grid = None
                return out, both
        # Copies: the caller owns the grid it gets back inside the costmap.
        kept = Grid2D(grid.occupied.copy(), grid.free, grid.origin_xy, grid.resolution_m, grid.z_min_m, grid.z_max_m)
        kept.obstacle_xy, kept.behind_xy = points.copy(), extra.copy()
        self.grid, self.dist, self.out, self.both = kept, dist.copy(), out, both
        return out.copy(), both.copy()


def _changed_points(a: np.ndarray, b: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """(K, 2) the points of ``a`` not in ``b`` and of ``b`` not in ``a`` (both as
    ``_per_cm`` gives them over a grid at (x0, y0))."""
    o = np.array([x0 - 1.0, y0 - 1.0])
    keys = []
    for p in (a, b):
        q = np.round((np.asarray(p, np.float64) - o) / 0.01).astype(np.int64)
        keys.append(q[:, 0] * (1 << 31) + q[:, 1])
    diff = np.setxor1d(keys[0], keys[1])
    return np.stack([diff >> 31, diff & ((1 << 31) - 1)], axis=1) * 0.01 + o


def _mark(mask: np.ndarray, grid: Grid2D, xy: np.ndarray) -> None:
    rc = grid.world_to_cell(xy)
    ok = grid.inside(rc)
    mask[rc[ok, 0], rc[ok, 1]] = True


def _inside_mask(grid: Grid2D, mask: np.ndarray, xy: np.ndarray) -> np.ndarray:
    rc = grid.world_to_cell(xy)
    ok = grid.inside(rc)
    ok[ok] = mask[rc[ok, 0], rc[ok, 1]]
    return ok


def _build(semantic_map, config, floor_z_m, bounds_xy, objects, center_xy, grids, inflation=None) -> Costmap:
    """``build_costmap``; the projection through ``grids`` (an ``IncrementalGrid``) and the
    inflation through ``inflation`` (an ``_InflationCache``) when given."""
    from real3d.scene.extent import capped_bounds_xy, check_extent_limits, grid_side_cells

    res = config.resolution_m
    check_extent_limits("build_costmap", config.max_extent_m, config.max_cells)
    crop = {"full": None}

    def capped(own=None):
        b, crop["full"] = capped_bounds_xy(
            semantic_map, res, config.max_extent_m, config.max_cells, center_xy, map_bounds=own
        )
        return b if b is not None or own is None else own

    if bounds_xy is None:
        # The incremental grid hands over the map's bounds from the arrays it reads anyway.
        bounds_xy = capped if grids is not None else capped()
    else:
        x0, y0, x1, y1 = (float(b) for b in bounds_xy)
        w, h = np.ceil((x1 - x0) / res), np.ceil((y1 - y0) / res)
        if not (w * h <= config.max_cells and max(x1 - x0, y1 - y0) <= config.max_extent_m + 1e-6):
            side = grid_side_cells(res, config.max_extent_m, config.max_cells)
            raise InputError(
                f"build_costmap: bounds_xy {x1 - x0:.6g} x {y1 - y0:.6g} m make {w:.0f} x {h:.0f} "
                f"cells; the limit is max_extent_m {config.max_extent_m:g} m and max_cells "
                f"{config.max_cells} ({side} x {side} cells of {res:g} m)"
            )
    projection = config.projection(floor_z_m)
    if grids is None:
        grid = project_map_2d(semantic_map, projection, bounds_xy=bounds_xy)
    else:
        grid = grids.update(semantic_map, projection, bounds_xy=bounds_xy)
    boxes = _boxes_in_band(
        objects if config.object_layer else None, floor_z_m + config.z_min_m, floor_z_m + config.z_max_m
    )
    if inflation is None:
        cm = costmap_from_grid(grid, config, object_boxes=boxes)
    else:
        inflation.start(grid)
        cm = _inflate(grid, config, None, boxes, inflation.refine, inflation.box_distance)
    cm.cropped_from_xy = crop["full"]
    return cm


class IncrementalCostmap:
    """``build_costmap`` over refreshes of a growing map, the projection recomputed only
    around what changed since the last refresh (``real3d.mapping.grid2d.IncrementalGrid``).

    Hold one per map (e.g. one per pipeline) and call ``update`` where ``build_costmap``
    would be called: the costmap it returns equals ``build_costmap`` of the same map with
    the same arguments, cell for cell. The map may be the same object each time or a copy
    of it (a snapshot a worker thread takes): everything is compared. A new floor estimate
    (``floor_z_m``) moves the height band and recomputes only the cells with voxels between
    the old and the new band edges; rows that changed their voxel (another map), or the
    grid's origin moving (the map grew towards -x or -y), rebuild in full.

    Attributes:
        config: the costmap settings.
        last_full: whether the last update projected the whole map.
        last_cells: grid cells the last update projected again.
    """

    def __init__(self, config: CostmapConfig = CostmapConfig()) -> None:
        from real3d.mapping.grid2d import IncrementalGrid

        if not isinstance(config, CostmapConfig):
            raise InputError(f"IncrementalCostmap: expected a CostmapConfig, got {type(config).__name__}")
        self.config = config
        self._grids = IncrementalGrid(config.projection(0.0))
        self._inflation = _InflationCache()

    @property
    def last_full(self) -> bool:
        return self._grids.last_full

    @property
    def last_cells(self) -> int:
        return self._grids.last_cells

    def reset(self) -> None:
        """Forget the cache: the next update rebuilds in full."""
        self._grids.reset()
        self._inflation = _InflationCache()

    def update(
        self, semantic_map: SemanticMap, floor_z_m: float = 0.0, bounds_xy=None, objects=None, center_xy=None
    ) -> Costmap:
        """The costmap of ``build_costmap(semantic_map, self.config, floor_z_m, bounds_xy,
        objects, center_xy)`` (arguments and errors as there), a new ``Costmap``."""
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"IncrementalCostmap.update: expected a SemanticMap, got {type(semantic_map).__name__}")
        return _build(semantic_map, self.config, floor_z_m, bounds_xy, objects, center_xy, self._grids, self._inflation)


def _boxes_in_band(objects, z0: float, z1: float) -> list:
    """The ``Box3D`` of ``objects`` (object ``SceneNode`` or ``Box3D``) whose z range meets
    [z0, z1]."""
    from real3d.scene.boxes import Box3D

    out = []
    for o in objects if objects is not None else []:
        box = o if isinstance(o, Box3D) else getattr(o, "box", None)
        if not isinstance(box, Box3D):
            raise InputError(f"build_costmap: expected objects given as SceneNode or Box3D, got {type(o).__name__}")
        if getattr(o, "kind", "object") == "object" and box.z_max >= z0 and box.z_min <= z1:
            out.append(box)
    return out


def clear_footprint(costmap: Costmap, xy, radius_m: float) -> None:
    """In-place form of ``Costmap.with_free_footprint`` (kept for callers that own a copy)."""
    _free_footprint(costmap, xy, radius_m)


def _free_footprint(costmap: Costmap, xy, radius_m: float) -> None:
    """Unknown cells within ``radius_m`` of world ``xy`` not near an obstacle -> cost 1, in place."""
    g = costmap.grid
    rc = g.world_to_cell(np.asarray(xy, float)[None])[0]
    k = ratio_count(radius_m, g.resolution_m)
    h, w = g.shape
    r0, r1 = max(0, rc[0] - k), min(h, rc[0] + k + 1)
    c0, c1 = max(0, rc[1] - k), min(w, rc[1] + k + 1)
    if r0 >= r1 or c0 >= c1:
        return
    rr, cc = np.mgrid[r0:r1, c0:c1]
    near = (rr - rc[0]) ** 2 + (cc - rc[1]) ** 2 <= k * k
    unknown = ~g.free[r0:r1, c0:c1] & ~g.occupied[r0:r1, c0:c1]
    lethal_by_obstacle = costmap.obstacle_distance_m[r0:r1, c0:c1] < (
        costmap.config.robot_radius_m + costmap.config.safety_margin_m
    )
    sel = near & unknown & ~lethal_by_obstacle
    costmap.cost[r0:r1, c0:c1][sel] = 1.0
