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
model card in ``box-refiner.json``). Training samples and the training itself (torch) live
in ``real3d.train.box_refiner``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.core.files import atomic_write_files
from real3d.core.labels import NYU13
from real3d.mapping.semantic_map import FREE, UNKNOWN, SemanticMap
from real3d.scene.boxes import Box3D

# Classes the refiner knows (the scene graph's object classes).
REFINE_CLASSES = ("bed", "books", "chair", "furniture", "objects", "picture", "sofa", "table", "tv")
# Probe distances (metres) outside each face, and the faces: +e0 (seen side), -e0, +e1,
# -e1, top.
PROBE_DISTANCES_M = (0.05, 0.2)
_FACES = ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, 1.0))
_GRID = np.array([-0.35, 0.0, 0.35])
# Quantiles of the cluster's surface points along e0, e1 and z (see ``point_spread``).
SPREAD_QUANTILES = (0.1, 0.5, 0.9)
N_FEATURES = (
    len(REFINE_CLASSES) + 3 + 2 + 2 + 3 + len(_FACES) * len(PROBE_DISTANCES_M) * 4 + 3 + 3 * len(SPREAD_QUANTILES)
)
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


def cluster_features(views: list[ClusterView], semantic_map: SemanticMap, floor_z_m: float, spread=None) -> np.ndarray:
    """(N, N_FEATURES) float32 features of clusters (see the module docstring); one batch
    of map queries for all of them. ``spread(view, axes)``: ``point_spread`` (default) or a
    cached form of it."""
    spread = point_spread if spread is None else spread
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
        rows.append(
            np.concatenate(
                [
                    onehot,
                    np.log(size),
                    [v.box.z_min - floor_z_m, v.box.z_max - floor_z_m],
                    [np.log1p(v.n_voxels), np.log1p(v.n_observations)],
                    nl,
                    faces,
                    inside,
                    spread(v, axes),
                ]
            )
        )
    return np.asarray(rows, np.float32)


