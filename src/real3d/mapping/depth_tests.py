"""Per-pixel tests on a depth image that the semantic map uses to keep flying pixels and
grazing rays out of the fusion: the incidence angle of a pixel's ray against the surface
(from the depth image's local plane), depth edges and pixels between two surfaces,
depth discontinuities, and agreement with a neighbour. Pixels are given as (N,) row ``v``
and column ``u`` indices into an (H, W) float depth image in metres (0 = invalid).
"""

from __future__ import annotations

import numpy as np


def incidence_cos(
    depth: np.ndarray,
    K,
    v: np.ndarray,
    u: np.ndarray,
    d: np.ndarray,
    min_cos: float = 0.25,
    max_jump: float = 0.05,
    step: int = 2,
) -> np.ndarray:
    """|cos| of the angle between the viewing ray and the surface normal at pixels (v, u).

    The normal comes from central differences (``step`` pixels each way, which averages
    out some sensor noise) of the back-projected depth; where a
    neighbour is invalid or across a depth jump (relative change > ``max_jump``) the
    result is 1 (no correction). Clamped below at ``min_cos``.
    """
    h, w = depth.shape
    ul, ur = np.maximum(u - step, 0), np.minimum(u + step, w - 1)
    vu, vd = np.maximum(v - step, 0), np.minimum(v + step, h - 1)
    dl, dr, du, dd = depth[v, ul], depth[v, ur], depth[vu, u], depth[vd, u]
    ok = (ur > ul) & (vd > vu)
    for n in (dl, dr, du, dd):
        ok &= (n > 0) & (np.abs(n - d) < step * max_jump * d)

    def point(uu, vv, dd_):
        return np.stack([(uu - K.cx) / K.fx * dd_, (vv - K.cy) / K.fy * dd_, dd_], axis=1)

    tu = point(ur, v, dr) - point(ul, v, dl)
    tv = point(u, vd, dd) - point(u, vu, du)
    n = np.cross(tu, tv)
    ray = point(u, v, np.ones_like(d))
    num = np.abs((n * ray).sum(axis=1))
    den = np.linalg.norm(n, axis=1) * np.linalg.norm(ray, axis=1)
    cos = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return np.where(ok, np.maximum(cos, min_cos), 1.0)


def on_depth_edge(depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, jump: float) -> np.ndarray:
    """(N,) bool: pixels (v, u) on a depth edge. Inverse depth is linear over the image
    on any plane, so its second difference across ``step`` pixels (in u or in v) stays
    near zero on flat surfaces however oblique, and is large at a discontinuity and on
    flying pixels; an edge is where it exceeds ``jump`` of the pixel's own inverse depth.
    Neighbours without depth count as no evidence."""
    h, w = depth.shape
    d = depth[v, u]
    inv = 1.0 / np.maximum(d, 1e-6)
    edge = np.zeros(v.shape[0], bool)
    for (av, au), (bv, bu) in (
        (((np.maximum(v - step, 0), u), (np.minimum(v + step, h - 1), u))),
        (((v, np.maximum(u - step, 0)), (v, np.minimum(u + step, w - 1)))),
    ):
        a, b = depth[av, au], depth[bv, bu]
        ok = (a > 0) & (b > 0)
        second = 1.0 / np.maximum(a, 1e-6) + 1.0 / np.maximum(b, 1e-6) - 2.0 * inv
        edge |= ok & (np.abs(second) > jump * inv)
    return edge


def between_surfaces(depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, rel: float) -> np.ndarray:
    """(N,) bool: pixels (v, u) whose depth lies between those ``step`` pixels to either
    side (in u or in v), more than ``rel`` of their own from both: flying pixels, which a
    sensor puts between a foreground edge and the background. A thin pole's pixels are
    nearer than both sides and a surface's edge pixel has a surface on one side: neither
    counts."""
    h, w = depth.shape
    d = depth[v, u]
    out = np.zeros(v.shape[0], bool)
    for (av, au), (bv, bu) in (
        (((np.maximum(v - step, 0), u), (np.minimum(v + step, h - 1), u))),
        (((v, np.maximum(u - step, 0)), (v, np.minimum(u + step, w - 1)))),
    ):
        a, b = depth[av, au], depth[bv, bu]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        out |= (lo > 0) & (d - lo > rel * d) & (hi - d > rel * d)
    return out


def depth_discontinuity(depth: np.ndarray, rel: float) -> np.ndarray:
    """(H, W) bool: valid pixels with a valid 4-neighbour whose depth differs by more than
    ``rel`` of their own."""
    d = depth.astype(np.float32, copy=False)
    out = np.zeros(d.shape, bool)
    dv = np.abs(d[1:] - d[:-1])
    both = (d[1:] > 0) & (d[:-1] > 0)
    out[1:] |= both & (dv > rel * d[1:])
    out[:-1] |= both & (dv > rel * d[:-1])
    du = np.abs(d[:, 1:] - d[:, :-1])
    both = (d[:, 1:] > 0) & (d[:, :-1] > 0)
    out[:, 1:] |= both & (du > rel * d[:, 1:])
    out[:, :-1] |= both & (du > rel * d[:, :-1])
    return out


def agrees_with_a_neighbour(depth: np.ndarray, v: np.ndarray, u: np.ndarray, tol: float) -> np.ndarray:
    """(N,) bool: one of the 4-neighbours of pixel (v, u) has a depth within ``tol`` of
    its own (relative)."""
    h, w = depth.shape
    d = depth[v, u]
    out = np.zeros(v.shape[0], bool)
    for nv, nu in (
        (np.maximum(v - 1, 0), u),
        (np.minimum(v + 1, h - 1), u),
        (v, np.maximum(u - 1, 0)),
        (v, np.minimum(u + 1, w - 1)),
    ):
        same = (nv == v) & (nu == u)
        out |= ~same & (np.abs(depth[nv, nu] - d) <= tol * d)
    return out
