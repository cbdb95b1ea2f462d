"""Training the scene graph's box refiner (``real3d.scene.refine``): samples from
data-engine homes fused into maps, the fit, and an estimate of the detection figures.

``collect_samples`` renders sequences, fuses them and takes ``graph_samples`` of graphs
built without refinement at a few frame counts; ``train_box_refiner`` fits a
``BoxRefiner`` on them; ``estimate_detection`` scores boxes against the samples' ground
truth. ``samples_fingerprint`` keys samples kept on disk (``real3d train boxes --cache``).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, InputError
from real3d.core.sourcehash import update_with_sources
from real3d.mapping.semantic_map import SemanticMap
from real3d.scene.boxes import Box3D, box_iou_3d
from real3d.scene.evaluate import gt_objects, visible_instances
from real3d.scene.graph import SceneGraph, SceneGraphConfig
from real3d.scene.refine import (
    MAX_LOG_RATIO,
    MAX_OFFSET,
    MIN_SIZE_M,
    N_FEATURES,
    OFFSET_SCALE_FLOOR_M,
    REFINE_CLASSES,
    BoxRefiner,
    ClusterView,
    apply_deltas,
    cluster_features,
    target_deltas,
)

_ROOT = Path(__file__).resolve().parent.parent


def samples_fingerprint() -> str:
    """12 hex digits: the data engine's fingerprint (``real3d.synth.engine_fingerprint``)
    and the SHA-256 of the code of ``real3d/mapping/*.py``, ``real3d/scene/*.py`` and this
    module (docstrings and comments do not count, see ``real3d.core.sourcehash``). It keys
    the box refiner's training samples, derived from fused maps and scene graphs of
    rendered sequences, which a change to the engine, fusion, clustering or the sampling
    invalidates."""
    from real3d.synth import engine_fingerprint

    h = hashlib.sha256(engine_fingerprint().encode())
    files = (
        sorted((_ROOT / "mapping").glob("*.py")) + sorted((_ROOT / "scene").glob("*.py")) + [Path(__file__).resolve()]
    )
    update_with_sources(h, files, label=lambda f: f"{f.parent.name}/{f.name}")
    return h.hexdigest()[:12]


def assign_ground_truth(points: np.ndarray, label: int, objects, margin_m: float = 0.05, min_share: float = 0.3):
    """The ground-truth object (``ObjectGT``) of class ``label`` whose box (grown by
    ``margin_m``) holds most of ``points`` (N, 3), if it holds at least ``min_share`` of
    them; else None."""
    best, best_n = None, 0
    for o in objects:
        if o.label != label:
            continue
        c, s = np.cos(o.yaw_rad), np.sin(o.yaw_rad)
        d = points - np.asarray(o.center, np.float64)
        local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], axis=1)
        inside = np.all(np.abs(local) <= np.asarray(o.size) / 2 + margin_m, axis=1).sum()
        if inside > best_n:
            best, best_n = o, int(inside)
    if best is None or best_n < min_share * len(points):
        return None
    return best


def graph_samples(graph, semantic_map: SemanticMap, scene, visible: set[int]) -> dict[str, np.ndarray]:
    """Training samples from a graph built with ``refine_boxes=False``, one per object
    node: ``features``; target ``deltas`` and ``has_gt`` (the cluster lies mostly in a
    ground-truth object of its class, see ``assign_ground_truth``; deltas are only learnt
    there); ``exists`` (it is the largest cluster of a ground-truth object in ``visible``);
    the node's ``box`` and ``gt_box`` as (cx, cy, cz, sx, sy, sz, yaw), its ``normal``,
    ``label`` and ``n_voxels``, and ``n_visible`` (how many visible objects the scene
    has, the same on every row)."""
    views, ids = graph.cluster_views()
    if not views:
        return {}
    feats = cluster_features(views, semantic_map, graph.floor_z_m)
    pts = graph.cluster_points()
    objects = [o for o in scene.objects if o.label > 0]
    gt = [assign_ground_truth(pts[i], v.label, objects) for i, v in zip(ids, views)]
    n = len(views)
    deltas = np.zeros((n, 6), np.float32)
    gt_box = np.zeros((n, 7), np.float64)
    has_gt = np.zeros(n, bool)
    largest: dict[int, int] = {}
    for k, (v, o) in enumerate(zip(views, gt)):
        if o is None:
            continue
        has_gt[k] = True
        deltas[k] = target_deltas(v, o.center, o.size, o.yaw_rad)
        gt_box[k] = [*o.center, *o.size, o.yaw_rad]
        j = largest.get(o.instance_id)
        if j is None or v.n_voxels > views[j].n_voxels:
            largest[o.instance_id] = k
    exists = np.zeros(n, bool)
    for inst, k in largest.items():
        exists[k] = inst in visible
    n_visible = len(gt_objects(scene, visible))
    return {
        "features": feats,
        "deltas": deltas,
        "has_gt": has_gt,
        "exists": exists,
        "box": np.array([[*v.box.center, *v.box.size, v.box.yaw_rad] for v in views], np.float64),
        "normal": np.array([np.zeros(3) if v.normal is None else v.normal for v in views], np.float64),
        "gt_box": gt_box,
        "label": np.array([v.label for v in views], np.int64),
        "n_voxels": np.array([v.n_voxels for v in views], np.int64),
        "n_visible": np.full(n, n_visible, np.int64),
    }


def _views_of(samples: dict[str, np.ndarray]) -> list[ClusterView]:
    b = samples["box"]
    return [
        ClusterView(
            int(lab), Box3D(b[k, :3], b[k, 3:6], float(b[k, 6])), samples["normal"][k], int(samples["n_voxels"][k]), 1
        )
        for k, lab in enumerate(samples["label"])
    ]


def estimate_detection(
    samples: dict[str, np.ndarray],
    refiner: BoxRefiner | None = None,
    min_score: float = 0.0,
    iou_threshold: float = 0.25,
) -> dict[str, float]:
    """Object precision, recall and F1 over the snapshots in ``samples`` (an estimate of
    ``evaluate_graph``: a node is a true positive when it is the largest cluster of a
    visible object and its box, refined when ``refiner`` is given, overlaps that object's at
    ``iou_threshold``), plus the mean IoU of clusters with a ground-truth object."""
    views = _views_of(samples)
    if refiner is not None:
        deltas, score = refiner.predict(samples["features"])
        boxes = [apply_deltas(v, d) for v, d in zip(views, deltas)]
    else:
        boxes, score = [v.box for v in views], np.ones(len(views), np.float32)
    g = samples["gt_box"]
    iou = np.array(
        [
            box_iou_3d(b, Box3D(g[k, :3], g[k, 3:6], float(g[k, 6]))) if samples["has_gt"][k] else 0.0
            for k, b in enumerate(boxes)
        ]
    )
    kept = score >= min_score
    tp = int((kept & samples["exists"] & (iou >= iou_threshold)).sum())
    n_pred = int(kept.sum())
    snap = np.flatnonzero(np.r_[True, np.diff(samples["snapshot"]) != 0])
    n_gt = int(samples["n_visible"][snap].sum())
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "mean_iou": float(iou[samples["has_gt"]].mean()) if samples["has_gt"].any() else 0.0,
    }


def collect_samples(
    seeds,
    n_frames: int = 300,
    snapshots=(150, 300),
    kind: str = "home",
    instances: bool = True,
    size=(240, 320),
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Render data-engine sequences, fuse them (ground-truth labels; ground-truth 2D
    instance segments when ``instances``) and take ``graph_samples`` after the frame counts
    in ``snapshots``. Returns the concatenated arrays plus ``seed``."""
    from real3d.synth import generate_sequence

    parts = []
    it = list(seeds)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="box-refiner samples")
    for seed in it:
        seq = generate_sequence(int(seed), n_frames, size=tuple(size), kind=kind)
        m = SemanticMap()
        g = SceneGraph(SceneGraphConfig(refine_boxes=False))
        for i, f in enumerate(seq):
            m.integrate(f if instances else f.replace(instances=None))
            if (i + 1) in snapshots:
                g.update(m)
                s = graph_samples(g, m, seq.scene, visible_instances(seq.frames[: i + 1]))
                if s:
                    s["seed"] = np.full(len(s["label"]), int(seed), np.int64)
                    s["snapshot"] = np.full(len(s["label"]), len(parts), np.int64)
                    parts.append(s)
    if not parts:
        raise InputError("collect_samples: no clusters in any sequence")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def train_box_refiner(
    samples: dict[str, np.ndarray],
    hidden: int = 64,
    epochs: int = 300,
    lr: float = 3e-3,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> BoxRefiner:
    """Fit a ``BoxRefiner`` (torch, full batch, AdamW): smooth-L1 on the deltas of clusters
    with a ground-truth object plus a differentiable IoU term of the boxes in their canonical
    frame, and binary cross-entropy on ``exists``. The last layer starts at zero, so an
    untrained refiner leaves boxes as they are."""
    import torch

    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ConfigError(f"train_box_refiner: hidden: expected an integer >= 1, got {hidden!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"train_box_refiner: epochs: expected an integer >= 1, got {epochs!r}")
    if not (math.isfinite(lr) and lr > 0 and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(
            f"train_box_refiner: expected a finite lr > 0 and weight_decay >= 0, got {lr!r}, {weight_decay!r}"
        )
    x = np.asarray(samples["features"], np.float32)
    if x.ndim != 2 or x.shape[1] != N_FEATURES or len(x) < 8:
        raise InputError(f"train_box_refiner: expected (N >= 8, {N_FEATURES}) features, got {x.shape}")
    torch.manual_seed(seed)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-3
    xt = torch.from_numpy((x - mean) / std)
    dt = torch.from_numpy(np.asarray(samples["deltas"], np.float32))
    has = torch.from_numpy(np.asarray(samples["has_gt"], bool))
    ex = torch.from_numpy(np.asarray(samples["exists"], np.float32))
    # Canonical-frame sizes of the input boxes: log sizes are features 9..11 (unnormalised).
    k0 = len(REFINE_CLASSES)
    size = torch.from_numpy(np.exp(x[:, k0 : k0 + 3]).astype(np.float32))
    net = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 7),
    )
    torch.nn.init.zeros_(net[4].weight)
    torch.nn.init.zeros_(net[4].bias)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    pos = float(ex.mean().clamp(0.05, 0.95))
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / pos))
    for _ in range(epochs):
        y = net(xt)
        d = y[:, :6]
        loss = bce(y[:, 6], ex)
        if has.any():
            loss = loss + torch.nn.functional.smooth_l1_loss(d[has], dt[has], beta=0.1)
            loss = loss + (1 - _aligned_iou(d[has], dt[has], size[has])).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    w = {f"w{i}": net[2 * i].weight.detach().numpy().T.copy() for i in range(3)}
    b = {f"b{i}": net[2 * i].bias.detach().numpy().copy() for i in range(3)}
    return BoxRefiner({"mean": mean, "std": std, **w, **b})


def _aligned_iou(d_pred, d_true, size):
    """IoU of the boxes two delta sets describe, both axis-aligned in the input box's
    canonical frame (torch; differentiable in ``d_pred``)."""
    import torch

    s = torch.clamp(size, min=MIN_SIZE_M)
    scale = torch.clamp(s, min=OFFSET_SCALE_FLOOR_M)

    def extent(d):
        c = torch.clamp(d[:, :3], -MAX_OFFSET, MAX_OFFSET) * scale
        half = s * torch.exp(torch.clamp(d[:, 3:6], -MAX_LOG_RATIO, MAX_LOG_RATIO)) / 2
        return c - half, c + half

    lo_p, hi_p = extent(d_pred)
    lo_t, hi_t = extent(d_true)
    inter = torch.clamp(torch.minimum(hi_p, hi_t) - torch.maximum(lo_p, lo_t), min=0).prod(dim=1)
    vol = lambda lo, hi: (hi - lo).prod(dim=1)
    return inter / (vol(lo_p, hi_p) + vol(lo_t, hi_t) - inter + 1e-9)
