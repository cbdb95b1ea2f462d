"""Per-pixel tests on a depth image that the semantic map uses to keep flying pixels and
grazing rays out of the fusion: the incidence angle of a pixel's ray against the surface
(from the depth image's local plane), depth edges and pixels between two surfaces,
depth discontinuities, and agreement with a neighbour.

Every test reads the depths of a pixel's four neighbours ``step`` pixels away (up, down,
left, right; clamped at the image border). ``PaddedDepth`` holds the image with its
border replicated, so that those reads are one gather for many pixels and steps; the
tests take the gathered depths (``around``: (4, N) in the order up, down, left, right).
The functions named ``..._px`` take an (H, W) float32 depth image in metres (0 = invalid)
and (N,) int64 pixel rows ``v`` and columns ``u`` instead, for single use.

``SemanticMap.integrate`` runs the same tests, operation for operation, inside its compiled
per-frame passes (``real3d.mapping.fusion_kernels``); these numpy forms are their
reference (``tests/mapping/test_fusion_kernels.py``) and serve single use.
"""

from __future__ import annotations

import numpy as np


class PaddedDepth:
    """An (H, W) depth image with ``pad`` pixels of replicated border around it: the depth
    at the neighbour of a pixel ``step <= pad`` pixels away, clamped at the image border,
    is one read at a fixed offset of the pixel's flat index.

    Attributes:
        flat: ((H + 2 pad) * (W + 2 pad),) depth, the image's dtype.
        pad: the border width in pixels.
        width: W + 2 pad.
    """

    def __init__(self, depth: np.ndarray, pad: int) -> None:
        h, w = depth.shape
        p = np.empty((h + 2 * pad, w + 2 * pad), depth.dtype)
        p[pad : pad + h, pad : pad + w] = depth
        p[:pad, pad : pad + w] = depth[0]
        p[pad + h :, pad : pad + w] = depth[h - 1]
        p[:, :pad] = p[:, pad : pad + 1]
        p[:, pad + w :] = p[:, pad + w - 1 : pad + w]
        self.flat = p.reshape(-1)
        self.pad = pad
        self.width = w + 2 * pad

    def index(self, v: np.ndarray, u: np.ndarray) -> np.ndarray:
        """(N,) int64 flat indices of pixels (v, u) of the image."""
        return (v + self.pad) * self.width + (u + self.pad)

    def offsets(self, step: int) -> np.ndarray:
        """(4,) int64 flat offsets of the neighbours ``step`` pixels up, down, left, right."""
        if not 0 < step <= self.pad:
            raise ValueError(f"PaddedDepth: step {step} outside 1..{self.pad}")
        return np.array([-step * self.width, step * self.width, -step, step], np.int64)

    def at(self, index: np.ndarray) -> np.ndarray:
        """(N,) depth at flat ``index``."""
        return self.flat.take(index)

    def around(self, index: np.ndarray, step: int) -> np.ndarray:
        """(4, N) depth of the neighbours ``step`` pixels up, down, left and right of the
        pixels at flat ``index`` (clamped at the image border)."""
        return self.flat.take(index[None, :] + self.offsets(step)[:, None])


