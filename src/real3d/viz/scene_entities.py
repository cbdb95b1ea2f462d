"""A run's state as plain arrays for a viewer: what ``real3d.viz.rerun_log`` draws.

Every function here turns one piece of pipeline state (the map, the scene graph, the
costmap, the path, the camera poses) into numpy arrays in the pipeline's **map frame**
(``"map"`` in docs/outputs.md: the gravity-aligned world frame, z up, metres, yaw in
radians counter-clockwise about +z seen from above). Nothing here imports rerun, so the
geometry is tested on its own and any other viewer can take the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.labels import NYU13, LabelSet

#: node kinds that carry a box (rooms have none)
BOX_KINDS = ("object", "structure")
#: colour of each relation's segments, RGB
RELATION_COLORS = {"on": (255, 140, 0), "next_to": (0, 160, 255), "in": (160, 160, 160)}
_OTHER_RELATION_COLOR = (255, 0, 255)


def _rigid(T, name: str) -> np.ndarray:
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise InputError(f"{name}: expected a finite (4, 4) matrix, got {describe_array(T)}")
    return T


# ---------------------------------------------------------------------------- camera
def camera_pose(map_T_input, input_T_cam) -> np.ndarray | None:
    """``map_T_cam`` (4, 4) float64 of a frame: its pose ``input_T_cam`` (the frame's
    ``world_T_cam``, in the frame of the input's poses) re-expressed in the map frame by
    ``map_T_input`` (``Pipeline.gravity_T_world``). None when either is unknown (None):
    before the map frame is fixed, or for a frame without a pose.

    Raises:
        InputError: a matrix that is not a finite (4, 4) one.
    """
    if map_T_input is None or input_T_cam is None:
        return None
    return _rigid(map_T_input, "camera_pose map_T_input") @ _rigid(input_T_cam, "camera_pose input_T_cam")


def trajectory_strip(trajectory, max_points: int | None = None) -> np.ndarray:
    """(N, 3) float64 camera positions, map frame metres, oldest first (``Pipeline.trajectory``).

    ``max_points``: keep at most this many, evenly spaced, the first and the latest always
    kept (a live view needs the shape, not every step). Raises InputError for positions
    that are not (N, 3) or (N, 2) (z = 0 then)."""
    pts = np.asarray(trajectory, np.float64)
    if pts.size == 0:
        return np.zeros((0, 3))
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise InputError(f"trajectory_strip: expected (N, 3) positions, got {describe_array(pts)}")
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    if max_points is not None and len(pts) > max_points >= 2:
        pts = pts[np.unique(np.round(np.linspace(0, len(pts) - 1, max_points)).astype(np.int64))]
    return pts


# ---------------------------------------------------------------------------- classes
def annotation_classes(label_set: LabelSet = NYU13) -> list[tuple[int, str, tuple[int, int, int]]]:
    """``(class id, name, (r, g, b))`` of every class of ``label_set`` (void 0 included):
    what a viewer names and colours the map's, the graph's and the label images' class
    ids by (rerun's annotation context).

    Raises:
        InputError: ``label_set`` is not a ``LabelSet``.
    """
    if not isinstance(label_set, LabelSet):
        raise InputError(f"annotation_classes: expected a LabelSet, got {type(label_set).__name__}")
    return [(i, n, tuple(int(c) for c in label_set.colors[i])) for i, n in enumerate(label_set.names)]


# ---------------------------------------------------------------------------- map
@dataclass(frozen=True)
class MapPoints:
    """The map's labelled surface points (``SemanticMap.semantic_points``), void left out.

    Attributes:
        points: (N, 3) float32 map frame metres.
        class_ids: (N,) uint16 class ids of the map's label set, >= 1.
        colors: (N, 3) uint8 class colours of ``class_ids`` (the label set's ``colors``).
        radius_m: half the map's voxel size: a point's drawn radius.
        total: surface points with a class before ``max_points`` thinned them.
    """

    points: np.ndarray
    class_ids: np.ndarray
    colors: np.ndarray
    radius_m: float
    total: int


def map_points(
    semantic_map, max_points: int | None = None, snap: bool = True, label_set: LabelSet = NYU13
) -> MapPoints:
    """The labelled surface points of ``semantic_map``; points without class evidence
    (label 0) are left out. ``max_points``: keep at most this many (every k-th point, a
    deterministic thinning that keeps the cloud's spread). ``snap``: points moved onto the
    surface, as in semantic_map.ply; False: the voxel centres (less than half the time).
    ``label_set``: that of the map's ids (``Pipeline.label_set``), whose colours they take.

    Raises:
        InputError: a label outside ``label_set``."""
    sp = semantic_map.semantic_points(snap=snap)
    keep = np.flatnonzero(sp.labels > 0)
    total = len(keep)
    if max_points is not None and total > max_points:
        keep = keep[:: -(-total // max_points)]
    labels = sp.labels[keep]
    return MapPoints(
        points=np.asarray(sp.points[keep], np.float32),
        class_ids=labels.astype(np.uint16),
        colors=label_set.colorize(labels),
        radius_m=float(semantic_map.voxel_size_m) / 2,
        total=total,
    )


# ---------------------------------------------------------------------------- scene graph
@dataclass(frozen=True)
class Boxes:
    """The scene graph's boxes (gravity-aligned, turned by yaw about +z).

    Attributes:
        node_ids: (N,) int64 scene-graph node ids.
        centers: (N, 3) float64 box centres, map frame metres.
        half_sizes: (N, 3) float64 half extents along the box's own x, y and world z, metres.
        yaw_rad: (N,) float64 turn about +z, counter-clockwise from +x.
        quaternions_xyzw: (N, 4) float64 the same turn as unit quaternions (x, y, z, w).
        class_ids: (N,) uint16 classes of the graph's label set (``SceneGraphConfig.label_set``).
        labels: N strings, ``"<class name> <node id>"``.
    """

    node_ids: np.ndarray
    centers: np.ndarray
    half_sizes: np.ndarray
    yaw_rad: np.ndarray
    quaternions_xyzw: np.ndarray
    class_ids: np.ndarray
    labels: list[str]

    def __len__(self) -> int:
        return len(self.node_ids)

    def corners(self) -> np.ndarray:
        """(N, 8, 3) float64 corners, map frame metres: the footprint counter-clockwise
        (seen from above, starting at the box's own (-x, -y) corner) at the bottom, then
        the same four at the top."""
        sx = np.array([-1, 1, 1, -1, -1, 1, 1, -1], np.float64)
        sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1], np.float64)
        sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1], np.float64)
        local = np.stack([sx, sy, sz], axis=1)[None] * self.half_sizes[:, None, :]  # (N, 8, 3)
        c, s = np.cos(self.yaw_rad)[:, None], np.sin(self.yaw_rad)[:, None]
        x = c * local[..., 0] - s * local[..., 1]
        y = s * local[..., 0] + c * local[..., 1]
        return np.stack([x, y, local[..., 2]], axis=-1) + self.centers[:, None, :]


def box_entities(graph, kinds=BOX_KINDS) -> Boxes:
    """The boxes of ``graph``'s nodes of ``kinds`` (``"object"``, ``"structure"``), in node
    id order; nodes without a box are left out.

    Raises:
        InputError: an unknown kind (the valid ones are listed).
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in BOX_KINDS]
    if bad:
        raise InputError(f"box_entities: expected kinds among {', '.join(BOX_KINDS)}, got {', '.join(map(str, bad))}")
    nodes = [n for _, n in sorted(graph.nodes.items()) if n.kind in kinds and n.box is not None]
    yaw = np.array([float(n.box.yaw_rad) for n in nodes], np.float64)
    return Boxes(
        node_ids=np.array([n.id for n in nodes], np.int64),
        centers=np.array([n.box.center for n in nodes], np.float64).reshape(-1, 3),
        half_sizes=np.array([n.box.size for n in nodes], np.float64).reshape(-1, 3) / 2,
        yaw_rad=yaw,
        quaternions_xyzw=np.stack(
            [np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2), np.cos(yaw / 2)], axis=1
        ).reshape(-1, 4),
        class_ids=np.array([n.label for n in nodes], np.uint16),
        labels=[f"{n.class_name} {n.id}" for n in nodes],
    )


def node_center(node) -> np.ndarray:
    """(3,) float64 where a relation ends at ``node``: its box centre when it has a box,
    its centroid otherwise (rooms: on the floor plane), map frame metres."""
    return np.asarray(node.box.center if node.box is not None else node.centroid, np.float64)


@dataclass(frozen=True)
class Relations:
    """The scene graph's relations as segments from subject to object.

    Attributes:
        segments: (M, 2, 3) float64 [subject centre, object centre] (``node_center``),
            map frame metres.
        subject_ids, object_ids: (M,) int64 node ids.
        predicates: M strings (``"on"``, ``"next_to"``, ``"in"``).
        labels: M strings, ``"<subject> <predicate> <object>"`` with class names and ids.
        colors: (M, 3) uint8 colour of each predicate (``RELATION_COLORS``).
    """

    segments: np.ndarray
    subject_ids: np.ndarray
    object_ids: np.ndarray
    predicates: list[str]
    labels: list[str]
    colors: np.ndarray

    def __len__(self) -> int:
        return len(self.predicates)


def relation_segments(graph, predicates=None) -> Relations:
    """The edges of ``graph`` (of ``predicates`` only, when given) as segments between the
    two nodes' centres, in the graph's edge order. An edge whose node is missing from the
    graph is left out."""
    edges = [
        e
        for e in graph.edges
        if (predicates is None or e.predicate in predicates) and e.subject in graph.nodes and e.object in graph.nodes
    ]
    segs = np.array(
        [[node_center(graph.nodes[e.subject]), node_center(graph.nodes[e.object])] for e in edges], np.float64
    ).reshape(-1, 2, 3)

    def name(i: int) -> str:
        return f"{graph.nodes[i].class_name} {i}"

    return Relations(
        segments=segs,
        subject_ids=np.array([e.subject for e in edges], np.int64),
        object_ids=np.array([e.object for e in edges], np.int64),
        predicates=[e.predicate for e in edges],
        labels=[f"{name(e.subject)} {e.predicate} {name(e.object)}" for e in edges],
        colors=np.array([RELATION_COLORS.get(e.predicate, _OTHER_RELATION_COLOR) for e in edges], np.uint8).reshape(
            -1, 3
        ),
    )


# ---------------------------------------------------------------------------- costmap
@dataclass(frozen=True)
class CostmapImage:
    """The costmap as a picture lying on the floor plane.

    Attributes:
        rgb: (H, W, 3) uint8, one pixel per cell, costmap.png's colours
            (``real3d.nav.draw.render_topdown``: unknown grey, free white, soft inflation
            blue, lethal inflation light red, occupied dark red). Row 0 is the top of the
            picture, the cells of the largest y (north up); column 0 the smallest x.
        origin_xy: (x, y) of the lower-left corner of the lower-left pixel (cell (0, 0)),
            map frame metres.
        resolution_m: cell edge, metres.
        floor_z_m: height of the floor plane the costmap was built over, metres.
    """

    rgb: np.ndarray
    origin_xy: tuple[float, float]
    resolution_m: float
    floor_z_m: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[:2]

    def pixel_to_xy(self, uv) -> np.ndarray:
        """(N, 2) pixel (column u, row v; integer coordinates at pixel centres) -> (N, 2)
        map frame xy metres."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        h = self.shape[0]
        x = self.origin_xy[0] + (uv[:, 0] + 0.5) * self.resolution_m
        y = self.origin_xy[1] + (h - uv[:, 1] - 0.5) * self.resolution_m
        return np.stack([x, y], axis=1)

    def quad(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The picture as a textured quad on the floor plane: ``(vertices (4, 3) float64
        map frame metres, triangles (2, 3) int64, texcoords (4, 2) float32)``. The vertices
        are the picture's top-left, top-right, bottom-right and bottom-left corners;
        texture coordinates have (0, 0) at the picture's top-left corner and (1, 1) at its
        bottom-right (rerun's convention); the triangles face +z (counter-clockwise seen
        from above)."""
        h, w = self.shape
        x0, y0 = self.origin_xy
        x1, y1 = x0 + w * self.resolution_m, y0 + h * self.resolution_m
        z = self.floor_z_m
        vertices = np.array([[x0, y1, z], [x1, y1, z], [x1, y0, z], [x0, y0, z]], np.float64)
        triangles = np.array([[0, 2, 1], [0, 3, 2]], np.int64)
        texcoords = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
        return vertices, triangles, texcoords


def costmap_image(costmap) -> CostmapImage:
    """``costmap`` (a ``real3d.nav.costmap.Costmap``) as a ``CostmapImage``."""
    from real3d.nav.draw import render_topdown

    g = costmap.grid
    rgb = np.asarray(render_topdown(costmap, scale=1, axes=False), np.uint8)
    return CostmapImage(
        rgb=rgb,
        origin_xy=(float(g.origin_xy[0]), float(g.origin_xy[1])),
        resolution_m=float(g.resolution_m),
        floor_z_m=float(g.z_min_m - costmap.config.z_min_m),
    )


# ---------------------------------------------------------------------------- path
def path_strip(waypoints_xy, z_m: float = 0.0) -> np.ndarray:
    """(N, 3) float64 path on the plane z = ``z_m`` (the floor) from (N, 2) waypoints,
    map frame metres, start first (``path.json``'s ``waypoints``; empty for no path).
    Raises InputError for waypoints that are not (N, 2)."""
    if waypoints_xy is None:
        return np.zeros((0, 3))
    xy = np.asarray(waypoints_xy, np.float64)
    if xy.size == 0:
        return np.zeros((0, 3))
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(f"path_strip: expected (N, 2) waypoints, got {describe_array(xy)}")
    return np.column_stack([xy, np.full(len(xy), float(z_m))])


# ---------------------------------------------------------------------------- pipeline
def products_in_use(pipeline) -> tuple:
    """``(scene graph, costmap or None)`` the pipeline has in use now, as its last periodic
    refresh left them, without starting a refresh (``Pipeline.scene_graph`` and
    ``Pipeline.costmap`` rebuild them from the current map when it changed, which in the
    middle of a run would cost the run a refresh and, offline, change its results).
    Read on the thread that runs ``Pipeline.run`` (its ``on_result`` callback)."""
    return pipeline.last_refreshed
