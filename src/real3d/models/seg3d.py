"""3D semantic and instance segmentation on the fused map: a sparse U-Net over its voxels.

``Seg3DNet`` reads the voxels of a ``SemanticMap`` (or of a ``MapSample``, the same arrays
on disk) and predicts, per voxel:

* class logits over the NYUv2-13 classes (id k + 1 in column k). The 2D fusion's evidence
  is an input and also a skip to the output (``logits = head(features) + s * evidence``),
  so an untrained head starts from the map's own answer and learns corrections to it;
* an offset (metres, world frame) from the voxel's surface point to the centre of the
  object it belongs to, as in PointGroup-style instance segmentation: points shifted by
  their offsets gather at their object's centre and are grouped there
  (``cluster_instances``);
* per-voxel feature vectors (``features``, the decoder's last level), reusable by other
  networks (e.g. as a distillation target).

Input encodings (``ENCODINGS``, chosen per preset, concatenated in order):
``occupancy`` 1 (always 1: where the map has a voxel), ``tsdf`` 1 (in [-1, 1], > 0 in front
of surfaces), ``weight`` 1 (log of the TSDF observation count, scaled), ``color`` 3 (RGB,
centred), ``evidence`` 14 (the 2D fusion's class posterior over the 13 classes, uniform
where nothing was seen, and a seen flag), ``ternary`` 3 (one-hot: occupied = observed with
TSDF <= 0; observed free = observed with TSDF > 0, or inside a coarse cell of the map's
free-space evidence; unknown = neither). ``geometry`` is occupancy + tsdf + weight.

Frames and units: voxel ``coords`` are integer indices on the map's grid (world frame, z up,
``voxel_size_m`` per cell); points and offsets are world metres.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from real3d.core.errors import ConfigError, FormatError, InputError, describe_array
from real3d.core.files import atomic_write_files
from real3d.sparse.tensor import SparseTensor, check_coords, pack_keys
from real3d.sparse.unet import SparseUNet, SparseUNetConfig

NUM_CLASSES = 13
# log-evidence below this (relative to the best class) adds nothing more to the skip
_EVIDENCE_FLOOR = -10.0
# log1p(weight) / this: about 1 at 50 observations
_WEIGHT_SCALE = float(np.log1p(50.0))

ENCODINGS = {"occupancy": 1, "tsdf": 1, "weight": 1, "color": 3, "evidence": NUM_CLASSES + 1, "ternary": 3}
ENCODING_ALIASES = {"geometry": ("occupancy", "tsdf", "weight")}

# Classes whose voxels are grouped into object instances (the scene graph's objects); the
# structure classes (floor, wall, ceiling, window) are left to the graph's own clustering.
THING_CLASSES = (1, 2, 4, 6, 7, 8, 9, 10, 11)


def expand_encoding(encoding) -> tuple[str, ...]:
    """Encoding names with aliases (``geometry``) expanded; raises ConfigError for unknown."""
    if isinstance(encoding, str):
        encoding = (encoding,)
    out: list[str] = []
    for name in encoding:
        for n in ENCODING_ALIASES.get(name, (name,)):
            if n not in ENCODINGS:
                raise ConfigError(
                    f"unknown 3D input encoding {n!r}; valid: {', '.join((*ENCODINGS, *ENCODING_ALIASES))}"
                )
            if n not in out:
                out.append(n)
    if not out:
        raise ConfigError("a 3D input encoding needs at least one channel group")
    return tuple(out)


@dataclass(frozen=True)
class Seg3DConfig:
    """Shape and inputs of a ``Seg3DNet``.

    Attributes:
        name: preset or model name.
        encoding: input channel groups (``ENCODINGS`` names or ``geometry``), in order.
        channels: feature channels per U-Net level (len - 1 downsamplings by 2).
        kernel_size: submanifold kernel edge, cells.
        instance_head: predict per-voxel offsets to object centres.
        evidence_skip: add the 2D fusion's log-evidence to the logits (needs ``evidence``).
        voxel_size_m: the map voxel size the network was trained for, metres.
    """

    name: str = "seg3d-small"
    encoding: tuple[str, ...] = ("geometry", "color", "evidence")
    channels: tuple[int, ...] = (32, 48, 64, 96)
    kernel_size: int = 3
    instance_head: bool = True
    evidence_skip: bool = True
    voxel_size_m: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Seg3DConfig.name: expected a non-empty string, got {self.name!r}")
        if not isinstance(self.encoding, (str, tuple, list)):
            raise ConfigError(f"Seg3DConfig.encoding: expected encoding names, got {self.encoding!r}")
        object.__setattr__(self, "encoding", expand_encoding(self.encoding))
        if (
            not isinstance(self.channels, (tuple, list))
            or not self.channels
            or any(
                isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 1 <= c <= 4096 for c in self.channels
            )
        ):
            raise ConfigError(f"Seg3DConfig.channels: expected integers in 1..4096, got {self.channels!r}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if isinstance(self.kernel_size, bool) or not isinstance(self.kernel_size, int):
            raise ConfigError(f"Seg3DConfig.kernel_size: expected an odd integer, got {self.kernel_size!r}")
        for flag in ("instance_head", "evidence_skip"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"Seg3DConfig.{flag}: expected true or false, got {getattr(self, flag)!r}")
        if self.evidence_skip and "evidence" not in self.encoding:
            raise ConfigError(f"{self.name}: evidence_skip needs the 'evidence' encoding, got {self.encoding}")
        v = self.voxel_size_m
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"Seg3DConfig.voxel_size_m: expected a finite value > 0, got {v!r}")
        SparseUNetConfig(self.in_channels, NUM_CLASSES, self.channels, self.kernel_size)

    @property
    def in_channels(self) -> int:
        return sum(ENCODINGS[n] for n in self.encoding)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["encoding"], d["channels"] = list(self.encoding), list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Seg3DConfig:
        if not isinstance(d, dict):
            raise FormatError(f"Seg3DConfig: expected an object, got {type(d).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        extra = set(d) - known
        if extra:
            raise FormatError(f"Seg3DConfig: unknown fields {sorted(extra)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


PRESETS3D = {
    "seg3d-tiny": Seg3DConfig(name="seg3d-tiny", channels=(16, 32, 48)),
    "seg3d-small": Seg3DConfig(name="seg3d-small"),
    "seg3d-small-ternary": Seg3DConfig(
        name="seg3d-small-ternary", encoding=("geometry", "ternary", "color", "evidence")
    ),
    "seg3d-geometry": Seg3DConfig(name="seg3d-geometry", encoding=("geometry",), evidence_skip=False),
    "seg3d-ternary": Seg3DConfig(name="seg3d-ternary", encoding=("occupancy", "ternary"), evidence_skip=False),
    "seg3d-color": Seg3DConfig(name="seg3d-color", encoding=("occupancy", "color"), evidence_skip=False),
    "seg3d-geometry-color": Seg3DConfig(
        name="seg3d-geometry-color", encoding=("geometry", "color"), evidence_skip=False
    ),
}


def _rows(arrays: dict, name: str, n: int, cols: int | None, where: str) -> np.ndarray:
    if name not in arrays:
        raise InputError(f"{where}: missing voxel array {name!r}")
    a = np.asarray(arrays[name])
    if a.shape[0] != n or (cols is None and a.ndim != 1) or (cols is not None and a.shape[1:] != (cols,)):
        want = f"({n},)" if cols is None else f"({n}, {cols})"
        raise InputError(f"{where}: voxel array {name!r} expected {want}, got {describe_array(a)}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InputError(f"{where}: voxel array {name!r} has NaN or inf")
    return a


def observed_free(coords: np.ndarray, voxel_size_m: float, free_coords: np.ndarray, free_size_m: float) -> np.ndarray:
    """(N,) bool: the centre of voxel ``coords`` (N, 3) int (edge ``voxel_size_m``) lies in
    one of the coarse cells ``free_coords`` (M, 3) int (edge ``free_size_m``) observed free."""
    coords = np.asarray(coords)
    free_coords = np.asarray(free_coords)
    if len(coords) == 0 or len(free_coords) == 0:
        return np.zeros(len(coords), bool)
    cell = np.floor((coords.astype(np.float64) + 0.5) * (voxel_size_m / free_size_m)).astype(np.int64)
    lo = np.minimum(cell.min(axis=0), free_coords.min(axis=0))
    span = np.maximum(cell.max(axis=0), free_coords.max(axis=0)) - lo + 1

    def key(c):
        c = np.asarray(c, np.int64) - lo
        return (c[:, 0] * span[1] + c[:, 1]) * span[2] + c[:, 2]

    return np.isin(key(cell), key(free_coords))


def voxel_arrays(source) -> dict[str, np.ndarray]:
    """The per-voxel arrays a ``Seg3DNet`` reads, from a ``SemanticMap`` (its
    ``voxel_arrays``, void evidence column dropped) or a ``MapSample``: coords (N, 3) int,
    tsdf, weight, color (N, 3) 0..255, log_evidence (N, 13), class_weight (N,),
    observed_free (N,) bool (``observed_free`` of the map's free cells), and ``points``
    (N, 3) world metres when the source has them."""
    if hasattr(source, "voxel_arrays") and hasattr(source, "semantic_points"):
        a = source.voxel_arrays()
        out = {k: a[k] for k in ("coords", "tsdf", "weight", "color", "class_weight")}
        out["log_evidence"] = a["log_evidence"][:, 1:]
        if hasattr(source, "free_cells"):
            xyz, size = source.free_cells()
            free = np.floor(xyz / size).astype(np.int64) if len(xyz) else np.zeros((0, 3), np.int64)
            out["observed_free"] = observed_free(out["coords"], source.voxel_size_m, free, size)
        return out
    if all(hasattr(source, k) for k in ("coords", "tsdf", "log_evidence", "points")):
        out = {
            k: getattr(source, k)
            for k in ("coords", "tsdf", "weight", "color", "log_evidence", "class_weight", "points")
        }
        if hasattr(source, "free_coords"):
            out["observed_free"] = observed_free(
                source.coords, source.voxel_size_m, source.free_coords, source.free_voxel_size_m
            )
        return out
    if isinstance(source, dict):
        return source
    raise InputError(f"expected a SemanticMap, a MapSample or a dict of voxel arrays, got {type(source).__name__}")


def encode_voxels(arrays: dict, encoding) -> np.ndarray:
    """(N, C) float32 network input for voxel ``arrays`` (see ``voxel_arrays``), channel
    groups in ``encoding`` order (see the module docstring)."""
    encoding = expand_encoding(encoding)
    coords = np.asarray(arrays.get("coords", np.zeros((0, 3))))
    n = coords.shape[0]
    where = "encode_voxels"
    parts = []
    for name in encoding:
        if name == "occupancy":
            parts.append(np.ones((n, 1), np.float32))
        elif name == "tsdf":
            parts.append(np.clip(_rows(arrays, "tsdf", n, None, where), -1, 1)[:, None].astype(np.float32))
        elif name == "weight":
            w = np.maximum(_rows(arrays, "weight", n, None, where), 0)
            parts.append((np.log1p(w) / _WEIGHT_SCALE)[:, None].astype(np.float32))
        elif name == "color":
            parts.append((_rows(arrays, "color", n, 3, where).astype(np.float32) / 255.0 - 0.5))
        elif name == "evidence":
            ev = _rows(arrays, "log_evidence", n, NUM_CLASSES, where).astype(np.float32)
            seen = _rows(arrays, "class_weight", n, None, where) > 0
            e = np.exp(ev - ev.max(axis=1, keepdims=True))
            post = e / e.sum(axis=1, keepdims=True)
            post[~seen] = 1.0 / NUM_CLASSES
            parts.append(np.concatenate((post, seen[:, None].astype(np.float32)), axis=1))
        elif name == "ternary":
            seen = _rows(arrays, "weight", n, None, where) > 0
            front = _rows(arrays, "tsdf", n, None, where) > 0
            free_cell = _rows(arrays, "observed_free", n, None, where).astype(bool)
            occ = seen & ~front
            free = ~occ & ((seen & front) | free_cell)
            parts.append(np.stack((occ, free, ~(occ | free)), axis=1).astype(np.float32))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def evidence_prior(arrays: dict) -> np.ndarray:
    """(N, 13) float32 the fusion's log-evidence relative to its best class, floored at
    -10, 0 where nothing was seen (the skip added to the logits)."""
    ev = np.asarray(arrays["log_evidence"], np.float32)
    prior = np.maximum(ev - ev.max(axis=1, keepdims=True), _EVIDENCE_FLOOR)
    prior[np.asarray(arrays["class_weight"]) <= 0] = 0.0
    return prior.astype(np.float32)


def sparse_batch(
    batch: list[dict], encoding, with_prior: bool, name: str
) -> tuple[SparseTensor, torch.Tensor | None, np.ndarray]:
    """Encoded voxels of voxel-array dicts (batch index = position in ``batch``) as a
    stride-1 ``SparseTensor`` sorted by key, the evidence prior in its row order (None
    without ``with_prior``), and ``order``: tensor row r holds input row ``order[r]`` of
    the dicts concatenated. ``name`` prefixes the errors.

    Raises:
        InputError: not a non-empty list of dicts with ``coords`` (N, 3) int, or no voxel.
    """
    if not isinstance(batch, (list, tuple)) or not batch:
        raise InputError(f"{name}: expected a non-empty list of voxel-array dicts, got {batch!r:.60}")
    coords, feats, priors = [], [], []
    for b, arrays in enumerate(batch):
        if not isinstance(arrays, dict) or "coords" not in arrays:
            raise InputError(f"{name}: batch item {b}: expected a dict of voxel arrays with 'coords'")
        c = np.asarray(arrays["coords"])
        if c.ndim != 2 or c.shape[1] != 3 or c.dtype.kind not in "iu":
            raise InputError(f"{name}: voxel coords expected (N, 3) int, got {describe_array(c)}")
        coords.append(np.concatenate((np.full((len(c), 1), b, np.int64), c.astype(np.int64)), axis=1))
        feats.append(encode_voxels(arrays, encoding))
        if with_prior:
            priors.append(evidence_prior(arrays))
    allc = torch.from_numpy(np.concatenate(coords))
    if allc.shape[0] == 0:
        raise InputError(f"{name}: no voxel to segment")
    check_coords(allc.to(torch.int32), name)
    keys = pack_keys(allc)
    order = torch.argsort(keys, stable=True)
    x = SparseTensor(allc[order].to(torch.int32), torch.from_numpy(np.concatenate(feats))[order], _keys=keys[order])
    prior = torch.from_numpy(np.concatenate(priors))[order] if priors else None
    return x, prior, order.numpy()


def forward_rows(net, arrays: dict) -> dict[str, torch.Tensor]:
    """``net.forward`` on one dict of voxel arrays (``net.input_batch([arrays])``), each
    output row-aligned with ``arrays`` again (the sparse input is sorted by key)."""
    x, prior, order = net.input_batch([arrays])
    out = net.forward(x, prior)
    inv = torch.empty(len(order), dtype=torch.int64)
    inv[torch.from_numpy(order)] = torch.arange(len(order))
    return {k: v.index_select(0, inv) for k, v in out.items()}


@dataclass
class Seg3DOutput:
    """What ``Seg3DNet.predict`` returns for N voxels (row-aligned with the input arrays).

    Attributes:
        labels: (N,) uint8 NYUv2-13 ids 1..13.
        probs: (N, 13) float32 class probabilities, class k + 1 in column k.
        offsets: (N, 3) float32 metres to the object centre, or None without instance head.
        features: (N, F) float32 per-voxel features (F = channels[0]).
    """

    labels: np.ndarray
    probs: np.ndarray
    offsets: np.ndarray | None
    features: np.ndarray = field(repr=False)


@torch.no_grad()
def predict_voxels(net, source) -> Seg3DOutput:
    """``Seg3DOutput`` of ``net`` (in eval mode for the call) for every voxel of ``source``
    (a ``SemanticMap``, a ``MapSample`` or voxel arrays), in the source's row order;
    ``offsets`` None when the net has no instance head."""
    was = net.training
    net.eval()
    try:
        out = forward_rows(net, voxel_arrays(source))
    finally:
        net.train(was)
    probs = torch.softmax(out["logits"], dim=1).numpy().astype(np.float32)
    labels = (probs.argmax(axis=1) + 1).astype(np.uint8)
    offsets = out["offsets"].numpy().astype(np.float32) if "offsets" in out else None
    return Seg3DOutput(labels, probs, offsets, out["features"].numpy().astype(np.float32))


class Seg3DNet(nn.Module):
    """Sparse U-Net over map voxels: class logits, centre offsets, features (see the
    module docstring)."""

    def __init__(self, config: Seg3DConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or Seg3DConfig()
        self.backbone = SparseUNet(SparseUNetConfig(cfg.in_channels, NUM_CLASSES, cfg.channels, cfg.kernel_size))
        c0 = cfg.channels[0]
        self.offset_head = nn.Sequential(nn.Linear(c0, c0), nn.ReLU(), nn.Linear(c0, 3)) if cfg.instance_head else None
        self.evidence_scale = nn.Parameter(torch.ones(())) if cfg.evidence_skip else None
        if cfg.evidence_skip:
            # a fresh network answers exactly what the fusion says; training adds corrections
            nn.init.zeros_(self.backbone.head.weight)
            nn.init.zeros_(self.backbone.head.bias)
        self.card: dict | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def feature_dim(self) -> int:
        return self.config.channels[0]

    def input_batch(self, batch: list[dict]) -> tuple[SparseTensor, torch.Tensor | None, np.ndarray]:
        """Encoded voxels of one or more voxel-array dicts (batch index = position) as a
        stride-1 ``SparseTensor``, the evidence prior in the tensor's row order (None
        without ``evidence_skip``), and ``order``: tensor row r holds input row
        ``order[r]`` of the dicts concatenated. Voxel coords must be unique per dict (a
        map's are)."""
        return sparse_batch(batch, self.config.encoding, self.evidence_scale is not None, self.name)

    def forward(self, x: SparseTensor, prior: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x: (N, in_channels) sites; prior: (N, 13) evidence skip (``evidence_prior``) in
        the same row order, required with ``evidence_skip``. Returns logits (N, 13),
        features (N, F) and, with the instance head, offsets (N, 3) metres."""
        if x.feats.shape[1] != self.config.in_channels:
            raise InputError(f"{self.name}: expected {self.config.in_channels} input channels, got {x.feats.shape[1]}")
        f = self.backbone.features(x).feats
        logits = self.backbone.head(f)
        if self.evidence_scale is not None:
            if prior is None or prior.shape != logits.shape:
                raise InputError(
                    f"{self.name}: evidence prior expected ({len(f)}, {NUM_CLASSES}), got "
                    f"{None if prior is None else tuple(prior.shape)}"
                )
            logits = logits + self.evidence_scale * prior
        out = {"logits": logits, "features": f}
        if self.offset_head is not None:
            out["offsets"] = self.offset_head(f)
        return out

    def forward_arrays(self, arrays: dict) -> dict[str, torch.Tensor]:
        """``forward`` on one dict of voxel arrays; outputs row-aligned with ``arrays``."""
        return forward_rows(self, arrays)

    @torch.no_grad()
    def predict(self, source) -> Seg3DOutput:
        """Labels, probabilities, offsets and features for every voxel of ``source`` (a
        ``SemanticMap``, a ``MapSample`` or voxel arrays), in the source's row order."""
        return predict_voxels(self, source)


def cluster_instances(
    points: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    radius_m: float = 0.1,
    min_points: int = 20,
    classes: tuple[int, ...] = THING_CLASSES,
    adjacency_m: float | None = None,
) -> np.ndarray:
    """Object instances from centre offsets, per class.

    Two ways to link two points of a class (linked points, transitively, form an instance):

    * ``adjacency_m`` None (PointGroup's shifted-point grouping): their shifted points
      (point + offset) lie within ``radius_m``;
    * ``adjacency_m`` given (region growing cut by the offsets): the points themselves lie
      within ``adjacency_m`` and their shifted points within ``radius_m``. An instance is
      then always a connected surface, and two touching objects part where their predicted
      centres differ; noise in the offsets only matters where it jumps between neighbours.

    Args:
        points: (N, 3) float world metres; offsets: (N, 3) float metres; labels: (N,) ids.
        min_points: smaller groups get no instance.
        classes: class ids grouped; other voxels get 0.

    Returns:
        (N,) int32 instance ids 1..K (0 = none), numbered by class then size.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = np.asarray(points, np.float64)
    offsets = np.asarray(offsets, np.float64)
    labels = np.asarray(labels)
    n = points.shape[0]
    if points.shape != (n, 3) or offsets.shape != (n, 3) or labels.shape != (n,):
        raise InputError(
            f"cluster_instances: expected points (N, 3), offsets (N, 3), labels (N,), got "
            f"{describe_array(points)}, {describe_array(offsets)}, {describe_array(labels)}"
        )
    if not radius_m > 0 or (adjacency_m is not None and not adjacency_m > 0):
        raise InputError(f"cluster_instances: radius_m and adjacency_m must be > 0, got {radius_m}, {adjacency_m}")
    out = np.zeros(n, np.int32)
    next_id = 1
    shifted = points + offsets
    for c in classes:
        rows = np.flatnonzero(labels == c)
        if rows.size < min_points:
            continue
        if adjacency_m is None:
            pairs = cKDTree(shifted[rows]).query_pairs(radius_m, output_type="ndarray")
        else:
            pairs = cKDTree(points[rows]).query_pairs(adjacency_m, output_type="ndarray")
            d = np.linalg.norm(shifted[rows[pairs[:, 0]]] - shifted[rows[pairs[:, 1]]], axis=1)
            pairs = pairs[d <= radius_m]
        m = rows.size
        graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
        _, comp = connected_components(graph, directed=False)
        sizes = np.bincount(comp)
        for k in np.argsort(-sizes, kind="stable"):
            if sizes[k] < min_points:
                break
            out[rows[comp == k]] = next_id
            next_id += 1
    return out


def clean_islands(coords: np.ndarray, labels: np.ndarray, min_voxels: int) -> np.ndarray:
    """Relabel small islands: connected groups (26-neighbourhood on the voxel grid) of one
    class with fewer than ``min_voxels`` voxels take the class most of their neighbours of
    other classes have (an island with no such neighbour keeps its class).

    A map's per-home mIoU counts a class predicted on a handful of scattered voxels as a
    whole class at IoU 0; such specks are almost always label noise of the fusion or the
    network, not objects.

    Args:
        coords: (N, 3) int voxel indices (unique).
        labels: (N,) int class ids; 0 (unlabelled) voxels are neither islands nor neighbours.
        min_voxels: islands smaller than this are relabelled (0 or 1: nothing changes).

    Returns:
        (N,) labels, same dtype, a new array.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    coords = np.asarray(coords)
    labels = np.asarray(labels)
    n = coords.shape[0]
    if coords.ndim != 2 or coords.shape[1] != 3 or coords.dtype.kind not in "iu" or labels.shape != (n,):
        raise InputError(
            f"clean_islands: expected coords (N, 3) int and labels (N,), got {describe_array(coords)}, "
            f"{describe_array(labels)}"
        )
    if isinstance(min_voxels, bool) or not isinstance(min_voxels, (int, np.integer)) or min_voxels < 0:
        raise InputError(f"clean_islands: min_voxels must be an integer >= 0, got {min_voxels!r}")
    out = labels.copy()
    rows = np.flatnonzero(labels > 0)
    if min_voxels <= 1 or rows.size < 2:
        return out
    lab = labels[rows].astype(np.int64)
    pairs = cKDTree(coords[rows].astype(np.float64)).query_pairs(1.8, output_type="ndarray")  # 26 neighbours
    same = lab[pairs[:, 0]] == lab[pairs[:, 1]]
    p = pairs[same]
    graph = coo_matrix((np.ones(len(p), np.int8), (p[:, 0], p[:, 1])), shape=(rows.size, rows.size))
    _, comp = connected_components(graph, directed=False)
    small = np.bincount(comp)[comp] < min_voxels
    if not small.any():
        return out
    # votes of each small island's neighbours that are not in small islands themselves
    x = pairs[~same]
    a, b = np.concatenate((x[:, 0], x[:, 1])), np.concatenate((x[:, 1], x[:, 0]))
    k = small[a] & ~small[b]
    nc = int(lab.max()) + 1
    votes = np.bincount(comp[a[k]] * nc + lab[b[k]], minlength=(int(comp.max()) + 1) * nc).reshape(-1, nc)
    fix = small & (votes.sum(axis=1) > 0)[comp]
    new = lab.copy()
    new[fix] = votes.argmax(axis=1)[comp[fix]]
    out[rows] = new.astype(labels.dtype)
    return out


# ---------------------------------------------------------------------------- weights
def save_seg3d(net: Seg3DNet, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Write ``net`` to ``path`` (.safetensors) and its card to ``path.with_suffix('.json')``
    (config + ``card``), both whole or not at all."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(f"save_seg3d: expected a .safetensors path, got {path}")
    from real3d.models.cards import DIGEST_KEY, bytes_sha256

    full = {"kind": "seg3d", "config": net.config.to_dict(), **(card or {})}
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    blob = save(tensors, metadata={"real3d": "seg3d"})
    full[DIGEST_KEY] = bytes_sha256(blob)  # checked by load_seg3d
    atomic_write_files({path: blob, path.with_suffix(".json"): json.dumps(full, indent=2).encode()})
    return path


def load_seg3d(path: str | os.PathLike) -> Seg3DNet:
    """A ``Seg3DNet`` from ``save_seg3d`` output, in eval mode, with ``card`` set.

    The file is checked against its card's ``sha256`` (a card without one loads with an
    ``UnverifiedWeightsWarning``) and its tensors must be finite.

    Raises:
        FormatError: missing, corrupt or altered files, another kind of model, an invalid
            config, or weights that do not fit."""
    from real3d.models.cards import parse_card
    from real3d.models.pretrained import load_card_weights

    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FormatError(f"load_seg3d: expected {path} and its card {card_path}")
    card = parse_card(card_path.read_bytes(), card_path)
    if card.get("kind") != "seg3d":
        raise FormatError(f"load_seg3d: {card_path} is not a 3D segmentation model card")
    if not isinstance(card.get("config"), dict):
        raise FormatError(f"load_seg3d: {card_path} field config: expected an object, got {card.get('config')!r}")
    try:
        net = Seg3DNet(Seg3DConfig.from_dict(card["config"]))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise FormatError(f"load_seg3d: {card_path} has an invalid 'config' ({type(e).__name__}: {e})") from None
    load_card_weights(net, path, card, "load_seg3d")
    net.card = card
    return net.eval()


SHIPPED3D = ("seg3d-default",)


def create_seg3d(spec: str | os.PathLike | Seg3DConfig = "seg3d-small") -> Seg3DNet:
    """A shipped name (``SHIPPED3D``: trained weights in ``real3d/weights``), a preset name
    (random init), a weights path or a config -> ``Seg3DNet``."""
    if isinstance(spec, Seg3DConfig):
        return Seg3DNet(spec)
    s = str(spec)
    if s in SHIPPED3D:
        from real3d.models.pretrained import WEIGHTS_DIR

        return load_seg3d(WEIGHTS_DIR / f"{s}.safetensors")
    if s in PRESETS3D:
        return Seg3DNet(PRESETS3D[s])
    if s.endswith(".safetensors") or Path(s).exists():
        return load_seg3d(s)
    raise ConfigError(
        f"unknown 3D model {s!r}; expected a .safetensors path or one of {', '.join((*SHIPPED3D, *PRESETS3D))}"
    )


def with_encoding(config: Seg3DConfig, encoding, name: str | None = None) -> Seg3DConfig:
    """``config`` with another input encoding (evidence skip only when it has evidence)."""
    enc = expand_encoding(encoding)
    return replace(
        config, encoding=enc, evidence_skip=config.evidence_skip and "evidence" in enc, name=name or config.name
    )


def widen_encoding(net: Seg3DNet, encoding, name: str | None = None) -> Seg3DNet:
    """A new ``Seg3DNet`` reading ``encoding`` that starts as ``net``: every weight is
    copied, and the first convolution's weights for input groups that ``net`` does not
    read are zero, so the new network gives ``net``'s outputs until trained (a fine-tune
    that adds an input, e.g. ``ternary``). Every group of ``net``'s encoding must be in
    ``encoding``; raises ConfigError otherwise."""
    new_cfg = with_encoding(net.config, encoding, name=name)
    missing = [g for g in net.config.encoding if g not in new_cfg.encoding]
    if missing:
        raise ConfigError(f"widen_encoding: {new_cfg.encoding} lacks the groups {missing} that {net.name} reads")

    def offsets(enc):
        out, at = {}, 0
        for g in enc:
            out[g] = (at, at + ENCODINGS[g])
            at += ENCODINGS[g]
        return out

    old_at, new_at = offsets(net.config.encoding), offsets(new_cfg.encoding)
    wide = Seg3DNet(new_cfg)
    state = net.state_dict()
    key = "backbone.stem.0.conv.weight"  # (kernel volume, in_channels, out_channels)
    w_old = state[key]
    w_new = torch.zeros(w_old.shape[0], new_cfg.in_channels, w_old.shape[2], dtype=w_old.dtype)
    for g, (a, b) in old_at.items():
        c, d = new_at[g]
        w_new[:, c:d] = w_old[:, a:b]
    state = dict(state)
    state[key] = w_new
    wide.load_state_dict(state)
    return wide.train(net.training)
