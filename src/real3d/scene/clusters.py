"""Grouping a map's labelled surface voxels into clusters, one per object or structure.

Per class, voxels are grouped by the map's fused instance ids where the map has them (2D
instance segments fused over frames; stray fragments of an instance away from its main part
are dropped, and instances whose boxes overlap are merged), and by connected components on a
coarse grid for voxels without one or with an instance too small to be an object (a small
object's segments often each start a new map instance). Floor and ceiling are one cluster
each. Every cluster gets a gravity-aligned yaw box (``real3d.scene.boxes.fit_box``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from real3d.scene.boxes import Box3D, box_iou_3d, convex_intersection, fit_box, polygon_area
from real3d.scene.config import SceneGraphConfig
from real3d.scene.roles import roles_for


@dataclass
class Cluster:
    """One group of surface voxels of a class.

    Attributes:
        label: NYUv2-13 class id.
        points: (N, 3) float world metres, the voxels' surface points.
        confidence: mean class posterior of the voxels.
        n_obs: frames that labelled the best-observed voxel.
        instance: the map instance id the cluster was built from, or None.
        normal: (3,) mean of the voxels' unit normals (not normalised), or None.
        box: the box fitted to ``points``.
    """

    label: int
    points: np.ndarray
    confidence: float
    n_obs: int
    instance: int | None = None
    normal: np.ndarray | None = None
    box: Box3D | None = None


class BoxFitCache:
    """Boxes of voxel groups kept from one update to the next: a group with the same map rows
    and the same points as at the last update keeps its box, so on a growing map the objects
    out of view, which do not change, are not refitted."""

    def __init__(self) -> None:
        self._fits: dict = {}

    def fitter(self, points: np.ndarray, rows: np.ndarray, trim: float):
        """``fit(idx) -> Box3D`` for index arrays into ``points`` (N, 3), whose map rows are
        ``rows`` (N,); starts a new update (boxes of groups not fitted again are forgotten)."""
        old_fits, self._fits = self._fits, {}

        def fit(g: np.ndarray) -> Box3D:
            # The points too: a voxel whose surface moved keeps its row.
            key = (len(g), hash(rows[g].tobytes()), hash(points[g].tobytes()))
            box = old_fits.get(key) or self._fits.get(key)
            if box is None:
                box = fit_box(points[g], trim=trim)
            self._fits[key] = box
            return box

        return fit


def find_clusters(
    pts: np.ndarray,
    labels: np.ndarray,
    conf: np.ndarray,
    n_obs: np.ndarray,
    inst: np.ndarray,
    normals: np.ndarray | None,
    cfg: SceneGraphConfig,
    fit,
) -> list[Cluster]:
    """Clusters of labelled surface points (see the module docstring).

    Args:
        pts: (N, 3) float world metres.
        labels: (N,) NYUv2-13 ids (> 0).
        conf: (N,) class posteriors.
        n_obs: (N,) frames that labelled each voxel.
        inst: (N,) map instance ids (0 = none).
        normals: (N, 3) unit normals, or None.
        cfg: the graph's parameters.
        fit: ``fit(idx) -> Box3D`` (``BoxFitCache.fitter``).
    """
    clusters: list[Cluster] = []
    for lab in np.unique(labels):
        clusters += label_clusters(int(lab), np.flatnonzero(labels == lab), pts, conf, n_obs, inst, normals, cfg, fit)
    return clusters


def label_clusters(
    lab: int,
    sel: np.ndarray,
    pts: np.ndarray,
    conf: np.ndarray,
    n_obs: np.ndarray,
    inst: np.ndarray,
    normals: np.ndarray | None,
    cfg: SceneGraphConfig,
    fit,
) -> list[Cluster]:
    """The clusters of class ``lab`` (``find_clusters``), whose points are ``sel`` (indices
    into the arrays of ``find_clusters``); they depend on those points alone."""
    roles = roles_for(cfg.label_set)
    clusters: list[Cluster] = []
    big = roles.name(lab) in roles.floor_standing
    min_voxels = cfg.min_furniture_voxels if big else cfg.min_cluster_voxels
    if lab in roles.unbounded_ids:
        # One node each: floor and ceiling are single surfaces however fragmented.
        found = [(sel, None)]
    else:
        small = roles.name(lab) in roles.small
        cell = cfg.small_cluster_cell_m if small else cfg.cluster_cell_m
        ids = inst[sel]
        # A small object's 2D segments often fail to match its earlier ones, so the
        # map splits it into many instances of a voxel or two: voxels of instances
        # too small to be an object are grouped like voxels without one.
        u, cnt = np.unique(ids, return_counts=True)
        ids = np.where(np.isin(ids, u[cnt < min_voxels]), 0, ids)
        found = [(main_part(pts, sel[ids == i], cell), int(i)) for i in np.unique(ids[ids > 0])]
        found = merge_overlapping(found, fit, cfg.instance_merge_iou)
        rest = sel[ids == 0]
        if rest.size:
            groups = [rest[g] for g in components(pts[rest], cell)]
            if big:
                # Not for small things: books on the boards of one shelf share a footprint.
                groups = merge_stacked(pts, groups, cfg.merge_overlap)
            found += [(g, None) for g in groups]
    for g, i in found:
        if len(g) < min_voxels:
            continue
        clusters.append(
            Cluster(
                int(lab),
                pts[g],
                float(conf[g].mean()),
                int(n_obs[g].max()),
                i,
                None if normals is None else normals[g].mean(axis=0),
                fit(g),
            )
        )
    return clusters


def link_groups(n: int, linked) -> list[list[int]]:
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


DENSE_LABEL_CELLS = 1 << 24
"""``components`` labels a dense volume over the points' bounding box up to this many
cells (16 MB); points spread wider (a cluster far away, from a bad pose) are labelled
over their occupied cells only."""


def components(points: np.ndarray, cell_m: float) -> list[np.ndarray]:
    """Indices of connected groups of points (N, 3) on a grid of ``cell_m``
    (26-neighbourhood), groups in the order of their first cell in (x, y, z) order."""
    cell = np.floor(points / cell_m).astype(np.int64)
    lo = cell.min(axis=0)
    cell -= lo
    shape = cell.max(axis=0) + 1
    if float(np.prod(shape.astype(np.float64))) <= DENSE_LABEL_CELLS:
        vol = np.zeros(tuple(shape), bool)
        vol[tuple(cell.T)] = True
        comp, n = ndimage.label(vol, structure=np.ones((3, 3, 3), bool))
        ids = comp[tuple(cell.T)]
    else:
        ids = _sparse_labels(cell)
    order = np.argsort(ids, kind="stable")
    splits = np.flatnonzero(np.diff(ids[order])) + 1
    return np.split(order, splits)


def _sparse_labels(cell: np.ndarray) -> np.ndarray:
    """(N,) component ids (1, 2, ... in the order of each component's first cell in
    (x, y, z) order, as ``ndimage.label`` numbers them) of integer cells (N, 3) >= 0,
    26-connected; memory in proportion to N, not to the bounding box."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    span = cell.max(axis=0) + 3  # one cell of padding either side: neighbours never wrap
    keys = ((cell[:, 0] + 1) * span[1] + cell[:, 1] + 1) * span[2] + cell[:, 2] + 1
    uniq, inv = np.unique(keys, return_inverse=True)
    rows, cols = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                if (dx, dy, dz) <= (0, 0, 0):
                    continue  # each pair once
                nb = uniq + (dx * span[1] + dy) * span[2] + dz
                pos = np.minimum(np.searchsorted(uniq, nb), len(uniq) - 1)
                hit = np.flatnonzero(uniq[pos] == nb)
                rows.append(hit)
                cols.append(pos[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), bool), (r, c)), shape=(len(uniq), len(uniq)))
    _, lab = connected_components(graph, directed=False)
    # Number components by their first cell (uniq is in (x, y, z) order).
    _, first = np.unique(lab, return_index=True)
    order = np.empty(len(first), np.int64)
    order[np.argsort(first)] = np.arange(1, len(first) + 1)
    return order[lab][inv]


