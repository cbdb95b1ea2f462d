"""The semantic map seen from above: each floor cell takes the class of the highest labelled
surface point over it, ceiling left out, so furniture shows over the floor."""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError
from real3d.core.labels import NYU13


def _from_above(semantic_map, use_refinement: bool, colour, cell_m, max_px: int, min_px: int, who: str) -> np.ndarray:
    """(H, W, 3) uint8 image of the map's labelled surface from above (x right, y up, world
    frame; ceiling left out): each cell coloured by ``colour(points, rows)`` -> (n, 3) of
    the highest point over it, white where nothing was labelled. Cells of ``cell_m``
    metres (default: the voxel size, enlarged so the image fits ``max_px``; a small map is
    enlarged by whole pixels towards ``min_px``)."""
    sp = semantic_map.semantic_points(use_refinement=use_refinement)
    keep = (sp.labels > 0) & (sp.labels != NYU13.index("ceiling"))
    pts = sp.points[keep]
    if not len(pts):
        raise InputError(f"{who}: the map has no labelled surface point")
    lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
    cell = float(cell_m or semantic_map.voxel_size_m)
    cell = max(cell, float((hi - lo).max()) / max_px)
    ij = np.floor((pts[:, :2] - lo) / cell).astype(np.int64)
    w, h = (ij.max(0) + 1).tolist()
    order = np.argsort(pts[:, 2], kind="stable")  # later (higher) points overwrite lower ones
    img = np.full((h, w, 3), 255, np.uint8)
    img[h - 1 - ij[order, 1], ij[order, 0]] = colour(sp.labels[keep][order], sp.rows[keep][order])
    k = max(1, min_px // max(h, w))
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1) if k > 1 else img


def _side_by_side(a: np.ndarray, b: np.ndarray, gap: int) -> np.ndarray:
    h = max(a.shape[0], b.shape[0])
    out = np.full((h, a.shape[1] + gap + b.shape[1], 3), 255, np.uint8)
    out[: a.shape[0], : a.shape[1]] = a
    out[: b.shape[0], a.shape[1] + gap :] = b
    return out


def topdown_labels(
    semantic_map, cell_m: float | None = None, use_refinement: bool = True, max_px: int = 440, min_px: int = 300
) -> np.ndarray:
    """(H, W, 3) uint8 image of the map from above (x right, y up, world frame), cells of
    ``cell_m`` metres (default: the map's voxel size, enlarged so the image fits
    ``max_px``; a small map is enlarged by whole pixels towards ``min_px``), NYUv2-13
    colours; white where nothing was labelled. ``use_refinement``
    False draws the fusion's labels even where a 3D network refined the map."""
    colors = np.asarray(NYU13.colors, np.uint8)
    return _from_above(
        semantic_map, use_refinement, lambda lab, rows: colors[lab], cell_m, max_px, min_px, "topdown_labels"
    )


#: pale yellow (sure) -> orange -> dark red (all classes equally likely)
_ENTROPY_STOPS = np.array([[255, 247, 188], [254, 153, 41], [153, 0, 13]], np.float64)


def topdown_uncertainty(semantic_map, cell_m: float | None = None, max_px: int = 440, min_px: int = 300) -> np.ndarray:
    """(H, W, 3) uint8 image of the map from above, laid out as ``topdown_labels``: each
    cell shows the normalised label entropy (``SemanticMap.label_entropy``, of the fusion)
    of the highest labelled surface point over it, from pale (sure, 0) through orange to
    dark red (all classes equally likely, 1); white where nothing was labelled."""

    def colour(lab, rows):
        e = np.clip(semantic_map.label_entropy(rows), 0.0, 1.0)[:, None]
        s = _ENTROPY_STOPS
        rgb = np.where(e < 0.5, s[0] + (s[1] - s[0]) * (e / 0.5), s[1] + (s[2] - s[1]) * ((e - 0.5) / 0.5))
        return rgb.round().astype(np.uint8)

    return _from_above(semantic_map, False, colour, cell_m, max_px, min_px, "topdown_uncertainty")


def labels_and_uncertainty(semantic_map, max_px: int = 440, gap: int = 8) -> np.ndarray:
    """The fusion's labels (left) and their uncertainty (right) side by side."""
    return _side_by_side(
        topdown_labels(semantic_map, use_refinement=False, max_px=max_px),
        topdown_uncertainty(semantic_map, max_px=max_px),
        gap,
    )


def before_after(semantic_map, max_px: int = 440, gap: int = 8) -> np.ndarray:
    """The fusion's labels (left) and the refined ones (right) side by side; the map must
    have a refinement."""
    if semantic_map.refinement is None:
        raise InputError("before_after: the map has no refinement")
    return _side_by_side(
        topdown_labels(semantic_map, use_refinement=False, max_px=max_px),
        topdown_labels(semantic_map, use_refinement=True, max_px=max_px),
        gap,
    )
