"""Per-pixel tests on a depth image that the semantic map uses to keep flying pixels and
grazing rays out of the fusion: the incidence angle of a pixel's ray against the surface
(from the depth image's local plane), depth edges and pixels between two surfaces,
depth discontinuities, and agreement with a neighbour.

Pixels are given as (N,) int64 row ``v`` and column ``u`` indices into an (H, W) float32
depth image in metres (0 = invalid). Every test reads the depths of the four neighbours
``step`` pixels away (clamped at the image border); ``Neighbours`` gathers them once, so
that tests with the same step on the same pixels can share them (pass ``nb``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Neighbours:
    """The 4-neighbours ``step`` pixels away from pixels (v, u) of an (H, W) depth image,
    clamped at the border (a pixel on the border is its own neighbour there).

    Attributes:
        v, u: (N,) int64 the pixels.
        step: the distance in pixels.
        v_up, v_down, u_left, u_right: (N,) int64 clamped rows and columns of the neighbours.
        d: (N,) depth at the pixels; d_up, d_down, d_left, d_right: (N,) depth at
            (v_up, u), (v_down, u), (v, u_left), (v, u_right), in the image's dtype.
    """

    v: np.ndarray
    u: np.ndarray
    step: int
    v_up: np.ndarray
    v_down: np.ndarray
    u_left: np.ndarray
    u_right: np.ndarray
    d: np.ndarray
    d_up: np.ndarray
    d_down: np.ndarray
    d_left: np.ndarray
    d_right: np.ndarray

    @classmethod
    def gather(cls, depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int) -> Neighbours:
        """The neighbours of pixels (v, u) of ``depth`` ((H, W)), ``step`` pixels away."""
        h, w = depth.shape
        flat = depth.reshape(-1)
        vu, vd = np.maximum(v - step, 0), np.minimum(v + step, h - 1)
        ul, ur = np.maximum(u - step, 0), np.minimum(u + step, w - 1)
        row = v * w
        return cls(
            v=v,
            u=u,
            step=step,
            v_up=vu,
            v_down=vd,
            u_left=ul,
            u_right=ur,
            d=flat.take(row + u),
            d_up=flat.take(vu * w + u),
            d_down=flat.take(vd * w + u),
            d_left=flat.take(row + ul),
            d_right=flat.take(row + ur),
        )

    @classmethod
    def of(cls, nb: Neighbours | None, depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int) -> Neighbours:
        """``nb`` when it holds the neighbours of the same pixels ``step`` away, else gathered."""
        if nb is not None and nb.step == step and nb.v is v and nb.u is u:
            return nb
        return cls.gather(depth, v, u, step)


def incidence_cos(
    depth: np.ndarray,
    K,
    v: np.ndarray,
    u: np.ndarray,
    d: np.ndarray,
    min_cos: float = 0.25,
    max_jump: float = 0.05,
    step: int = 2,
    nb: Neighbours | None = None,
) -> np.ndarray:
    """(N,) float64 |cos| of the angle between the viewing ray and the surface normal at
    pixels (v, u) with depth ``d`` ((N,) float64 metres).

    The normal comes from central differences (``step`` pixels each way, which averages
    out some sensor noise) of the back-projected depth; where a
    neighbour is invalid or across a depth jump (relative change > ``max_jump``) the
    result is 1 (no correction). Clamped below at ``min_cos``.
    """
    nb = Neighbours.of(nb, depth, v, u, step)
    ul, ur, vu, vd = nb.u_left, nb.u_right, nb.v_up, nb.v_down
    dl, dr, du, dd = nb.d_left, nb.d_right, nb.d_up, nb.d_down
    ok = (ur > ul) & (vd > vu)
    lim = step * max_jump * d
    for n in (dl, dr, du, dd):
        ok &= (n > 0) & (np.abs(n - d) < lim)
    # Tangents along u and v of the back-projected surface, component by component.
    xr, xl = (ur - K.cx) / K.fx * dr, (ul - K.cx) / K.fx * dl
    yr, yl = (v - K.cy) / K.fy * dr, (v - K.cy) / K.fy * dl
    tu = (xr - xl, yr - yl, dr.astype(np.float64) - dl)
    xd, xu = (u - K.cx) / K.fx * dd, (u - K.cx) / K.fx * du
    yd, yu = (vd - K.cy) / K.fy * dd, (vu - K.cy) / K.fy * du
    tv = (xd - xu, yd - yu, dd.astype(np.float64) - du)
    n0 = tu[1] * tv[2] - tu[2] * tv[1]
    n1 = tu[2] * tv[0] - tu[0] * tv[2]
    n2 = tu[0] * tv[1] - tu[1] * tv[0]
    r0 = (u - K.cx) / K.fx * 1.0
    r1 = (v - K.cy) / K.fy * 1.0
    num = np.abs((n0 * r0 + n1 * r1) + n2)
    den = np.sqrt((n0 * n0 + n1 * n1) + n2 * n2) * np.sqrt((r0 * r0 + r1 * r1) + 1.0)
    cos = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return np.where(ok, np.maximum(cos, min_cos), 1.0)


def on_depth_edge(
    depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, jump: float, nb: Neighbours | None = None
) -> np.ndarray:
    """(N,) bool: pixels (v, u) on a depth edge. Inverse depth is linear over the image
    on any plane, so its second difference across ``step`` pixels (in u or in v) stays
    near zero on flat surfaces however oblique, and is large at a discontinuity and on
    flying pixels; an edge is where it exceeds ``jump`` of the pixel's own inverse depth.
    Neighbours without depth count as no evidence."""
    nb = Neighbours.of(nb, depth, v, u, step)
    inv = 1.0 / np.maximum(nb.d, 1e-6)
    lim = jump * inv
    edge = np.zeros(v.shape[0], bool)
    for a, b in ((nb.d_up, nb.d_down), (nb.d_left, nb.d_right)):
        second = 1.0 / np.maximum(a, 1e-6) + 1.0 / np.maximum(b, 1e-6) - 2.0 * inv
        edge |= (a > 0) & (b > 0) & (np.abs(second) > lim)
    return edge


def between_surfaces(
    depth: np.ndarray, v: np.ndarray, u: np.ndarray, step: int, rel: float, nb: Neighbours | None = None
) -> np.ndarray:
    """(N,) bool: pixels (v, u) whose depth lies between those ``step`` pixels to either
    side (in u or in v), more than ``rel`` of their own from both: flying pixels, which a
    sensor puts between a foreground edge and the background. A thin pole's pixels are
    nearer than both sides and a surface's edge pixel has a surface on one side: neither
    counts."""
    nb = Neighbours.of(nb, depth, v, u, step)
    d = nb.d
    lim = rel * d
    out = np.zeros(v.shape[0], bool)
    for a, b in ((nb.d_up, nb.d_down), (nb.d_left, nb.d_right)):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        out |= (lo > 0) & (d - lo > lim) & (hi - d > lim)
    return out


def depth_discontinuity(
    depth: np.ndarray, v: np.ndarray, u: np.ndarray, rel: float, nb: Neighbours | None = None
) -> np.ndarray:
    """(N,) bool: pixels (v, u) with valid depth and a valid 4-neighbour whose depth
    differs by more than ``rel`` (>= 0) of their own."""
    nb = Neighbours.of(nb, depth, v, u, 1)
    d = nb.d
    lim = rel * d
    out = np.zeros(v.shape[0], bool)
    for n in (nb.d_up, nb.d_down, nb.d_left, nb.d_right):
        out |= (n > 0) & (np.abs(n - d) > lim)
    return out & (d > 0)


def agrees_with_a_neighbour(
    depth: np.ndarray, v: np.ndarray, u: np.ndarray, tol: float, nb: Neighbours | None = None
) -> np.ndarray:
    """(N,) bool: one of the 4-neighbours of pixel (v, u) has a depth within ``tol`` of
    its own (relative)."""
    nb = Neighbours.of(nb, depth, v, u, 1)
    d = nb.d
    lim = tol * d
    out = (nb.v_up != v) & (np.abs(nb.d_up - d) <= lim)
    out |= (nb.v_down != v) & (np.abs(nb.d_down - d) <= lim)
    out |= (nb.u_left != u) & (np.abs(nb.d_left - d) <= lim)
    out |= (nb.u_right != u) & (np.abs(nb.d_right - d) <= lim)
    return out
