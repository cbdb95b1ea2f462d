"""Points and semantic maps -> SparseTensor, and voxel features back to points."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.sparse.tensor import (
    COORD_MAX,
    COORD_MIN,
    SparseTensor,
    check_coords,
    pack_keys,
    unpack_keys,
)


def voxelize(
    points: torch.Tensor, feats: torch.Tensor, voxel_size_m: float, batch: torch.Tensor | None = None
) -> tuple[SparseTensor, torch.Tensor]:
    """Average point features per voxel.

    Args:
        points: (N, 3) float metres, any frame; voxel (i, j, k) holds the points with
            ``floor(points / voxel_size_m) == (i, j, k)``.
        feats: (N, C) float32 or float64 features. Sums are accumulated in float64, so a
            float32 feature that is constant within a voxel comes back exactly.
        voxel_size_m: voxel edge in metres (> 0).
        batch: optional (N,) integer batch index per point (>= 0); all 0 if None.

    Returns:
        (stride-1 SparseTensor with the mean features in ``feats.dtype``,
        point_to_voxel (N,) int64 row of each point's voxel).
    """
    if (
        not isinstance(points, torch.Tensor)
        or points.ndim != 2
        or points.shape[1] != 3
        or not points.is_floating_point()
    ):
        raise InputError(f"voxelize: expected points (N, 3) float metres, got {describe_array(points)}")
    if points.shape[0] == 0:
        raise InputError("voxelize: expected at least one point, got (0, 3)")
    if (
        not isinstance(feats, torch.Tensor)
        or feats.ndim != 2
        or feats.shape[0] != points.shape[0]
        or not feats.is_floating_point()
    ):
        raise InputError(f"voxelize: expected feats ({points.shape[0]}, C) float, got {describe_array(feats)}")
    if not (isinstance(voxel_size_m, (int, float)) and not isinstance(voxel_size_m, bool) and voxel_size_m > 0):
        raise InputError(f"voxelize: expected voxel_size_m > 0 (metres), got {voxel_size_m!r}")
    if not bool(torch.isfinite(points).all()):
        raise InputError("voxelize: points contain NaN or inf")
    n = points.shape[0]
    if batch is None:
        batch = torch.zeros(n, dtype=torch.int64)
    elif not isinstance(batch, torch.Tensor) or batch.shape != (n,) or batch.is_floating_point():
        raise InputError(f"voxelize: expected batch ({n},) integer, got {describe_array(batch)}")
    cells = torch.floor(points.to(torch.float64) / float(voxel_size_m))
    lo, hi = float(cells.min()), float(cells.max())
    if lo < COORD_MIN or hi > COORD_MAX:
        raise InputError(
            f"voxelize: voxel indices span [{lo:.0f}, {hi:.0f}], outside [{COORD_MIN}, {COORD_MAX}]; "
            "use a larger voxel or shift the points"
        )
    coords = torch.cat((batch.to(torch.int64).unsqueeze(1), cells.to(torch.int64)), dim=1).to(torch.int32)
    check_coords(coords, "voxelize")
    keys, point_to_voxel = torch.unique(pack_keys(coords), sorted=True, return_inverse=True)
    m = keys.shape[0]
    sums = torch.zeros((m, feats.shape[1]), dtype=torch.float64).index_add_(0, point_to_voxel, feats.to(torch.float64))
    counts = torch.bincount(point_to_voxel, minlength=m).to(torch.float64)
    mean = (sums / counts.unsqueeze(1)).to(feats.dtype)
    return SparseTensor(unpack_keys(keys), mean, 1, _keys=keys), point_to_voxel


def devoxelize(x: SparseTensor | torch.Tensor, point_to_voxel: torch.Tensor) -> torch.Tensor:
    """Each point takes its voxel's features: (N, C) = ``feats[point_to_voxel]``.

    Args:
        x: SparseTensor (or its (M, C) features) at the sites ``voxelize`` returned.
        point_to_voxel: (N,) int64 rows from ``voxelize``.
    """
    feats = x.feats if isinstance(x, SparseTensor) else x
    if not isinstance(point_to_voxel, torch.Tensor) or point_to_voxel.ndim != 1 or point_to_voxel.dtype != torch.int64:
        raise InputError(f"devoxelize: expected point_to_voxel (N,) int64, got {describe_array(point_to_voxel)}")
    if point_to_voxel.numel() and (int(point_to_voxel.min()) < 0 or int(point_to_voxel.max()) >= feats.shape[0]):
        raise InputError(f"devoxelize: point_to_voxel must index {feats.shape[0]} voxels, got values out of range")
    return feats.index_select(0, point_to_voxel)


def _occupancy(a: dict, m) -> np.ndarray:
    return np.ones((a["tsdf"].shape[0], 1), np.float32)


def _tsdf(a: dict, m) -> np.ndarray:
    return a["tsdf"][:, None].astype(np.float32)


def _color(a: dict, m) -> np.ndarray:
    return (a["color"] / 255.0).astype(np.float32)


def _posterior(a: dict, m) -> np.ndarray:
    return m.class_posterior(np.arange(a["tsdf"].shape[0])).astype(np.float32)


# Channels a semantic map can provide, in the order requested: name -> (N, c) float32.
MAP_FEATURES: dict[str, Callable[[dict, object], np.ndarray]] = {
    "occupancy": _occupancy,  # 1 channel, always 1
    "tsdf": _tsdf,  # 1 channel in [-1, 1]
    "color": _color,  # 3 channels RGB in [0, 1]
    "posterior": _posterior,  # num_classes channels, void included, summing to 1
}


def from_semantic_map(
    semantic_map,
    features: Sequence[str] = ("occupancy", "tsdf", "color"),
    batch_index: int = 0,
    min_weight: float = 0.0,
) -> SparseTensor:
    """A stride-1 SparseTensor on a ``SemanticMap``'s fine voxels (the map is only read).

    Args:
        semantic_map: ``real3d.mapping.SemanticMap``; voxel (i, j, k) covers world
            ``[i, i+1) * voxel_size_m`` and so on (world frame, z up).
        features: channel groups from ``MAP_FEATURES`` concatenated in this order.
        batch_index: batch index given to every site (>= 0).
        min_weight: keep voxels whose TSDF weight is > min_weight (0 drops never-updated ones).

    Raises:
        ConfigError: an unknown feature name. InputError: no voxel is left.
    """
    unknown = [f for f in features if f not in MAP_FEATURES]
    if unknown or not features:
        raise ConfigError(
            f"from_semantic_map: unknown features {unknown or list(features)}; valid: {sorted(MAP_FEATURES)}"
        )
    arrays = semantic_map.voxel_arrays()
    keep = np.flatnonzero(arrays["weight"] > min_weight)
    if keep.size == 0:
        raise InputError(f"from_semantic_map: the map has no voxel with weight > {min_weight}")
    chans = np.concatenate([MAP_FEATURES[f](arrays, semantic_map)[keep] for f in features], axis=1)
    ijk = torch.from_numpy(arrays["coords"][keep].astype(np.int64))
    b = torch.full((ijk.shape[0], 1), batch_index, dtype=torch.int64)
    coords = torch.cat((b, ijk), dim=1)
    if int(ijk.min()) < COORD_MIN or int(ijk.max()) > COORD_MAX:
        raise InputError(f"from_semantic_map: voxel indices exceed [{COORD_MIN}, {COORD_MAX}]")
    return SparseTensor.from_coords(coords.to(torch.int32), torch.from_numpy(np.ascontiguousarray(chans)))