def main_part(pts: np.ndarray, idx: np.ndarray, cell_m: float) -> np.ndarray:
    """The voxels ``idx`` of one map instance without its stray fragments: connected
    parts smaller than a tenth of the largest (voxels that took the id across a
    segment boundary) are dropped; larger parts (one object cut in two by an occluder)
    stay together."""
    if idx.size < 2:
        return idx
    parts = components(pts[idx], cell_m)
    if len(parts) == 1:
        return idx
    largest = max(len(p) for p in parts)
    return idx[np.sort(np.concatenate([p for p in parts if len(p) >= 0.1 * largest]))]


def merge_stacked(pts: np.ndarray, groups: list[np.ndarray], merge_overlap: float) -> list[np.ndarray]:
    """Merge groups of one class whose footprints overlap by more than ``merge_overlap``
    of the smaller one: parts of one object that the grid did not connect (a table top
    over its legs, a chair seat over its base) stand on each other, while separate objects
    of a class stand side by side."""
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
        return inter > merge_overlap * min(areas[i], areas[j])

    return [np.concatenate([groups[k] for k in members]) for members in link_groups(len(groups), stacked)]


def merge_overlapping(found: list, fit, instance_merge_iou: float) -> list:
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
        if not boxes_may_overlap(a, b):
            return False
        iou = box_iou_3d(a, b)
        inter = iou * (a.volume + b.volume) / (1.0 + iou)
        return iou > instance_merge_iou or inter > 0.6 * min(a.volume, b.volume)

    out = []
    for members in link_groups(len(found), overlapping):
        big = max(members, key=lambda k: len(found[k][0]))
        out.append((np.concatenate([found[k][0] for k in members]), found[big][1]))
    return out


def boxes_may_overlap(a: Box3D, b: Box3D) -> bool:
    """False when the boxes' circumscribed spheres are apart (then their IoU is 0)."""
    return bool(np.linalg.norm(a.center - b.center) <= 0.5 * (np.linalg.norm(a.size) + np.linalg.norm(b.size)))
