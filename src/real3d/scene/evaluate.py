"""Scoring a scene graph against the data engine's objects and relations."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from real3d.core.gt import SceneGT
from real3d.core.labels import NYU13
from real3d.scene.boxes import Box3D, box_iou_3d
from real3d.scene.config import STRUCTURE_CLASSES
from real3d.scene.graph import SceneGraph

# Predicate spellings that mean the same relation.
_PREDICATE_ALIASES = {
    "supported_by": "on",
    "supported-by": "on",
    "on_top_of": "on",
    "next-to": "next_to",
    "near": "next_to",
    "in_room": "in",
    "in-room": "in",
}


@dataclass
class DetectionScore:
    """Object detection figures at one 3D IoU threshold (class-aware matching)."""

    iou_threshold: float
    precision: float
    recall: float
    f1: float
    true_positives: int
    n_predicted: int
    n_ground_truth: int


@dataclass
class GraphMetrics:
    """Scene-graph quality: detection at IoU 0.25 and 0.5, relation accuracy.

    Attributes:
        detection: {iou threshold: DetectionScore}.
        relation_accuracy: fraction of ground-truth relations between objects matched at
            IoU 0.25 that the graph also holds (same predicate); nan when there are none.
        n_relations_evaluated: ground-truth relations with both ends matched.
        mean_matched_iou: mean 3D IoU of the matches at 0.25.
    """

    detection: dict
    relation_accuracy: float
    n_relations_evaluated: int
    mean_matched_iou: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["detection"] = {str(k): asdict(v) for k, v in self.detection.items()}
        return d


def gt_objects(scene: SceneGT, instance_ids=None, label_set: str = "nyu13"):
    """Ground-truth objects that the graph should find: structure classes excluded and,
    when ``instance_ids`` is given, only those ids (e.g. ``visible_instances(frames)``).
    ``label_set``: the label set of the objects' ``label`` (its structure classes from
    ``real3d.scene.roles``)."""
    if label_set == NYU13.name:
        structure = {NYU13.index(n) for n in STRUCTURE_CLASSES}
    else:
        from real3d.scene.roles import roles_for

        structure = set(roles_for(label_set).structure_ids)
    keep = None if instance_ids is None else set(int(i) for i in instance_ids)
    return [
        o for o in scene.objects if o.label not in structure and o.label > 0 and (keep is None or o.instance_id in keep)
    ]


#: pixels (with a depth reading, summed over a run's frames) an object needs to count as
#: seen: what a map of those frames can know about
MIN_SEEN_PIXELS = 400


def add_instance_pixels(counts: dict[int, int], frame, with_depth: bool = True) -> dict[int, int]:
    """Add one frame's pixels per ground-truth instance id (> 0) of ``frame.instances``
    (H, W) to ``counts`` (in place; returned). With ``with_depth`` only pixels with a valid
    depth reading (``depth_m`` > 0) count. A frame without instances adds nothing."""
    inst = getattr(frame, "instances", None)
    if inst is None:
        return counts
    depth = getattr(frame, "depth_m", None)
    if with_depth and depth is not None:
        inst = inst[depth > 0]  # 0 (and NaN) = no reading
    ids, n = np.unique(inst, return_counts=True)
    for i, c in zip(ids.tolist(), n.tolist()):
        if i > 0:
            counts[i] = counts.get(i, 0) + c
    return counts


def visible_instances(frames, min_pixels: int = MIN_SEEN_PIXELS, with_depth: bool = True) -> set[int]:
    """Instance ids seen on at least ``min_pixels`` pixels over the frames' ``instances``
    images (summed over frames): the objects a map of these frames can know about. With
    ``with_depth`` only pixels with a valid depth reading count (an object the depth
    sensor never returned, e.g. beyond its range, cannot be mapped)."""
    counts: dict[int, int] = {}
    for f in frames:
        add_instance_pixels(counts, f, with_depth)
    return {i for i, c in counts.items() if c >= min_pixels}


def match_objects(graph: SceneGraph, scene: SceneGT, iou_threshold: float, instance_ids=None):
    """Class-aware one-to-one matching maximising total IoU (Hungarian).

    Returns:
        list of (predicted node id, ground-truth instance id, IoU) with IoU >= threshold.
    """
    preds = graph.objects()
    gts = gt_objects(scene, instance_ids, graph.config.label_set)
    if not preds or not gts:
        return []
    iou = np.zeros((len(preds), len(gts)))
    for i, p in enumerate(preds):
        for j, g in enumerate(gts):
            if p.label == g.label:
                iou[i, j] = box_iou_3d(
                    p.box, Box3D(np.asarray(g.center, float), np.asarray(g.size, float), float(g.yaw_rad))
                )
    r, c = linear_sum_assignment(-iou)
    return [(preds[i].id, gts[j].instance_id, float(iou[i, j])) for i, j in zip(r, c) if iou[i, j] >= iou_threshold]


def evaluate_graph(graph: SceneGraph, scene: SceneGT, thresholds=(0.25, 0.5), instance_ids=None) -> GraphMetrics:
    """Precision/recall/F1 of object nodes at each IoU threshold and relation accuracy.

    ``instance_ids`` restricts the ground truth (e.g. to ``visible_instances(frames)``).
    """
    n_pred = len(graph.objects())
    n_gt = len(gt_objects(scene, instance_ids, graph.config.label_set))
    det = {}
    for t in thresholds:
        m = match_objects(graph, scene, t, instance_ids)
        tp = len(m)
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_gt if n_gt else 0.0
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        det[t] = DetectionScore(t, p, r, f, tp, n_pred, n_gt)
    m25 = match_objects(graph, scene, min(thresholds), instance_ids)
    gt_to_pred = {g: p for p, g, _ in m25}
    have = {(e.subject, e.predicate, e.object) for e in graph.edges}
    n_eval = n_ok = 0
    for rel in scene.relations:
        if rel.subject not in gt_to_pred or rel.object not in gt_to_pred:
            continue
        pred = _PREDICATE_ALIASES.get(rel.predicate, rel.predicate)
        n_eval += 1
        n_ok += (gt_to_pred[rel.subject], pred, gt_to_pred[rel.object]) in have
    return GraphMetrics(
        detection=det,
        relation_accuracy=n_ok / n_eval if n_eval else float("nan"),
        n_relations_evaluated=n_eval,
        mean_matched_iou=float(np.mean([x[2] for x in m25])) if m25 else 0.0,
    )
