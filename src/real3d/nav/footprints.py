"""Top-down outlines of obstacles as convex polygons, and distances to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError


def hull_2d(pts: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of (N, 2) points; the two extreme points when they are
    collinear, the point itself when there is one."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(np.round(pts, 6), axis=0)
    if len(pts) >= 3:
        try:
            return pts[ConvexHull(pts).vertices]
        except QhullError:  # collinear
            pass
    if len(pts) < 2:
        return pts
    d = pts - pts[0]
    s = d @ d[np.argmax((d * d).sum(axis=1))]
    return pts[[np.argmin(s), np.argmax(s)]]


@dataclass
class Footprints:
    """Top-down outlines of the obstacles in a height band: one convex polygon (K, 2),
    counter-clockwise, per closed part of the scene that reaches into the band."""

    polygons: list[np.ndarray]

    def __post_init__(self) -> None:
        self._lo = np.array([p.min(axis=0) for p in self.polygons]).reshape(-1, 2)
        self._hi = np.array([p.max(axis=0) for p in self.polygons]).reshape(-1, 2)

    def distance(self, xy, cap_m: float = 1.0) -> np.ndarray:
        """(N,) distance in metres from each world point (N, 2) to the nearest outline, 0
        inside one; ``cap_m`` where none lies within ``cap_m``."""
        xy = np.asarray(xy, np.float64)
        if xy.ndim not in (1, 2) or xy.shape[-1] != 2:
            raise InputError(f"Footprints.distance: expected points (N, 2) or (2,), got shape {xy.shape}")
        xy = xy.reshape(-1, 2)
        out = np.full(len(xy), float(cap_m))
        for poly, lo, hi in zip(self.polygons, self._lo, self._hi):
            near = np.flatnonzero(((xy >= lo - cap_m) & (xy <= hi + cap_m)).all(axis=1))
            if not len(near):
                continue
            p = xy[near]
            a = poly
            b = np.roll(poly, -1, axis=0) if len(poly) > 1 else poly
            ab = b - a  # (K, 2)
            ap = p[:, None, :] - a[None]  # (M, K, 2)
            t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-18), 0.0, 1.0)
            d = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)
            if len(poly) >= 3:
                cross = ab[None, :, 0] * ap[..., 1] - ab[None, :, 1] * ap[..., 0]
                d[(cross >= 0).all(axis=1)] = 0.0
            out[near] = np.minimum(out[near], d)
        return out
