"""Building a scene graph from a ``SemanticMap``, one update after another.

Each update takes the map's labelled surface voxels, groups them into clusters
(``real3d.scene.clusters``), completes the boxes of object clusters
(``real3d.scene.completion``), passes them through the box refiner when the graph has one
(``real3d.scene.refine``: refined boxes, existence scores, non-maximum suppression), matches
the new nodes to the previous ones so node ids stay stable while the map grows, and then
derives rooms (``real3d.scene.rooms``) and relations (``real3d.scene.relations``).
``SceneGraphBuilder`` keeps what one update hands to the next, and what an update can
reuse: boxes of voxel groups whose rows and points did not change, the clusters of every
class whose points did not change, and the free-space grid of the rooms, recomputed only
around the cells that changed (``real3d.mapping.grid2d.IncrementalGrid``). The result is
the same as an update with those caches cleared (``reset_caches``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from real3d.mapping.semantic_map import SemanticMap
from real3d.scene.boxes import box_iou_3d, convex_intersection, polygon_area
from real3d.mapping.grid2d import IncrementalGrid
from real3d.scene.clusters import BoxFitCache, Cluster, boxes_may_overlap, label_clusters
from real3d.scene.completion import complete_object_box
from real3d.scene.config import SceneGraphConfig
from real3d.scene.nodes import SceneNode
from real3d.scene.refine import BoxRefiner, ClusterView, point_spread
from real3d.scene.relations import build_relations
from real3d.scene.rooms import assign_rooms, segment_rooms
from real3d.scene.roles import roles_for


class SceneGraphBuilder:
    """What a scene graph's updates carry from one to the next.

    Attributes:
        map_version: version of the map last built from (-1: never built).
        next_id: the next unused node id (ids are unique over the graph's life).
        views: node id -> what the box refiner saw of the object at the last update.
        points: node id -> (N, 3) surface points of the object at the last update.
    """

    def __init__(self) -> None:
        self.map_version = -1
        self.next_id = 1
        self.views: dict[int, ClusterView] = {}
        self.points: dict[int, np.ndarray] = {}
        self.reset_caches()

    def reset_caches(self) -> None:
        """Forget what the next update could reuse (box fits, each class's clusters, the
        free-space grid): it rebuilds from the whole map, with the same result."""
        self._fits = BoxFitCache()
        self._by_label: dict[int, tuple[tuple, list[Cluster]]] = {}
        self._rooms_grid = IncrementalGrid()
        self._spreads: dict = {}
        self.reused_labels = 0

    def _spread(self, view: ClusterView, axes: np.ndarray) -> np.ndarray:
        """``point_spread`` of a view, kept while its points, box and normal stay."""
        key = (
            hash(view.points.tobytes()) if view.points is not None else None,
            view.box.center.tobytes(),
            view.box.size.tobytes(),
            float(view.box.yaw_rad),
            None if view.normal is None else np.asarray(view.normal).tobytes(),
            axes.tobytes(),
        )
        got = self._spreads.get(key)
        if got is None:
            got = point_spread(view, axes)
        self._spread_used[key] = got
        return got

    def take_id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i

    def update(self, graph, semantic_map: SemanticMap) -> None:
        """Rebuild ``graph``'s nodes, edges, floor height, free space and room map from
        ``semantic_map`` with the graph's ``config`` and ``refiner``, keeping node ids."""
        self.map_version = semantic_map.version
        cfg = graph.config
        sp = semantic_map.semantic_points(min_weight=cfg.min_weight, snap=cfg.snap_points, measured=cfg.measured_points)
        keep = (sp.labels > 0) & (sp.confidence >= cfg.min_confidence)
        pts, labels, conf = sp.points[keep], sp.labels[keep], sp.confidence[keep]
        arrays = semantic_map.voxel_arrays()
        n_obs = arrays["class_weight"][sp.rows[keep]]
        inst = semantic_map.instances_of_rows(sp.rows[keep])
        normals = sp.normals[keep] if sp.normals is not None else None
        fit = self._fits.fitter(pts, sp.rows[keep], cfg.box_trim)

        roles = roles_for(cfg.label_set)
        floor = roles.floor_id
        if (labels == floor).sum() > 20:
            graph.floor_z_m = float(np.median(pts[labels == floor, 2]))

        structure_ids = roles.structure_ids
        clusters = self._clusters(pts, labels, conf, n_obs, inst, normals, sp.rows[keep], cfg, fit)
        new_nodes: list[SceneNode] = []
        views: list[ClusterView | None] = []
        for c in clusters:
            box = c.box
            kind = "structure" if c.label in structure_ids else "object"
            if kind == "object":
                box = complete_object_box(box, c.label, c.normal, graph.floor_z_m, semantic_map, cfg)
            views.append(
                ClusterView(c.label, box, c.normal, len(c.points), c.n_obs, c.points) if kind == "object" else None
            )
            new_nodes.append(
                SceneNode(
                    id=-1,
                    kind=kind,
                    label=c.label,
                    class_name=roles.name(c.label),
                    confidence=c.confidence,
                    centroid=c.points.mean(axis=0),
                    box=box,
                    n_observations=c.n_obs,
                    n_voxels=len(c.points),
                    map_instance=c.instance,
                )
            )
        self._spread_used: dict = {}
        keep = refine_objects(new_nodes, views, semantic_map, graph.refiner, graph.floor_z_m, cfg, self._spread)
        self._spreads = self._spread_used
        new_nodes = [new_nodes[k] for k in keep]
        assign_ids(new_nodes, graph.nodes.values(), cfg, self.take_id)
        self.views = {n.id: views[k] for n, k in zip(new_nodes, keep) if views[k] is not None}
        self.points = {n.id: clusters[k].points for n, k in zip(new_nodes, keep) if views[k] is not None}
        graph.nodes = {n.id: n for n in new_nodes}

        old_rooms = [n for n in graph.nodes.values() if n.kind == "room"]
        grid, room_ids, rooms = segment_rooms(
            semantic_map, graph.floor_z_m, cfg, old_rooms, self.take_id, self._rooms_grid
        )
        graph.free_space = grid
        graph.room_map = room_ids
        for r in rooms:
            graph.nodes[r.id] = r
        assign_rooms(graph.nodes.values(), grid, room_ids)
        graph.edges = build_relations(graph.nodes, graph.floor_z_m, cfg)

    def _clusters(self, pts, labels, conf, n_obs, inst, normals, rows, cfg, fit) -> list[Cluster]:
        """``find_clusters``, class by class; a class whose points (rows, positions,
        confidences, observations, instances, normals) are those of the last update keeps
        its clusters (``reused_labels`` counts them)."""
        out: list[Cluster] = []
        cache: dict[int, tuple[tuple, list[Cluster]]] = {}
        self.reused_labels = 0
        for lab in np.unique(labels):
            lab = int(lab)
            sel = np.flatnonzero(labels == lab)
            sig = (rows[sel], pts[sel], conf[sel], n_obs[sel], inst[sel], None if normals is None else normals[sel])
            hit = self._by_label.get(lab)
            if hit is not None and all(
                (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
                for a, b in zip(hit[0], sig)
            ):
                found = hit[1]
                self.reused_labels += 1
            else:
                found = label_clusters(lab, sel, pts, conf, n_obs, inst, normals, cfg, fit)
            cache[lab] = (sig, found)
            out += found
        self._by_label = cache
        return out


def refine_objects(
    nodes: list[SceneNode],
    views: list[ClusterView | None],
    semantic_map: SemanticMap,
    refiner: BoxRefiner | None,
    floor_z_m: float,
    cfg: SceneGraphConfig,
    spread=None,
) -> list[int]:
    """Replace object boxes by the refiner's (see ``real3d.scene.refine``) and return
    the indices of the nodes to keep: structure nodes, and objects whose existence
    probability reaches ``min_object_score`` (default: the refiner card's), or that are
    isolated (``isolated_min_voxels``), less those that non-maximum suppression (``nms_iou``)
    removes. ``views[k]`` is None for structure nodes; ``spread`` as in
    ``real3d.scene.refine.cluster_features``."""
    idx = [k for k, v in enumerate(views) if v is not None]
    if refiner is None or not idx:
        return list(range(len(nodes)))
    boxes, score = refiner.refine([views[k] for k in idx], semantic_map, floor_z_m, spread)
    cut = cfg.min_object_score
    cut = refiner.min_score if cut is None else cut
    for k, box in zip(idx, boxes):
        nodes[k].observed_box = nodes[k].box
        nodes[k].box = box
    score_of = {k: float(p) for k, p in zip(idx, score)}
    keep = {k for k in idx if score_of[k] >= cut}
    if cfg.isolated_min_voxels > 0:
        for k in idx:
            if (
                k not in keep
                and nodes[k].n_voxels >= cfg.isolated_min_voxels
                and _isolated(nodes, idx, k, cfg.isolated_m)
            ):
                keep.add(k)
    if cfg.nms_iou is not None:
        order = sorted(keep, key=lambda k: -score_of[k])
        kept: list[int] = []
        for k in order:
            a = nodes[k]
            if any(
                nodes[j].label == a.label
                and boxes_may_overlap(a.box, nodes[j].box)
                and box_iou_3d(a.box, nodes[j].box) > cfg.nms_iou
                for j in kept
            ):
                keep.discard(k)
            else:
                kept.append(k)
    objects = set(idx)
    return [k for k in range(len(nodes)) if k not in objects or k in keep]


def _isolated(nodes: list[SceneNode], idx: list[int], k: int, isolated_m: float) -> bool:
    """Whether no other object cluster of node k's class lies within ``isolated_m``
    of it (centroids) or overlaps its observed footprint."""
    a = nodes[k]
    foot = a.observed_box.footprint()
    for j in idx:
        b = nodes[j]
        if j == k or b.label != a.label:
            continue
        if np.linalg.norm(a.centroid - b.centroid) < isolated_m:
            return False
        if polygon_area(convex_intersection(foot, b.observed_box.footprint())) > 0:
            return False
    return True


def assign_ids(new_nodes: list[SceneNode], old_nodes, cfg: SceneGraphConfig, take_id: Callable[[], int]) -> None:
    """Give each new node (id < 0) the id of the previous node it continues, else a new
    one from ``take_id``. A node built from the same map instance as an old node of its
    class keeps that node's id outright; the others are matched by 3D IoU above
    ``match_iou`` or centroids within ``match_dist_m``, best first. Rooms take no part."""
    old = [n for n in old_nodes if n.kind != "room"]
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
            n.id = take_id()
