"""Occlusion tests of rays against a triangle mesh on the CPU, through a bounding volume
hierarchy compiled with numba.

The data engine's shadow rays go through Open3D's ``RaycastingScene`` by default. This
occluder needs nothing but numba and numpy, so the engine can render on all the
CPU cores of a host without Open3D (a GPU training host, where ``TorchOccluder`` makes all
rendering processes share the one GPU), one single-threaded test per rendering process.

The hierarchy splits each node's triangles by their centroids at the best of 16 planes per
axis by the surface-area heuristic (the median along the longest axis where none splits
them), down to leaves of at most ``leaf_size`` triangles. Each ray walks it with a
stack, nearer child first, and stops at its first hit (any hit will do for an
occlusion test). The ray-triangle test is Moeller-Trumbore in float64; like Embree's
float32 test it can disagree with another exact test only for rays that graze an edge or
a vertex.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from real3d.core.errors import InputError

_STACK = 64  # depth bound of the traversal stack
_BINS = 16  # candidate split planes per axis and node


@njit(cache=True, nogil=True)
def _area(lo, hi):
    dx, dy, dz = hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]
    return dx * dy + dy * dz + dz * dx


@njit(cache=True, nogil=True)
def _build(centroid, lo_t, hi_t, leaf_size, order, node_lo, node_hi, node_a, node_b):
    """Fill the node arrays; returns the node count. A leaf has node_a = first index into
    ``order`` and node_b = -(count); an inner node has its two children."""
    n_tri = centroid.shape[0]
    stack_node = np.empty(_STACK * 2, np.int64)
    stack_s = np.empty(_STACK * 2, np.int64)
    stack_e = np.empty(_STACK * 2, np.int64)
    stack_depth = np.empty(_STACK * 2, np.int64)
    n_nodes = 1
    stack_node[0], stack_s[0], stack_e[0], stack_depth[0] = 0, 0, n_tri, 0
    sp = 1
    while sp > 0:
        sp -= 1
        node, s, e, depth = stack_node[sp], stack_s[sp], stack_e[sp], stack_depth[sp]
        for k in range(3):
            node_lo[node, k] = np.inf
            node_hi[node, k] = -np.inf
        clo = np.full(3, np.inf)
        chi = np.full(3, -np.inf)
        for i in range(s, e):
            t = order[i]
            for k in range(3):
                node_lo[node, k] = min(node_lo[node, k], lo_t[t, k])
                node_hi[node, k] = max(node_hi[node, k], hi_t[t, k])
                clo[k] = min(clo[k], centroid[t, k])
                chi[k] = max(chi[k], centroid[t, k])
        ext = chi - clo
        axis = 0
        if ext[1] > ext[axis]:
            axis = 1
        if ext[2] > ext[axis]:
            axis = 2
        # Deep nodes become leaves whatever their size, so that no walk outgrows its stack.
        if e - s <= leaf_size or ext[axis] <= 0.0 or depth >= _STACK - 4:
            node_a[node] = s
            node_b[node] = -(e - s)
            continue
        # Binned surface-area heuristic: the split between bins along the axis that
        # minimises area x count of the two sides (large wall and floor triangles make
        # median splits overlap badly).
        best, best_axis, best_bin = np.inf, -1, -1
        for ax in range(3):
            if ext[ax] <= 0.0:
                continue
            cnt = np.zeros(_BINS, np.int64)
            blo = np.full((_BINS, 3), np.inf)
            bhi = np.full((_BINS, 3), -np.inf)
            scale = _BINS / ext[ax]
            for i in range(s, e):
                t = order[i]
                bb = min(_BINS - 1, int((centroid[t, ax] - clo[ax]) * scale))
                cnt[bb] += 1
                for k in range(3):
                    blo[bb, k] = min(blo[bb, k], lo_t[t, k])
                    bhi[bb, k] = max(bhi[bb, k], hi_t[t, k])
            left = np.zeros(_BINS)
            lo3 = np.full(3, np.inf)
            hi3 = np.full(3, -np.inf)
            nl = 0
            for bb in range(_BINS - 1):
                nl += cnt[bb]
                for k in range(3):
                    lo3[k] = min(lo3[k], blo[bb, k])
                    hi3[k] = max(hi3[k], bhi[bb, k])
                left[bb] = _area(lo3, hi3) * nl if nl else 0.0
            lo3[:] = np.inf
            hi3[:] = -np.inf
            nr = 0
            for bb in range(_BINS - 1, 0, -1):
                nr += cnt[bb]
                for k in range(3):
                    lo3[k] = min(lo3[k], blo[bb, k])
                    hi3[k] = max(hi3[k], bhi[bb, k])
                if nr and nr < e - s:
                    c = left[bb - 1] + _area(lo3, hi3) * nr
                    if c < best:
                        best, best_axis, best_bin = c, ax, bb
        m = s
        if best_axis >= 0:
            scale = _BINS / ext[best_axis]
            j = e - 1
            while m <= j:  # partition: bins < best_bin first
                if min(_BINS - 1, int((centroid[order[m], best_axis] - clo[best_axis]) * scale)) < best_bin:
                    m += 1
                else:
                    order[m], order[j] = order[j], order[m]
                    j -= 1
        if m == s or m == e:  # no useful split: halve by the median along the longest axis
            keys = np.empty(e - s)
            for i in range(s, e):
                keys[i - s] = centroid[order[i], axis]
            idx = np.argsort(keys)
            part = order[s:e].copy()
            for i in range(e - s):
                order[s + i] = part[idx[i]]
            m = s + (e - s) // 2
        a, b = n_nodes, n_nodes + 1
        n_nodes += 2
        node_a[node], node_b[node] = a, b
        stack_node[sp], stack_s[sp], stack_e[sp], stack_depth[sp] = a, s, m, depth + 1
        stack_node[sp + 1], stack_s[sp + 1], stack_e[sp + 1], stack_depth[sp + 1] = b, m, e, depth + 1
        sp += 2
    return n_nodes


@njit(cache=True, nogil=True)
def _slab(box, o, inv, t0, t1):
    """Entry distance of the ray into ``box`` (lo xyz, hi xyz) within [t0, t1], or inf when
    it misses."""
    for k in range(3):
        ta = (box[k] - o[k]) * inv[k]
        tb = (box[3 + k] - o[k]) * inv[k]
        if ta > tb:
            ta, tb = tb, ta
        if ta != ta:  # 0 * inf: the ray runs in the slab's boundary plane
            ta = -np.inf
        if tb != tb:
            tb = np.inf
        if ta > t0:
            t0 = ta
        if tb < t1:
            t1 = tb
        if t0 > t1:
            return np.inf
    return t0


@njit(cache=True, nogil=True)
def _occluded(rays, tnear, tfar, tri, boxes, node_a, node_b, out):
    """``tri`` (T, 9): v0, e1 = v1 - v0, e2 = v2 - v0 of each triangle in leaf order."""
    stack = np.empty(_STACK, np.int64)
    o = np.empty(3)
    d = np.empty(3)
    inv = np.empty(3)
    for r in range(rays.shape[0]):
        for k in range(3):
            o[k] = rays[r, k]
            d[k] = rays[r, 3 + k]
            inv[k] = 1.0 / d[k] if d[k] != 0.0 else np.inf
        if _slab(boxes[0], o, inv, tnear, tfar) == np.inf:
            continue
        sp = 1
        stack[0] = 0
        hit = False
        while sp > 0 and not hit:
            sp -= 1
            node = stack[sp]
            if node_b[node] < 0:
                s = node_a[node]
                for i in range(s, s - node_b[node]):
                    # Moeller-Trumbore
                    e1x, e1y, e1z = tri[i, 3], tri[i, 4], tri[i, 5]
                    e2x, e2y, e2z = tri[i, 6], tri[i, 7], tri[i, 8]
                    px = d[1] * e2z - d[2] * e2y
                    py = d[2] * e2x - d[0] * e2z
                    pz = d[0] * e2y - d[1] * e2x
                    det = e1x * px + e1y * py + e1z * pz
                    if det == 0.0:
                        continue
                    inv_det = 1.0 / det
                    sx, sy, sz = o[0] - tri[i, 0], o[1] - tri[i, 1], o[2] - tri[i, 2]
                    u = (sx * px + sy * py + sz * pz) * inv_det
                    if u < 0.0 or u > 1.0:
                        continue
                    qx = sy * e1z - sz * e1y
                    qy = sz * e1x - sx * e1z
                    qz = sx * e1y - sy * e1x
                    v = (d[0] * qx + d[1] * qy + d[2] * qz) * inv_det
                    if v < 0.0 or u + v > 1.0:
                        continue
                    t = (e2x * qx + e2y * qy + e2z * qz) * inv_det
                    if tnear < t < tfar:
                        hit = True
                        break
                continue
            a, b = node_a[node], node_b[node]
            ta = _slab(boxes[a], o, inv, tnear, tfar)
            tb = _slab(boxes[b], o, inv, tnear, tfar)
            # push the farther child first so that the nearer one is walked first
            if ta > tb:
                a, b, ta, tb = b, a, tb, ta
            if tb != np.inf:
                stack[sp] = b
                sp += 1
            if ta != np.inf:
                stack[sp] = a
                sp += 1
        out[r] = hit


def check_triangle_mesh(where: str, vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3), triangles (T, 3))`` as arrays, or an ``InputError`` naming
    ``where`` for other shapes or vertex indices outside [0, V)."""
    v = np.asarray(vertices)
    f = np.asarray(triangles)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"{where}: expected vertices (V, 3) and triangles (T, 3), got {v.shape} and {f.shape}")
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise InputError(f"{where}: triangle indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    return v, f


def check_rays(where: str, rays) -> np.ndarray:
    """``rays`` as an (N, 6) array (origin, direction), or an ``InputError`` naming ``where``."""
    r = np.asarray(rays)
    if r.ndim != 2 or r.shape[1] != 6:
        raise InputError(f"{where}: expected rays (N, 6), got {r.shape}")
    return r


class BVHOccluder:
    """Answers "does a ray hit the mesh between tnear and tfar?" for batches of rays, on one
    CPU thread.

    Args:
        vertices: (V, 3) float world coordinates.
        triangles: (T, 3) int vertex indices.
        leaf_size: most triangles in a leaf of the hierarchy.
    """

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, leaf_size: int = 4):
        v, f = check_triangle_mesh("BVHOccluder", vertices, triangles)
        if leaf_size < 1:
            raise InputError(f"BVHOccluder: expected leaf_size >= 1, got {leaf_size}")
        self._tris = np.ascontiguousarray(v[f], dtype=np.float64)  # (T, 3, 3)
        n = len(f)
        self._order = np.arange(n, dtype=np.int64)
        cap = max(1, 2 * n)
        self._lo = np.empty((cap, 3))
        self._hi = np.empty((cap, 3))
        self._a = np.zeros(cap, np.int64)
        self._b = np.zeros(cap, np.int64)
        if n:
            lo_t, hi_t = self._tris.min(axis=1), self._tris.max(axis=1)
            m = _build(
                np.ascontiguousarray(self._tris.mean(axis=1)),
                lo_t,
                hi_t,
                int(leaf_size),
                self._order,
                self._lo,
                self._hi,
                self._a,
                self._b,
            )
            self._lo, self._hi, self._a, self._b = self._lo[:m], self._hi[:m], self._a[:m], self._b[:m]
        # Leaves read their triangles in order: v0 and the two edges from it, contiguous.
        t = self._tris[self._order]
        self._leaf_tris = np.ascontiguousarray(np.concatenate([t[:, 0], t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]], 1))
        self._boxes = np.ascontiguousarray(np.concatenate([self._lo, self._hi], 1))

    @property
    def num_nodes(self) -> int:
        return len(self._a) if len(self._tris) else 0

    def test_occlusions(self, rays: np.ndarray, tnear: float = 0.0, tfar: float = float("inf")) -> np.ndarray:
        """rays: (N, 6) float (origin, direction; t scales the direction, unnormalised)
        -> (N,) bool, True where some triangle is hit at tnear < t < tfar."""
        r = check_rays("BVHOccluder.test_occlusions", rays)
        out = np.zeros(len(r), dtype=bool)
        if len(r) == 0 or len(self._tris) == 0:
            return out
        _occluded(
            np.ascontiguousarray(r, dtype=np.float64),
            float(tnear),
            float(tfar),
            self._leaf_tris,
            self._boxes,
            self._a,
            self._b,
            out,
        )
        return out
