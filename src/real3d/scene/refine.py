"""Learned refinement of object boxes seen in part: a small network that maps what the map
knows about a cluster (class, its box, which way its surface faces, where its surface
points lie inside the box, and what lies just outside each face: free space, unknown
space, the same class, another class) to the box of the whole object, and to a score that
the cluster is an object of its own.

The boxes the scene graph fits cover what the camera saw: the front of a chair, the end of
a counter, the lower half of a screen. Rules deepen them by class, but how far an object
reaches is a matter of class statistics and of where the map says nothing is, which the
refiner learns from data-engine homes (never the homes the project scores on).

Coordinates: each box is described in its *canonical frame*: axes ``e0``, ``e1`` of its
footprint, flipped so that the cluster's mean surface normal has non-negative components
along both (the seen side is +), and world z. The network predicts, in that frame, the
offset of the whole object's centre (divided by ``max(size, 0.1 m)`` per axis) and the log
ratio of its size to the box's (sizes floored at 2 cm), plus one logit of existence.

Inference is numpy only (weights in ``real3d/weights/box-refiner.safetensors`` with its
model card in ``box-refiner.json``); training (``train_box_refiner``) uses torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.core.files import atomic_write_files
from real3d.core.labels import NYU13
from real3d.mapping.semantic_map import FREE, UNKNOWN, SemanticMap
from real3d.scene.boxes import Box3D, box_iou_3d

# Classes the refiner knows (the scene graph's object classes).
REFINE_CLASSES = ("bed", "books", "chair", "furniture", "objects", "picture", "sofa", "table", "tv")
# Probe distances (metres) outside each face, and the faces: +e0 (seen side), -e0, +e1,
# -e1, top.
PROBE_DISTANCES_M = (0.05, 0.2)
_FACES = ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, 1.0))
_GRID = np.array([-0.35, 0.0, 0.35])
# Quantiles of the cluster's surface points along e0, e1 and z (see ``point_spread``).
SPREAD_QUANTILES = (0.1, 0.5, 0.9)
N_FEATURES = (len(REFINE_CLASSES) + 3 + 2 + 2 + 3 + len(_FACES) * len(PROBE_DISTANCES_M) * 4 + 3
              + 3 * len(SPREAD_QUANTILES))
MIN_SIZE_M = 0.02
OFFSET_SCALE_FLOOR_M = 0.1
MAX_LOG_RATIO = 1.6
MAX_OFFSET = 1.5

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "box-refiner.safetensors"


@dataclass
class ClusterView:
    """What the refiner sees of one object cluster.

    Attributes:
        label: NYUv2-13 class id.
        box: the scene graph's box for the cluster (after its completion rules).
        normal: (3,) mean of the cluster's unit surface normals (not normalised: its length
            says how one-sided the view was), or None.
        n_voxels: surface voxels in the cluster.
        n_observations: frames that labelled its best-observed voxel.
        points: (N, 3) the cluster's surface points (world metres), or None.
    """

    label: int
    box: Box3D
    normal: np.ndarray | None
    n_voxels: int
    n_observations: int
    points: np.ndarray | None = None


def canonical_axes(box: Box3D, normal: np.ndarray | None) -> np.ndarray:
    """(2, 2) rows e0, e1: the box's footprint axes, each flipped so that the mean surface
    normal has a non-negative component along it."""
    c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
    axes = np.array([[c, s], [-s, c]])
    if normal is not None:
        along = axes @ np.asarray(normal[:2], np.float64)
        axes = axes * np.where(along < 0, -1.0, 1.0)[:, None]
    return axes


def _size_and_scale(box: Box3D) -> tuple[np.ndarray, np.ndarray]:
    """The box's size floored at ``MIN_SIZE_M`` and the per-axis unit of centre offsets,
    ``max(size, OFFSET_SCALE_FLOOR_M)``."""
    size = np.maximum(np.asarray(box.size, np.float64), MIN_SIZE_M)
    return size, np.maximum(size, OFFSET_SCALE_FLOOR_M)


def point_spread(view: ClusterView, axes: np.ndarray | None = None) -> np.ndarray:
    """(9,) where the cluster's surface points lie in its box: the ``SPREAD_QUANTILES`` of
    their offsets from the box centre along the canonical axes e0, e1 and z (``axes``, from
    ``canonical_axes`` when not given), in units of ``max(size, 0.1 m)`` per axis (the
    scale of the predicted offsets); zeros without points. Depth noise and edge pixels
    stretch the box of a cup or a bottle along the viewing ray; the quantiles say where
    most of its surface really is."""
    if view.points is None or len(view.points) == 0:
        return np.zeros(3 * len(SPREAD_QUANTILES))
    box = view.box
    if axes is None:
        axes = canonical_axes(box, view.normal)
    d = np.asarray(view.points, np.float64) - np.asarray(box.center, np.float64)
    local = np.stack([d[:, :2] @ axes[0], d[:, :2] @ axes[1], d[:, 2]], axis=1)
    return (np.quantile(local, SPREAD_QUANTILES, axis=0) / _size_and_scale(box)[1]).T.reshape(-1)


def cluster_features(views: list[ClusterView], semantic_map: SemanticMap, floor_z_m: float) -> np.ndarray:
    """(N, N_FEATURES) float32 features of clusters (see the module docstring); one batch
    of map queries for all of them."""
    n = len(views)
    if n == 0:
        return np.zeros((0, N_FEATURES), np.float32)
    probes, interior = [], []
    for v in views:
        probes.append(_face_probes(v.box, canonical_axes(v.box, v.normal)))
        interior.append(_interior_probes(v.box))
    n_face = probes[0].shape[0]
    n_int = interior[0].shape[0]
    pts = np.concatenate(probes + interior, axis=0)
    lab, _ = semantic_map.query_labels(pts)
    occ = semantic_map.query_occupancy(pts)
    split = n * n_face
    f_lab, f_occ = lab[:split].reshape(n, -1), occ[:split].reshape(n, -1)
    i_occ = occ[split:].reshape(n, n_int)
    i_lab = lab[split:].reshape(n, n_int)
    per = len(_GRID) ** 2
    rows = []
    for k, v in enumerate(views):
        name = NYU13.names[v.label]
        onehot = np.array([name == c for c in REFINE_CLASSES], np.float32)
        size = np.maximum(np.asarray(v.box.size, np.float64), MIN_SIZE_M)
        axes = canonical_axes(v.box, v.normal)
        nrm = np.zeros(3) if v.normal is None else np.asarray(v.normal, np.float64)
        nl = np.array([abs(axes[0] @ nrm[:2]), abs(axes[1] @ nrm[:2]), nrm[2]])
        fl, fo = f_lab[k].reshape(-1, per), f_occ[k].reshape(-1, per)
        same = (fl == v.label).mean(axis=1)
        other = ((fl != 0) & (fl != v.label)).mean(axis=1)
        free = ((fo == FREE) & (fl == 0)).mean(axis=1)
        unknown = ((fo == UNKNOWN) & (fl == 0)).mean(axis=1)
        faces = np.stack([same, other, free, unknown], axis=1).reshape(-1)
        inside = [(i_occ[k] == FREE).mean(), (i_occ[k] == UNKNOWN).mean(), (i_lab[k] == v.label).mean()]
        rows.append(np.concatenate([
            onehot, np.log(size), [v.box.z_min - floor_z_m, v.box.z_max - floor_z_m],
            [np.log1p(v.n_voxels), np.log1p(v.n_observations)], nl, faces, inside, point_spread(v, axes)]))
    return np.asarray(rows, np.float32)


def _face_probes(box: Box3D, axes: np.ndarray) -> np.ndarray:
    """Points outside each face in ``_FACES`` at each ``PROBE_DISTANCES_M``: a 3 x 3 grid
    over the face; (faces * distances * 9, 3) world metres."""
    out = []
    e = [np.array([axes[0, 0], axes[0, 1], 0.0]), np.array([axes[1, 0], axes[1, 1], 0.0]),
         np.array([0.0, 0.0, 1.0])]
    half = np.asarray(box.size, np.float64) / 2
    for axis, sign in _FACES:
        a, b = [i for i in range(3) if i != axis]
        ga, gb = np.meshgrid(_GRID * 2 * half[a], _GRID * 2 * half[b], indexing="ij")
        face = (np.asarray(box.center, np.float64)[None] + sign * half[axis] * e[axis][None]
                + ga.reshape(-1, 1) * e[a][None] + gb.reshape(-1, 1) * e[b][None])
        for d in PROBE_DISTANCES_M:
            out.append(face + sign * d * e[axis][None])
    return np.concatenate(out, axis=0)


def _interior_probes(box: Box3D) -> np.ndarray:
    """A 3 x 3 x 3 grid inside the box (at +-0.35 of its size and the centre)."""
    c, s = np.cos(box.yaw_rad), np.sin(box.yaw_rad)
    g = np.stack(np.meshgrid(_GRID, _GRID, _GRID, indexing="ij"), axis=-1).reshape(-1, 3) * np.asarray(box.size)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return g @ R.T + np.asarray(box.center, np.float64)


def apply_deltas(view: ClusterView, delta: np.ndarray) -> Box3D:
    """The box ``delta`` (6,) = (centre offsets along e0, e1, z in units of max(size, 0.1 m);
    log size ratios along the box's x, y, z) describes, in world coordinates."""
    box = view.box
    axes = canonical_axes(box, view.normal)
    size, scale = _size_and_scale(box)
    off = np.clip(delta[:3], -MAX_OFFSET, MAX_OFFSET) * scale
    center = np.asarray(box.center, np.float64).copy()
    center[:2] += off[0] * axes[0] + off[1] * axes[1]
    center[2] += off[2]
    new_size = size * np.exp(np.clip(delta[3:6], -MAX_LOG_RATIO, MAX_LOG_RATIO))
    return Box3D(center, new_size, float(box.yaw_rad))


def target_deltas(view: ClusterView, gt_center: np.ndarray, gt_size: np.ndarray, gt_yaw_rad: float) -> np.ndarray:
    """The (6,) deltas that turn ``view.box`` into the ground-truth box (its sizes taken
    along the box's own axes, swapping x and y when the yaws differ by more than 45
    degrees); the inverse of ``apply_deltas`` up to that yaw difference."""
    box = view.box
    axes = canonical_axes(box, view.normal)
    size, scale = _size_and_scale(box)
    d = np.asarray(gt_center, np.float64) - np.asarray(box.center, np.float64)
    off = np.array([axes[0] @ d[:2], axes[1] @ d[:2], d[2]]) / scale
    rel = np.mod(gt_yaw_rad - box.yaw_rad, np.pi)
    gs = np.asarray(gt_size, np.float64).copy()
    if np.pi / 4 < rel < 3 * np.pi / 4:
        gs[[0, 1]] = gs[[1, 0]]
    ratio = np.log(np.maximum(gs, MIN_SIZE_M) / size)
    return np.concatenate([np.clip(off, -MAX_OFFSET, MAX_OFFSET), np.clip(ratio, -MAX_LOG_RATIO, MAX_LOG_RATIO)])


class BoxRefiner:
    """A two-hidden-layer MLP (numpy inference): features -> 6 box deltas + existence logit.

    Attributes:
        params: {"mean", "std", "w0", "b0", "w1", "b1", "w2", "b2"} float32 arrays.
        card: the model card (training command, data, metrics, ``min_score``).
    """

    def __init__(self, params: dict[str, np.ndarray], card: dict | None = None):
        need = {"mean", "std", "w0", "b0", "w1", "b1", "w2", "b2"}
        if set(params) != need:
            raise FormatError(f"BoxRefiner: expected arrays {sorted(need)}, got {sorted(params)}")
        if params["w0"].shape[0] != N_FEATURES or params["w2"].shape[1] != 7:
            raise FormatError(f"BoxRefiner: expected w0 ({N_FEATURES}, H) and w2 (H, 7), got "
                              f"{params['w0'].shape} and {params['w2'].shape}")
        self.params = {k: np.asarray(v, np.float32) for k, v in params.items()}
        self.card = dict(card or {})

    @property
    def min_score(self) -> float:
        """Existence probability below which a cluster is not made a node (model card)."""
        return float(self.card.get("min_score", 0.0))

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, N_FEATURES) -> (deltas (N, 6) float32, existence probability (N,) float32)."""
        x = np.asarray(features, np.float32)
        if x.ndim != 2 or x.shape[1] != N_FEATURES or not np.isfinite(x).all():
            raise InputError(f"BoxRefiner.predict: expected finite (N, {N_FEATURES}) features, got shape {x.shape}")
        p = self.params
        h = (x - p["mean"]) / p["std"]
        h = np.maximum(h @ p["w0"] + p["b0"], 0.0)
        h = np.maximum(h @ p["w1"] + p["b1"], 0.0)
        y = h @ p["w2"] + p["b2"]
        return y[:, :6], (1.0 / (1.0 + np.exp(-y[:, 6]))).astype(np.float32)

    def refine(self, views: list[ClusterView], semantic_map: SemanticMap, floor_z_m: float):
        """Refined boxes and existence probabilities of ``views``: (list[Box3D], (N,))."""
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"BoxRefiner.refine: expected a SemanticMap, got {type(semantic_map).__name__}")
        bad = [type(v).__name__ for v in views if not isinstance(v, ClusterView)]
        if bad:
            raise InputError(f"BoxRefiner.refine: expected ClusterView items, got {bad[0]}")
        if not views:
            return [], np.zeros(0, np.float32)
        deltas, score = self.predict(cluster_features(views, semantic_map, floor_z_m))
        return [apply_deltas(v, d) for v, d in zip(views, deltas)], score

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.safetensors, card in its metadata) and the card beside it as
        ``.json``; both atomically."""
        from safetensors.numpy import save

        path = Path(path)
        atomic_write_files({path: save(self.params, metadata={"card": json.dumps(self.card)}),
                            path.with_suffix(".json"): json.dumps(self.card, indent=2) + "\n"})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike = DEFAULT_WEIGHTS) -> BoxRefiner:
        """Read weights written by ``save`` (safetensors: nothing is unpickled)."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise FormatError(f"BoxRefiner.load: no such file {path}")
        try:
            with safe_open(str(path), framework="numpy") as fh:
                params = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not iterable)
                meta = fh.metadata() or {}
        except (SafetensorError, OSError, ValueError) as e:
            raise FormatError(f"BoxRefiner.load: {path} is not a readable safetensors file: {e}") from e
        card = json.loads(meta.get("card", "{}"))
        return cls(params, card)


# ---------------------------------------------------------------------- training data
def assign_ground_truth(points: np.ndarray, label: int, objects, margin_m: float = 0.05,
                        min_share: float = 0.3):
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
    from real3d.scene.evaluate import gt_objects

    n_visible = len(gt_objects(scene, visible))
    return {"features": feats, "deltas": deltas, "has_gt": has_gt, "exists": exists,
            "box": np.array([[*v.box.center, *v.box.size, v.box.yaw_rad] for v in views], np.float64),
            "normal": np.array([np.zeros(3) if v.normal is None else v.normal for v in views], np.float64),
            "gt_box": gt_box, "label": np.array([v.label for v in views], np.int64),
            "n_voxels": np.array([v.n_voxels for v in views], np.int64),
            "n_visible": np.full(n, n_visible, np.int64)}


def _views_of(samples: dict[str, np.ndarray]) -> list[ClusterView]:
    b = samples["box"]
    return [ClusterView(int(lab), Box3D(b[k, :3], b[k, 3:6], float(b[k, 6])), samples["normal"][k],
                        int(samples["n_voxels"][k]), 1) for k, lab in enumerate(samples["label"])]


def estimate_detection(samples: dict[str, np.ndarray], refiner: BoxRefiner | None = None,
                       min_score: float = 0.0, iou_threshold: float = 0.25) -> dict[str, float]:
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
    iou = np.array([box_iou_3d(b, Box3D(g[k, :3], g[k, 3:6], float(g[k, 6]))) if samples["has_gt"][k] else 0.0
                    for k, b in enumerate(boxes)])
    kept = score >= min_score
    tp = int((kept & samples["exists"] & (iou >= iou_threshold)).sum())
    n_pred = int(kept.sum())
    snap = np.flatnonzero(np.r_[True, np.diff(samples["snapshot"]) != 0])
    n_gt = int(samples["n_visible"][snap].sum())
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "mean_iou": float(iou[samples["has_gt"]].mean()) if samples["has_gt"].any() else 0.0}


def collect_samples(seeds, n_frames: int = 300, snapshots=(150, 300), kind: str = "home",
                    instances: bool = True, size=(240, 320), progress: bool = True) -> dict[str, np.ndarray]:
    """Render data-engine sequences, fuse them (ground-truth labels; ground-truth 2D
    instance segments when ``instances``) and take ``graph_samples`` after the frame counts
    in ``snapshots``. Returns the concatenated arrays plus ``seed``."""
    from real3d.scene.evaluate import visible_instances
    from real3d.scene.graph import SceneGraph, SceneGraphConfig
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


def train_box_refiner(samples: dict[str, np.ndarray], hidden: int = 64, epochs: int = 300, lr: float = 3e-3,
                      weight_decay: float = 1e-3, seed: int = 0) -> BoxRefiner:
    """Fit a ``BoxRefiner`` (torch, full batch, AdamW): smooth-L1 on the deltas of clusters
    with a ground-truth object plus a differentiable IoU term of the boxes in their canonical
    frame, and binary cross-entropy on ``exists``. The last layer starts at zero, so an
    untrained refiner leaves boxes as they are."""
    import torch

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
    size = torch.from_numpy(np.exp(x[:, k0:k0 + 3]).astype(np.float32))
    net = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 7))
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


def load_default_refiner() -> BoxRefiner | None:
    """The shipped refiner, or None when the weights are not installed."""
    if not DEFAULT_WEIGHTS.is_file():
        return None
    return BoxRefiner.load(DEFAULT_WEIGHTS)


def check_refiner(obj) -> BoxRefiner:
    if not isinstance(obj, BoxRefiner):
        raise ConfigError(f"expected a real3d.scene.refine.BoxRefiner, got {type(obj).__name__}")
    return obj