def _face_probes(box: Box3D, axes: np.ndarray) -> np.ndarray:
    """Points outside each face in ``_FACES`` at each ``PROBE_DISTANCES_M``: a 3 x 3 grid
    over the face; (faces * distances * 9, 3) world metres."""
    out = []
    e = [np.array([axes[0, 0], axes[0, 1], 0.0]), np.array([axes[1, 0], axes[1, 1], 0.0]), np.array([0.0, 0.0, 1.0])]
    half = np.asarray(box.size, np.float64) / 2
    for axis, sign in _FACES:
        a, b = [i for i in range(3) if i != axis]
        ga, gb = np.meshgrid(_GRID * 2 * half[a], _GRID * 2 * half[b], indexing="ij")
        face = (
            np.asarray(box.center, np.float64)[None]
            + sign * half[axis] * e[axis][None]
            + ga.reshape(-1, 1) * e[a][None]
            + gb.reshape(-1, 1) * e[b][None]
        )
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
            raise FormatError(
                f"BoxRefiner: expected w0 ({N_FEATURES}, H) and w2 (H, 7), got "
                f"{params['w0'].shape} and {params['w2'].shape}"
            )
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

    def refine(self, views: list[ClusterView], semantic_map: SemanticMap, floor_z_m: float, spread=None):
        """Refined boxes and existence probabilities of ``views``: (list[Box3D], (N,)).
        ``spread``: as in ``cluster_features``."""
        if not isinstance(semantic_map, SemanticMap):
            raise InputError(f"BoxRefiner.refine: expected a SemanticMap, got {type(semantic_map).__name__}")
        bad = [type(v).__name__ for v in views if not isinstance(v, ClusterView)]
        if bad:
            raise InputError(f"BoxRefiner.refine: expected ClusterView items, got {bad[0]}")
        if not views:
            return [], np.zeros(0, np.float32)
        deltas, score = self.predict(cluster_features(views, semantic_map, floor_z_m, spread))
        return [apply_deltas(v, d) for v, d in zip(views, deltas)], score

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.safetensors, card in its metadata) and the card beside it as
        ``.json`` with the sha256 of the weights file (checked by ``load``); both atomically."""
        from safetensors.numpy import save

        path = Path(path)
        card = {k: v for k, v in self.card.items() if k != "sha256"}  # the digest of earlier weights
        data = save(self.params, metadata={"card": json.dumps(card)})
        side = {**card, "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_files({path: data, path.with_suffix(".json"): json.dumps(side, indent=2) + "\n"})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike = DEFAULT_WEIGHTS) -> BoxRefiner:
        """Read weights written by ``save`` (safetensors: nothing is unpickled).

        When the card beside the file (``.json``) records a ``sha256``, the file must match
        it (and the loaded ``card`` carries it); the arrays must have the shapes
        ``__init__`` checks and be finite.

        Raises:
            FormatError: a missing, corrupt or altered file or card."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise FormatError(f"BoxRefiner.load: no such file {path}")
        side = path.with_suffix(".json")
        expected = None
        if side.is_file():
            try:
                expected = json.loads(side.read_text()).get("sha256")
            except (ValueError, AttributeError) as e:  # JSONDecodeError, UnicodeDecodeError; a non-object
                raise FormatError(f"BoxRefiner.load: the card {side} is not a JSON object ({e})") from None
            if expected is not None:
                actual = hashlib.sha256(path.read_bytes()).hexdigest()
                if actual != expected:
                    raise FormatError(
                        f"BoxRefiner.load: {path} is corrupt or was changed after its card was "
                        f"written: sha256 {actual}, its card {side} expects {expected}; restore "
                        "the file (reinstall real3d for the shipped one) or train it again"
                    )
        try:
            with safe_open(str(path), framework="numpy") as fh:
                params = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is not iterable)
                meta = fh.metadata() or {}
            card = json.loads(meta.get("card", "{}"))
        except (SafetensorError, OSError, ValueError) as e:
            raise FormatError(f"BoxRefiner.load: {path} is not a readable safetensors file: {e}") from e
        if not isinstance(card, dict):
            raise FormatError(
                f"BoxRefiner.load: {path} carries a card of type {type(card).__name__}, expected an object"
            )
        if expected is not None:
            card["sha256"] = expected  # the card as written beside the file
        bad = [k for k, v in params.items() if v.dtype.kind != "f" or v.ndim not in (1, 2) or not np.isfinite(v).all()]
        if bad:
            raise FormatError(f"BoxRefiner.load: {path} array {bad[0]!r} is not a finite float vector or matrix")
        p = params
        if set(p) == {"mean", "std", "w0", "b0", "w1", "b1", "w2", "b2"} and p["w0"].ndim == 2:
            shapes_ok = (
                p["mean"].shape == p["std"].shape == (p["w0"].shape[0],)
                and p["w1"].ndim == 2
                and p["w2"].ndim == 2
                and p["b0"].shape == (p["w0"].shape[1],)
                and p["w1"].shape[0] == p["w0"].shape[1]
                and p["b1"].shape == (p["w1"].shape[1],)
                and p["w2"].shape[0] == p["w1"].shape[1]
                and p["b2"].shape == (p["w2"].shape[1],)
            )
            if not shapes_ok:
                raise FormatError(
                    f"BoxRefiner.load: {path} holds layers whose shapes do not chain: "
                    f"{ {k: v.shape for k, v in p.items()} }"
                )
            if not (p["std"] > 0).all():
                raise FormatError(f"BoxRefiner.load: {path} array 'std' has values <= 0")
        return cls(params, card)


def load_default_refiner() -> BoxRefiner | None:
    """The shipped refiner, or None when the weights are not installed."""
    if not DEFAULT_WEIGHTS.is_file():
        return None
    return BoxRefiner.load(DEFAULT_WEIGHTS)


def check_refiner(obj) -> BoxRefiner:
    if not isinstance(obj, BoxRefiner):
        raise ConfigError(f"expected a real3d.scene.refine.BoxRefiner, got {type(obj).__name__}")
    return obj
