"""3D scene graph built from a ``SemanticMap``: objects, structure, rooms and relations.

Each ``update`` groups the map's labelled surface voxels into instances: per class, by the
map's fused instance ids where the map has them (2D instance segments fused over frames;
stray fragments of an instance away from its main part are dropped), and by connected
components on a coarse grid for voxels without one or with an instance too small to be an
object (a small object's segments often each start a new map instance). It then fits a gravity-aligned yaw box to every cluster and matches
the clusters to the previous nodes of the same class, so node ids stay stable while the map
grows. Rooms come from the free space: cores that survive an erosion by ``room_erosion_m``
(doors close) are labelled and the rest of the free space joins the nearest core.

JSON schema (``to_json``)::

    {"schema": "real3d.scene_graph", "version": 2, "frame": "world, z up, metres",
     "nodes": [{"id": int, "kind": "object" | "structure" | "room",
                "label": int (NYUv2-13; 0 for rooms), "class_name": str,
                "confidence": float, "centroid": [x, y, z],
                "box": {"center": [x, y, z], "size": [sx, sy, sz], "yaw_rad": float} | null,
                "observed_box": same as "box" | null (objects whose box the refiner
                    changed: the box of what was seen, on which relations are judged),
                "n_observations": int, "n_voxels": int, "room_id": int | null,
                "area_m2": float (rooms only),
                "map_instance": int | null (the map's instance id the node was built from)}],
     "edges": [{"subject": int, "predicate": "on" | "next_to" | "in", "object": int}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from real3d.core.errors import InputError
from real3d.core.files import atomic_write_text
from real3d.core.labels import NYU13
from real3d.mapping.grid2d import Grid2D, project_map_2d
from real3d.mapping.semantic_map import FREE, SemanticMap
from real3d.scene.boxes import Box3D, box_iou_3d, convex_intersection, fit_box, polygon_area
from real3d.scene.refine import BoxRefiner, ClusterView, check_refiner, load_default_refiner

SCENE_GRAPH_SCHEMA_VERSION = 2
STRUCTURE_CLASSES = ("floor", "wall", "ceiling", "window")
# Classes that stand on the floor: their legs and bottoms are rarely seen, so their boxes
# reach down to the floor.
FLOOR_STANDING_CLASSES = ("bed", "chair", "sofa", "table", "furniture")
# Classes of small things that often stand side by side (a monitor next to a lamp): they are
# clustered on a finer grid so that neighbours do not merge.
SMALL_OBJECT_CLASSES = ("objects", "books", "tv", "picture")
# Furniture that holds things inside its box (shelves, bookcases, cabinets): an object
# mostly inside such a box is on it.
CONTAINER_CLASSES = ("furniture",)
# Classes that hang on walls rather than rest on something.
HANGING_CLASSES = ("picture", "window")
# Typical horizontal depth (metres) of each class across the face a camera sees. An object
# seen from one side only has a box as thin as its visible surface; the box is deepened
# behind that surface up to the next surface of another class, observed free space, or this
# depth, whichever comes first (see ``SceneGraphConfig.complete_depth``).
TYPICAL_DEPTH_M = {"bed": 2.0, "chair": 0.5, "sofa": 0.9, "table": 0.7, "furniture": 0.5, "tv": 0.1,
                   "objects": 0.3, "books": 0.25, "picture": 0.04}


@dataclass(frozen=True)
class SceneGraphConfig:
    """Parameters of ``SceneGraph`` (metres unless named otherwise).

    Attributes:
        cluster_cell_m: grid on which voxels are connected into instances (26-neighbourhood);
            coarser than the map voxel so one-voxel gaps do not split an object.
        small_cluster_cell_m: the same for ``SMALL_OBJECT_CLASSES``.
        min_cluster_voxels: smaller clusters are dropped as noise.
        min_furniture_voxels: the same for ``FLOOR_STANDING_CLASSES`` (a lone table leg
            is not a table).
        merge_overlap: clusters of one class whose footprints overlap by more than this
            fraction of the smaller one are one object (parts stacked on each other).
        min_confidence: voxels whose class posterior is lower take no part.
        min_weight: voxels fused fewer times take no part.
        support_tol_m: |bottom of A - top of B| below this (with overlapping footprints)
            means A is on B; A also is on a larger B whose box holds A's bottom (shelves).
        support_gap_m: an object off the floor with nothing within ``support_tol_m`` below
            it is on the highest object whose top lies at most this far below its bottom
            (the underside of things on tall furniture is often out of a robot's view).
        floor_snap_m: objects whose lowest voxel is this close to the floor get their box
            extended down to it (their bottom is never seen); floor-standing classes
            (``FLOOR_STANDING_CLASSES``) do too unless the space just under them was seen
            free (an upper kitchen cabinet, a wall shelf; see ``_free_below``).
        next_to_m: footprints closer than this are next to each other.
        box_trim: box extents span the [trim, 1 - trim] quantiles of the voxels (robust to
            stray edge voxels).
        match_iou: a new cluster keeps the id of the old node of the same class with the
            highest 3D IoU above this, else of one whose centroid is within match_dist_m.
        room_erosion_m: free space is eroded by this much to split rooms at doors.
        room_min_area_m2: smaller room cores are ignored.
        grid_resolution_m: cell of the free-space grid used for rooms.
        snap_points: move voxel centres onto the surface before fitting boxes (costs
            six hash lookups per voxel).
        measured_points: with ``snap_points``, voxels that measured points fell in stand for
            the mean of those points (``SemanticMap.semantic_points(measured=True)``).
        z_min_m, z_max_m: height band of the free-space grid.
        complete_depth: deepen the boxes of objects seen from one side (their mean surface
            normal points one way along a box axis): march behind the visible face, in
            voxel steps, until a third of the probes meet a surface of another class or two
            thirds meet observed free space, at most to the class's ``TYPICAL_DEPTH_M``.
        instance_merge_iou: map instances of one class whose boxes overlap more are one
            object (see ``_merge_overlapping``).
        complete_min_normal: the horizontal part of the mean unit normal must exceed this
            (objects seen all round have mean normals near zero and are left alone).
        refine_boxes: pass object boxes through the shipped box refiner
            (``real3d.scene.refine``: class size statistics and the free, unknown and
            occupied space around each face learnt on data-engine homes) when the graph is
            built without an explicit ``refiner``.
        min_object_score: clusters whose refiner existence probability is lower are not
            made nodes; None takes the refiner's model card value.
        isolated_min_voxels, isolated_m: a cluster scored below ``min_object_score`` is
            still made a node when it has at least ``isolated_min_voxels`` voxels and no
            other cluster of its class lies within ``isolated_m`` (centroids) or overlaps
            its footprint. The existence score is there to reject second fragments of an
            object and things barely seen; a cluster of that size with nothing of its
            class around is neither (0 disables).
        nms_iou: of two object nodes of one class whose refined boxes overlap at a 3D IoU
            above this, only the one with the higher existence score is kept
            (non-maximum suppression: the refiner can grow two fragments of one object
            into the same whole-object box); None disables.
    """

    cluster_cell_m: float = 0.1
    small_cluster_cell_m: float = 0.075
    min_cluster_voxels: int = 10
    min_furniture_voxels: int = 40
    merge_overlap: float = 0.5
    min_confidence: float = 0.5
    min_weight: float = 1.0
    support_tol_m: float = 0.12
    support_gap_m: float = 0.3
    floor_snap_m: float = 0.25
    next_to_m: float = 0.5
    box_trim: float = 0.02
    match_iou: float = 0.1
    match_dist_m: float = 0.5
    room_erosion_m: float = 0.4
    room_min_area_m2: float = 0.5
    grid_resolution_m: float = 0.1
    snap_points: bool = True
    measured_points: bool = True
    z_min_m: float = 0.1
    z_max_m: float = 1.5
    complete_depth: bool = True
    complete_min_normal: float = 0.5
    instance_merge_iou: float = 0.25
    refine_boxes: bool = True
    min_object_score: float | None = None
    isolated_min_voxels: int = 20
    isolated_m: float = 1.0
    nms_iou: float | None = 0.3


@dataclass
class SceneNode:
    """A node of the scene graph.

    Attributes:
        id: stable integer id (unique over all nodes of the graph's life).
        kind: "object", "structure" or "room".
        label: NYUv2-13 class id (0 for rooms).
        class_name: class name ("room" for rooms).
        confidence: mean class posterior of the node's voxels (1.0 for rooms).
        centroid: (3,) float64 world metres (rooms: z = 0).
        box: gravity-aligned yaw box (None for rooms); for objects, the whole object as
            the box refiner estimates it when one is used.
        n_observations: frames that labelled the node's best-observed voxel.
        n_voxels: surface voxels in the node (rooms: free cells).
        room_id: id of the room node containing the centroid, or None.
        area_m2: footprint area of a room (0 for other kinds).
        map_instance: the map instance id the node was built from, or None.
        observed_box: the box of the seen surface before refinement (None when no
            refiner ran); relations are judged on it.
    """

    id: int
    kind: str
    label: int
    class_name: str
    confidence: float
    centroid: np.ndarray
    box: Box3D | None
    n_observations: int
    n_voxels: int
    room_id: int | None = None
    area_m2: float = 0.0
    map_instance: int | None = None
    observed_box: Box3D | None = None

    def to_dict(self) -> dict:
        return {
            "id": int(self.id), "kind": self.kind, "label": int(self.label),
            "class_name": self.class_name, "confidence": float(self.confidence),
            "centroid": [float(v) for v in self.centroid],
            "box": None if self.box is None else self.box.to_dict(),
            "observed_box": None if self.observed_box is None else self.observed_box.to_dict(),
            "n_observations": int(self.n_observations), "n_voxels": int(self.n_voxels),
            "room_id": None if self.room_id is None else int(self.room_id),
            "area_m2": float(self.area_m2),
            "map_instance": None if self.map_instance is None else int(self.map_instance),
        }


@dataclass(frozen=True)
class Edge:
    """``subject`` <predicate> ``object`` between node ids."""

    subject: int
    predicate: str
    object: int


@dataclass
class _Cluster:
    label: int
    points: np.ndarray
    confidence: float
    n_obs: int
    instance: int | None = None
    normal: np.ndarray | None = None
    box: Box3D | None = None


def _link_groups(n: int, linked) -> list[list[int]]:
    """Indices 0..n-1 grouped into the connected components of the pairwise relation
    ``linked(i, j)`` (i < j), in order of their first member (union-find)."""
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if linked(i, j):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


@dataclass
class SceneGraph:
    """Scene graph of a ``SemanticMap``; call ``update(map)`` after integrating frames."""

    config: SceneGraphConfig = field(default_factory=SceneGraphConfig)
    nodes: dict[int, SceneNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    floor_z_m: float = 0.0
    free_space: Grid2D | None = None
    room_map: np.ndarray | None = None
    _next_id: int = 1
    _map_version: int = -1
    _fits: dict = field(default_factory=dict, repr=False)
    refiner: BoxRefiner | None = None
    _views: dict = field(default_factory=dict, repr=False)
    _points: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.refiner is None and self.config.refine_boxes:
            self.refiner = load_default_refiner()
        elif self.refiner is not None:
            check_refiner(self.refiner)

    # ------------------------------------------------------------------ building
    @property
    def map_version(self) -> int:
        """Version of the map the graph was last built from (-1: never built)."""
        return self._map_version

    def update(self, semantic_map: SemanticMap, force: bool = False) -> bool:
        """Rebuild nodes and edges from the map, keeping ids. Returns False (no work) when
        the map has not changed since the last update."""
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"SceneGraph.update: expected a SemanticMap, got {type(semantic_map).__name__}")
        if not force and semantic_map.version == self._map_version:
            return False
        self._map_version = semantic_map.version
        cfg = self.config
        sp = semantic_map.semantic_points(min_weight=cfg.min_weight, snap=cfg.snap_points,
                                           measured=cfg.measured_points)
        keep = (sp.labels > 0) & (sp.confidence >= cfg.min_confidence)
        pts, labels, conf = sp.points[keep], sp.labels[keep], sp.confidence[keep]
        arrays = semantic_map.voxel_arrays()
        n_obs = arrays["class_weight"][sp.rows[keep]]
        inst = arrays["instance"][sp.rows[keep]]
        normals = sp.normals[keep] if sp.normals is not None else None
        # Boxes are refitted only for voxel groups that changed since the last update (same
        # map rows: same box); on a growing map most objects are out of view and unchanged.
        rows = sp.rows[keep]
        old_fits, self._fits = self._fits, {}

        def fit(g: np.ndarray) -> Box3D:
            r = rows[g]
            key = (len(r), int(r.sum()), int((r * r).sum()))
            box = old_fits.get(key) or self._fits.get(key)
            if box is None:
                box = fit_box(pts[g], trim=cfg.box_trim)
            self._fits[key] = box
            return box

        floor = NYU13.index("floor")
        if (labels == floor).sum() > 20:
            self.floor_z_m = float(np.median(pts[labels == floor, 2]))

        structure_ids = {NYU13.index(n) for n in STRUCTURE_CLASSES}
        clusters: list[_Cluster] = []
        for lab in np.unique(labels):
            sel = np.flatnonzero(labels == lab)
            big = NYU13.names[lab] in FLOOR_STANDING_CLASSES
            min_voxels = cfg.min_furniture_voxels if big else cfg.min_cluster_voxels
            if lab in (floor, NYU13.index("ceiling")):
                # One node each: floor and ceiling are single surfaces however fragmented.
                found = [(sel, None)]
            else:
                small = NYU13.names[lab] in SMALL_OBJECT_CLASSES
                cell = cfg.small_cluster_cell_m if small else cfg.cluster_cell_m
                ids = inst[sel]
                # A small object's 2D segments often fail to match its earlier ones, so the
                # map splits it into many instances of a voxel or two: voxels of instances
                # too small to be an object are grouped like voxels without one.
                u, cnt = np.unique(ids, return_counts=True)
                ids = np.where(np.isin(ids, u[cnt < min_voxels]), 0, ids)
                found = [(self._main_part(pts, sel[ids == i], cell), int(i)) for i in np.unique(ids[ids > 0])]
                found = self._merge_overlapping(found, fit)
                rest = sel[ids == 0]
                if rest.size:
                    groups = [rest[g] for g in self._components(pts[rest], cell)]
                    if big:
                        # Not for small things: books on the boards of one shelf share a footprint.
                        groups = self._merge_stacked(pts, groups)
                    found += [(g, None) for g in groups]
            for g, i in found:
                if len(g) < min_voxels:
                    continue
                clusters.append(_Cluster(int(lab), pts[g], float(conf[g].mean()), int(n_obs[g].max()), i,
                                         None if normals is None else normals[g].mean(axis=0), fit(g)))

        new_nodes: list[SceneNode] = []
        views: list[ClusterView | None] = []
        for c in clusters:
            box = c.box
            kind = "structure" if c.label in structure_ids else "object"
            standing = NYU13.names[c.label] in FLOOR_STANDING_CLASSES
            if kind == "object" and (box.z_min - self.floor_z_m < cfg.floor_snap_m
                                     or (standing and not self._free_below(box, semantic_map))):
                z1 = box.z_max
                box = Box3D(np.array([box.center[0], box.center[1], (self.floor_z_m + z1) / 2]),
                            np.array([box.size[0], box.size[1], z1 - self.floor_z_m]), box.yaw_rad)
            if kind == "object" and cfg.complete_depth and c.normal is not None:
                box = self._complete_depth(box, c.normal, c.label, semantic_map)
            views.append(ClusterView(c.label, box, c.normal, len(c.points), c.n_obs, c.points) if kind == "object" else None)
            new_nodes.append(SceneNode(
                id=-1, kind=kind, label=c.label, class_name=NYU13.names[c.label],
                confidence=c.confidence, centroid=c.points.mean(axis=0), box=box,
                n_observations=c.n_obs, n_voxels=len(c.points), map_instance=c.instance))
        keep = self._refine(new_nodes, views, semantic_map)
        new_nodes = [new_nodes[k] for k in keep]
        self._assign_ids(new_nodes)
        self._views = {n.id: views[k] for n, k in zip(new_nodes, keep) if views[k] is not None}
        self._points = {n.id: clusters[k].points for n, k in zip(new_nodes, keep) if views[k] is not None}
        self.nodes = {n.id: n for n in new_nodes}
        self._update_rooms(semantic_map)
        self._update_relations()
        return True

    def _refine(self, nodes: list[SceneNode], views: list, semantic_map: SemanticMap) -> list[int]:
        """Replace object boxes by the refiner's (see ``real3d.scene.refine``) and return
        the indices of the nodes to keep: structure nodes, and objects whose existence
        probability reaches ``min_object_score`` (default: the refiner card's)."""
        idx = [k for k, v in enumerate(views) if v is not None]
        if self.refiner is None or not idx:
            return list(range(len(nodes)))
        cfg = self.config
        boxes, score = self.refiner.refine([views[k] for k in idx], semantic_map, self.floor_z_m)
        cut = cfg.min_object_score
        cut = self.refiner.min_score if cut is None else cut
        for k, box in zip(idx, boxes):
            nodes[k].observed_box = nodes[k].box
            nodes[k].box = box
        score_of = {k: float(p) for k, p in zip(idx, score)}
        keep = {k for k in idx if score_of[k] >= cut}
        if cfg.isolated_min_voxels > 0:
            for k in idx:
                if k not in keep and nodes[k].n_voxels >= cfg.isolated_min_voxels and self._isolated(nodes, idx, k):
                    keep.add(k)
        if cfg.nms_iou is not None:
            order = sorted(keep, key=lambda k: -score_of[k])
            kept: list[int] = []
            for k in order:
                a = nodes[k]
                if any(nodes[j].label == a.label and _boxes_may_overlap(a.box, nodes[j].box)
                       and box_iou_3d(a.box, nodes[j].box) > cfg.nms_iou for j in kept):
                    keep.discard(k)
                else:
                    kept.append(k)
        objects = set(idx)
        return [k for k in range(len(nodes)) if k not in objects or k in keep]

    def _isolated(self, nodes: list[SceneNode], idx: list[int], k: int) -> bool:
        """Whether no other object cluster of node k's class lies within ``isolated_m``
        of it (centroids) or overlaps its observed footprint."""
        a = nodes[k]
        foot = a.observed_box.footprint()
        for j in idx:
            b = nodes[j]
            if j == k or b.label != a.label:
                continue
            if np.linalg.norm(a.centroid - b.centroid) < self.config.isolated_m:
                return False
            if polygon_area(convex_intersection(foot, b.observed_box.footprint())) > 0:
                return False
        return True

    def cluster_views(self) -> tuple[list[ClusterView], list[int]]:
        """What the box refiner saw of each object node at the last update (boxes before
        refinement), and the node ids."""
        ids = sorted(self._views)
        return [self._views[i] for i in ids], ids

    def cluster_points(self) -> dict[int, np.ndarray]:
        """Surface points (N, 3) world metres of each object node at the last update."""
        return dict(self._points)

    def _merge_stacked(self, pts: np.ndarray, groups: list[np.ndarray]) -> list[np.ndarray]:
        """Merge groups of one class whose footprints overlap by more than
        ``merge_overlap`` of the smaller one: parts of one object that the grid did not
        connect (a table top over its legs, a chair seat over its base) stand on each
        other, while separate objects of a class stand side by side."""
        if len(groups) < 2:
            return groups
        from scipy.spatial import ConvexHull, QhullError

        hulls = []
        for g in groups:
            xy = pts[g, :2]
            try:
                hulls.append(xy[ConvexHull(xy).vertices] if len(g) >= 3 else None)
            except QhullError:
                hulls.append(None)
        areas = [polygon_area(h) if h is not None else 0.0 for h in hulls]

        def stacked(i, j) -> bool:
            if hulls[i] is None or hulls[j] is None or min(areas[i], areas[j]) <= 0:
                return False
            inter = polygon_area(convex_intersection(hulls[i], hulls[j]))
            return inter > self.config.merge_overlap * min(areas[i], areas[j])

        return [np.concatenate([groups[k] for k in members]) for members in _link_groups(len(groups), stacked)]

    def _free_below(self, box: Box3D, semantic_map: SemanticMap) -> bool:
        """Whether the space under a box that floats above the floor was seen free (an
        upper kitchen cabinet, a wall shelf): probes on a 3 x 3 grid over the footprint in
        the 35 cm under the box's bottom; more than half of them free."""
        z0, z1 = max(self.floor_z_m + 0.1, box.z_min - 0.45), box.z_min - 0.1
        if z1 <= z0:
            return False
        c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
        u = np.array([-0.35, 0.0, 0.35])
        ux, uy = np.meshgrid(u * box.size[0], u * box.size[1], indexing="ij")
        xy = box.center[:2] + np.stack([c * ux - s * uy, s * ux + c * uy], axis=-1).reshape(-1, 2)
        zs = np.linspace(z0, z1, max(2, int(np.ceil((z1 - z0) / 0.2)) + 1))
        probes = np.concatenate([np.repeat(xy, len(zs), axis=0), np.tile(zs, len(xy))[:, None]], axis=1)
        return bool((semantic_map.query_occupancy(probes) == FREE).mean() > 0.5)

    def _complete_depth(self, box: Box3D, normal: np.ndarray, label: int, semantic_map: SemanticMap) -> Box3D:
        """Deepen a box seen from one side (see ``SceneGraphConfig.complete_depth``)."""
        cfg = self.config
        typical = TYPICAL_DEPTH_M.get(NYU13.names[label])
        n = np.asarray(normal[:2], np.float64)
        if typical is None or np.linalg.norm(n) < cfg.complete_min_normal:
            return box
        c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
        axes = np.array([[c, s], [-s, c]])
        along = axes @ n / np.linalg.norm(n)
        k = int(np.argmax(np.abs(along)))
        if NYU13.names[label] in SMALL_OBJECT_CLASSES:
            # Small things are about as deep as they are wide (a cup, a vase, a bag); a
            # typical depth would make a 7 cm cup 30 cm deep.
            typical = min(typical, max(box.size[1 - k], box.size[k]))
        if abs(along[k]) < 0.7 or box.size[k] >= typical:
            return box
        behind = -np.sign(along[k]) * axes[k]  # away from the visible face
        other = axes[1 - k]
        vs = semantic_map.voxel_size_m
        steps = np.arange(vs, typical - box.size[k] + 1e-9, vs)
        if steps.size == 0:
            return box
        # Probes: a 3 x 3 grid over the back face, at every step behind it.
        a = np.array([-0.35, 0.0, 0.35]) * box.size[1 - k]
        z = box.z_min + np.array([0.25, 0.5, 0.75]) * box.size[2]
        aa, zz = np.meshgrid(a, z, indexing="ij")
        face = (box.center[:2] + behind * box.size[k] / 2)[None] + aa.reshape(-1, 1) * other[None]
        probes = face[None, :, :] + steps[:, None, None] * behind[None, None, :]
        xyz = np.concatenate([probes, np.broadcast_to(zz.reshape(1, -1, 1), probes.shape[:2] + (1,))], axis=2)
        flat = xyz.reshape(-1, 3)
        lab, _ = semantic_map.query_labels(flat)
        occ = semantic_map.query_occupancy(flat)
        n_probe = face.shape[0]
        hit = ((lab != 0) & (lab != label)).reshape(len(steps), n_probe).mean(axis=1) >= 1 / 3
        free = (occ == FREE).reshape(len(steps), n_probe).mean(axis=1) >= 2 / 3
        stop = np.flatnonzero(hit | free)
        extra = (steps[stop[0]] - vs if stop.size else typical - box.size[k])
        if extra <= 0:
            return box
        size = box.size.copy()
        size[k] += extra
        center = box.center.copy()
        center[:2] += behind * extra / 2
        return Box3D(center, size, box.yaw_rad)

    def _merge_overlapping(self, found: list, fit) -> list:
        """Merge map instances of one class whose boxes overlap (3D IoU above
        ``instance_merge_iou``, or the smaller box mostly inside the larger): the two sides
        of one object seen in frames that shared too few voxels to associate them. The
        merged group keeps the id of its largest part."""
        if len(found) < 2:
            return found
        boxes = [fit(g) if len(g) >= 4 else None for g, _ in found]

        def overlapping(i, j) -> bool:
            a, b = boxes[i], boxes[j]
            if a is None or b is None:
                return False
            if not _boxes_may_overlap(a, b):
                return False
            iou = box_iou_3d(a, b)
            inter = iou * (a.volume + b.volume) / (1.0 + iou)
            return iou > self.config.instance_merge_iou or inter > 0.6 * min(a.volume, b.volume)

        out = []
        for members in _link_groups(len(found), overlapping):
            big = max(members, key=lambda k: len(found[k][0]))
            out.append((np.concatenate([found[k][0] for k in members]), found[big][1]))
        return out

    def _main_part(self, pts: np.ndarray, idx: np.ndarray, cell_m: float) -> np.ndarray:
        """The voxels ``idx`` of one map instance without its stray fragments: connected
        parts smaller than a tenth of the largest (voxels that took the id across a
        segment boundary) are dropped; larger parts (one object cut in two by an occluder)
        stay together."""
        if idx.size < 2:
            return idx
        parts = self._components(pts[idx], cell_m)
        if len(parts) == 1:
            return idx
        largest = max(len(p) for p in parts)
        return idx[np.sort(np.concatenate([p for p in parts if len(p) >= 0.1 * largest]))]

    def _components(self, points: np.ndarray, cell_m: float) -> list[np.ndarray]:
        """Indices of connected groups of points on a grid of ``cell_m``."""
        cell = np.floor(points / cell_m).astype(np.int64)
        lo = cell.min(axis=0)
        cell -= lo
        vol = np.zeros(tuple(cell.max(axis=0) + 1), bool)
        vol[tuple(cell.T)] = True
        comp, n = ndimage.label(vol, structure=np.ones((3, 3, 3), bool))
        ids = comp[tuple(cell.T)]
        order = np.argsort(ids, kind="stable")
        splits = np.flatnonzero(np.diff(ids[order])) + 1
        return np.split(order, splits)

    def _assign_ids(self, new_nodes: list[SceneNode]) -> None:
        cfg = self.config
        old = [n for n in self.nodes.values() if n.kind != "room"]
        # Nodes built from the same map instance keep their id outright.
        by_instance = {(o.label, o.map_instance): o.id for o in old if o.map_instance is not None}
        used_new, used_old = set(), set()
        for i, nn in enumerate(new_nodes):
            oid = by_instance.get((nn.label, nn.map_instance))
            if nn.map_instance is not None and oid is not None and oid not in used_old:
                nn.id = oid
                used_new.add(i)
                used_old.add(oid)
        scores = []
        for i, nn in enumerate(new_nodes):
            if i in used_new:
                continue
            for o in old:
                if o.label != nn.label or o.id in used_old:
                    continue
                dist = float(np.linalg.norm(nn.centroid - o.centroid))
                reach = 0.5 * (np.linalg.norm(nn.box.size) + np.linalg.norm(o.box.size))
                if dist > max(reach, cfg.match_dist_m):
                    continue  # boxes cannot overlap
                iou = box_iou_3d(nn.box, o.box)
                if iou > cfg.match_iou or dist < cfg.match_dist_m:
                    scores.append((iou - 0.01 * dist, i, o.id))
        scores.sort(reverse=True)
        for _, i, oid in scores:
            if i in used_new or oid in used_old:
                continue
            new_nodes[i].id = oid
            used_new.add(i)
            used_old.add(oid)
        for n in new_nodes:
            if n.id < 0:
                n.id = self._take_id()

    def _take_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def _update_rooms(self, semantic_map: SemanticMap) -> None:
        cfg = self.config
        # Rooms are a matter of layout: any free space seen in the band counts (the costmap
        # is stricter about what a robot may drive over).
        grid = project_map_2d(semantic_map, cfg.grid_resolution_m, self.floor_z_m + cfg.z_min_m,
                              self.floor_z_m + cfg.z_max_m, free_low_m=np.inf, obstacle_points=False)
        self.free_space = grid
        free = grid.free
        res = grid.resolution_m
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
        old_rooms = [n for n in self.nodes.values() if n.kind == "room"]
        rooms, grid_labels = [], []
        for lab in np.unique(room_map[free]):
            if lab == 0:
                continue
            cells = np.argwhere((room_map == lab) & free)
            xy = grid.cell_to_world(cells)
            rooms.append(SceneNode(id=-1, kind="room", label=0, class_name="room", confidence=1.0,
                                   centroid=np.array([*xy.mean(axis=0), self.floor_z_m]), box=None,
                                   n_observations=0, n_voxels=len(cells),
                                   area_m2=float(len(cells) * res * res)))
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
            r.id = best if best is not None else self._take_id()
            used.add(r.id)
        lut = np.zeros(int(room_map.max()) + 1, np.int64)
        for r, lab in zip(rooms, grid_labels):
            lut[lab] = r.id
        self.room_map = lut[room_map]
        for r in rooms:
            self.nodes[r.id] = r
        for n in self.nodes.values():
            if n.kind == "room":
                continue
            rc = grid.world_to_cell(n.centroid[None, :2])
            if grid.inside(rc)[0]:
                rid = int(self.room_map[rc[0, 0], rc[0, 1]])
                n.room_id = rid if rid > 0 else None

    def _update_relations(self) -> None:
        cfg = self.config
        objs = [n for n in self.nodes.values() if n.kind == "object"]
        floor_nodes = [n for n in self.nodes.values() if n.class_name == "floor"]
        edges: list[Edge] = []
        support: dict[int, int | None] = {}
        # Relations are judged on the boxes of what was seen: the refiner's whole-object boxes
        # reach into space nobody observed, where a neighbour's box may also reach.
        B = {n.id: n.box if n.observed_box is None else n.observed_box for n in objs}
        footprints = {n.id: B[n.id].footprint() for n in objs}
        areas = {n.id: polygon_area(f) for n, f in zip(objs, footprints.values())}

        def overlap(a, b) -> float:
            return polygon_area(convex_intersection(footprints[a.id], footprints[b.id]))

        def container(a):
            # A larger piece of furniture whose box holds a (a shelf board's books, also
            # the bottom board's, whose bottoms are level with the bookcase's).
            best = None
            for b in objs:
                if (b.id != a.id and b.class_name in CONTAINER_CLASSES and areas[b.id] > areas[a.id]
                        and B[b.id].z_min - cfg.support_tol_m <= B[a.id].z_min < B[b.id].z_max
                        and B[a.id].z_max <= B[b.id].z_max + cfg.support_tol_m
                        and overlap(a, b) >= 0.7 * areas[a.id]
                        and (best is None or areas[b.id] < areas[best.id])):
                    best = b
            return best

        holder = {a.id: container(a) for a in objs}
        for a in objs:
            area_a = areas[a.id]
            box_b = holder[a.id]
            # Resting on top of b (bottom near b's top) is preferred, unless b stands in the
            # same container as a (books on books on one shelf board are on the bookcase);
            # then the container; then standing inside a larger b (a table's box); then,
            # for objects off the floor whose bottom was not seen (a robot's camera below
            # a dresser's top misses what lies right on it), the highest top below them
            # within ``support_gap_m``.
            best, best_key = None, None
            for b in objs:
                if b.id == a.id:
                    continue
                on_top = abs(B[a.id].z_min - B[b.id].z_max) <= cfg.support_tol_m and B[b.id].z_max < B[a.id].z_max
                if on_top and box_b is not None and b.id != box_b.id and holder[b.id] is box_b:
                    continue
                inside = (B[b.id].z_min + cfg.support_tol_m < B[a.id].z_min < B[b.id].z_max
                          and areas[b.id] > area_a)
                if not (on_top or inside):
                    continue
                if overlap(a, b) <= 0.3 * area_a:
                    continue
                key = (on_top, B[b.id].z_max if on_top else -abs(B[a.id].z_min - B[b.id].z_min))
                if best_key is None or key > best_key:
                    best, best_key = b.id, key
            if (best is None or not best_key[0]) and box_b is not None:
                best = box_b.id
            off_floor = B[a.id].z_min - self.floor_z_m >= cfg.support_tol_m
            if best is None and off_floor and a.class_name not in HANGING_CLASSES:
                below = [b for b in objs if b.id != a.id
                         and 0 < B[a.id].z_min - B[b.id].z_max <= cfg.support_gap_m
                         and overlap(a, b) > 0.3 * area_a]
                if below:
                    best = max(below, key=lambda b: B[b.id].z_max).id
            if best is None and floor_nodes and not off_floor:
                best = floor_nodes[0].id
            support[a.id] = best
            if best is not None:
                edges.append(Edge(a.id, "on", best))
        for i, a in enumerate(objs):
            for b in objs[i + 1:]:
                if support.get(a.id) != support.get(b.id):
                    continue
                # Cheap reject first: footprint circumcircles farther apart than next_to_m.
                reach = 0.5 * (np.hypot(*B[a.id].size[:2]) + np.hypot(*B[b.id].size[:2])) + cfg.next_to_m
                if np.hypot(*(B[a.id].center[:2] - B[b.id].center[:2])) > reach:
                    continue
                if _footprint_gap(B[a.id], B[b.id]) < cfg.next_to_m:
                    edges += [Edge(a.id, "next_to", b.id), Edge(b.id, "next_to", a.id)]
        for n in self.nodes.values():
            if n.kind != "room" and n.room_id is not None:
                edges.append(Edge(n.id, "in", n.room_id))
        self.edges = edges

    # ------------------------------------------------------------------ queries
    def objects(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "object"]

    def structures(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "structure"]

    def rooms(self) -> list[SceneNode]:
        return [n for n in self.nodes.values() if n.kind == "room"]

    def get_free_space(self) -> Grid2D:
        """Top-down free/occupied grid of the last update (see ``Grid2D``)."""
        if self.free_space is None:
            raise InputError("SceneGraph.get_free_space: call update(map) first")
        return self.free_space

    def get_obstacles(self, z_min_m: float | None = None, z_max_m: float | None = None) -> list[SceneNode]:
        """Object and wall nodes whose boxes reach into the height band (default the
        config's band above the floor)."""
        lo = self.floor_z_m + (self.config.z_min_m if z_min_m is None else z_min_m)
        hi = self.floor_z_m + (self.config.z_max_m if z_max_m is None else z_max_m)
        return [n for n in self.nodes.values()
                if n.kind != "room" and n.class_name not in ("floor", "ceiling")
                and n.box.z_max >= lo and n.box.z_min <= hi]

    def relations(self, predicate: str | None = None) -> list[Edge]:
        return [e for e in self.edges if predicate is None or e.predicate == predicate]

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict:
        return {
            "schema": "real3d.scene_graph", "version": SCENE_GRAPH_SCHEMA_VERSION,
            "frame": "world, z up, metres", "floor_z_m": float(self.floor_z_m),
            "nodes": [n.to_dict() for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "edges": [{"subject": e.subject, "predicate": e.predicate, "object": e.object}
                      for e in self.edges],
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text of the graph (schema in the module docstring); written atomically to
        ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_networkx(self):
        """A ``networkx.MultiDiGraph``: node attributes from ``SceneNode.to_dict``, one edge
        per relation with attribute ``predicate`` (also the edge key)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        for n in self.nodes.values():
            g.add_node(n.id, **n.to_dict())
        for e in self.edges:
            g.add_edge(e.subject, e.object, key=e.predicate, predicate=e.predicate)
        return g


def _boxes_may_overlap(a: Box3D, b: Box3D) -> bool:
    """False when the boxes' circumscribed spheres are apart (then their IoU is 0)."""
    return bool(np.linalg.norm(a.center - b.center) <= 0.5 * (np.linalg.norm(a.size) + np.linalg.norm(b.size)))


def _footprint_gap(a: Box3D, b: Box3D) -> float:
    """Distance between two box footprints in metres (0 when they overlap)."""
    pa, pb = a.footprint(), b.footprint()
    if polygon_area(convex_intersection(pa, pb)) > 0:
        return 0.0
    best = np.inf
    for P, Q in ((pa, pb), (pb, pa)):
        s0, d = Q, np.roll(Q, -1, axis=0) - Q  # 4 edges
        rel = P[:, None, :] - s0[None, :, :]   # (4 points, 4 edges, 2)
        t = np.clip((rel * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1e-12)[None], 0, 1)
        best = min(best, float(np.sqrt(((rel - t[..., None] * d[None]) ** 2).sum(-1)).min()))
    return best