def camera_terms(K, v: np.ndarray, u: np.ndarray, h: int, w: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``incidence_cos`` needs of the camera at pixels (v, u) of an (h, w) image:
    ((7, N) float64 rows (u - cx) / fx, (v - cy) / fy, the same at the columns left and
    right and the rows up and down ``step`` away (clamped), and the ray length
    sqrt(x^2 + y^2 + 1) at z = 1; (N,) bool: the pixel has distinct neighbours on both
    sides in u and in v)."""
    ul, ur = np.maximum(u - step, 0), np.minimum(u + step, w - 1)
    vu, vd = np.maximum(v - step, 0), np.minimum(v + step, h - 1)
    cu, cv = (u - K.cx) / K.fx, (v - K.cy) / K.fy
    terms = np.stack(
        [
            cu,
            cv,
            (ul - K.cx) / K.fx,
            (ur - K.cx) / K.fx,
            (vu - K.cy) / K.fy,
            (vd - K.cy) / K.fy,
            np.sqrt((cu * cu + cv * cv) + 1.0),
        ]
    )
    return terms, (ur > ul) & (vd > vu)


def incidence_cos(
    d: np.ndarray,
    around: np.ndarray,
    terms: np.ndarray,
    sides: np.ndarray,
    min_cos: float = 0.25,
    max_jump: float = 0.05,
    step: int = 2,
) -> np.ndarray:
    """(N,) float64 |cos| of the angle between the viewing ray and the surface normal.

    Args:
        d: (N,) float64 depth of the pixels, metres.
        around: (4, N) depth ``step`` pixels up, down, left, right (``PaddedDepth.around``).
        terms, sides: ``camera_terms`` of the pixels for the same ``step``.

    The normal comes from central differences (``step`` pixels each way, which averages
    out some sensor noise) of the back-projected depth; where a neighbour is invalid or
    across a depth jump (relative change > ``max_jump``) the result is 1 (no correction).
    Clamped below at ``min_cos``.
    """
    du, dd, dl, dr = around
    ok = sides & ((around > 0) & (np.abs(around - d) < step * max_jump * d)).all(axis=0)
    cu, cv, cl, cr, cvu, cvd, ray_len = terms
    # Tangents along u and v of the back-projected surface, component by component.
    tu0 = cr * dr - cl * dl
    tu1 = cv * dr - cv * dl
    tu2 = dr.astype(np.float64) - dl
    tv0 = cu * dd - cu * du
    tv1 = cvd * dd - cvu * du
    tv2 = dd.astype(np.float64) - du
    n0 = tu1 * tv2 - tu2 * tv1
    n1 = tu2 * tv0 - tu0 * tv2
    n2 = tu0 * tv1 - tu1 * tv0
    num = np.abs((n0 * cu + n1 * cv) + n2)
    den = np.sqrt((n0 * n0 + n1 * n1) + n2 * n2) * ray_len
    cos = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return np.where(ok, np.maximum(cos, min_cos), 1.0)


def on_depth_edge(d: np.ndarray, around: np.ndarray, jump: float) -> np.ndarray:
    """(N,) bool: pixels on a depth edge. Inverse depth is linear over the image on any
    plane, so its second difference across ``step`` pixels (in u or in v) stays near zero
    on flat surfaces however oblique, and is large at a discontinuity and on flying
    pixels; an edge is where it exceeds ``jump`` of the pixel's own inverse depth.
    Neighbours without depth count as no evidence.

    ``d``: (N,) float32 depth of the pixels; ``around``: (4, N) float32 depth ``step``
    pixels up, down, left, right."""
    inv = 1.0 / np.maximum(d, 1e-6)
    lim = jump * inv
    inv_around = 1.0 / np.maximum(around, 1e-6)
    edge = np.zeros(d.shape[0], bool)
    for a, b in ((0, 1), (2, 3)):
        second = inv_around[a] + inv_around[b] - 2.0 * inv
        edge |= (around[a] > 0) & (around[b] > 0) & (np.abs(second) > lim)
    return edge


def between_surfaces(d: np.ndarray, around: np.ndarray, rel: float) -> np.ndarray:
    """(N,) bool: pixels whose depth lies between those ``step`` pixels to either side
    (in u or in v), more than ``rel`` of their own from both: flying pixels, which a
    sensor puts between a foreground edge and the background. A thin pole's pixels are
    nearer than both sides and a surface's edge pixel has a surface on one side: neither
    counts. ``d``: (N,) float32; ``around``: (4, N) float32 up, down, left, right."""
    lim = rel * d
    lo = np.minimum(around[0::2], around[1::2])  # (2, N): in v, in u
    hi = np.maximum(around[0::2], around[1::2])
    return ((lo > 0) & (d - lo > lim) & (hi - d > lim)).any(axis=0)


def depth_discontinuity(d: np.ndarray, around: np.ndarray, rel: float) -> np.ndarray:
    """(N,) bool: pixels with valid depth and a valid 4-neighbour whose depth differs by
    more than ``rel`` (>= 0) of their own. ``d``: (N,) float32; ``around``: (4, N) float32
    depth one pixel up, down, left, right (clamped: a border pixel is its own neighbour
    there, which never differs)."""
    return ((around > 0) & (np.abs(around - d) > rel * d)).any(axis=0) & (d > 0)


def agrees_with_a_neighbour(d: np.ndarray, around: np.ndarray, distinct: np.ndarray, tol: float) -> np.ndarray:
    """(N,) bool: one of the 4-neighbours of a pixel has a depth within ``tol`` of its own
    (relative). ``d``: (N,) float32; ``around``: (4, N) float32 depth one pixel up, down,
    left, right; ``distinct``: (4, N) bool, that neighbour is another pixel (not the
    pixel itself, clamped at the border)."""
    return (distinct & (np.abs(around - d) <= tol * d)).any(axis=0)


def neighbours_distinct(v: np.ndarray, u: np.ndarray, h: int, w: int) -> np.ndarray:
    """(4, N) bool: pixel (v, u) of an (h, w) image has a neighbour one pixel up, down,
    left, right (it is not on that border)."""
    return np.stack([v > 0, v < h - 1, u > 0, u < w - 1])


# ------------------------------------------------------------------ single use


def _padded(depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int) -> tuple[PaddedDepth, np.ndarray]:
    pd = PaddedDepth(depth, step)
    return pd, pd.index(v, u)


def incidence_cos_px(
    depth: np.ndarray, K, v: np.ndarray, u: np.ndarray, d: np.ndarray, min_cos=0.25, max_jump=0.05, step=2
) -> np.ndarray:
    """``incidence_cos`` at pixels (v, u) of ``depth`` with depth ``d`` ((N,) float64)."""
    pd, i = _padded(depth, v, u, step)
    terms, sides = camera_terms(K, v, u, *depth.shape, step)
    return incidence_cos(d, pd.around(i, step), terms, sides, min_cos, max_jump, step)


def on_depth_edge_px(depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, jump: float) -> np.ndarray:
    """``on_depth_edge`` at pixels (v, u) of ``depth``, neighbours ``step`` away."""
    pd, i = _padded(depth, v, u, step)
    return on_depth_edge(pd.at(i), pd.around(i, step), jump)


def between_surfaces_px(depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, rel: float) -> np.ndarray:
    """``between_surfaces`` at pixels (v, u) of ``depth``, neighbours ``step`` away."""
    pd, i = _padded(depth, v, u, step)
    return between_surfaces(pd.at(i), pd.around(i, step), rel)


def depth_discontinuity_px(depth: np.ndarray, v: np.ndarray, u: np.ndarray, rel: float) -> np.ndarray:
    """``depth_discontinuity`` at pixels (v, u) of ``depth``."""
    pd, i = _padded(depth, v, u, 1)
    return depth_discontinuity(pd.at(i), pd.around(i, 1), rel)


def agrees_with_a_neighbour_px(depth: np.ndarray, v: np.ndarray, u: np.ndarray, tol: float) -> np.ndarray:
    """``agrees_with_a_neighbour`` at pixels (v, u) of ``depth``."""
    pd, i = _padded(depth, v, u, 1)
    return agrees_with_a_neighbour(pd.at(i), pd.around(i, 1), neighbours_distinct(v, u, *depth.shape), tol)
