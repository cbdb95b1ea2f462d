"""Occlusion tests of rays against a triangle mesh in torch, on the CPU or a CUDA device.

The data engine traces its shadow rays with Open3D's ``RaycastingScene`` (Embree, a BVH).
Its scenes are a few thousand large triangles, so a brute-force test of every ray against
every triangle is cheap on a GPU, and it needs nothing but torch: it lets the engine render
where Open3D is not installed (a GPU training host) and keeps a reference to test Open3D's
answers against. Each ray-triangle pair is an exact plane and edge-plane test in float32;
Embree's float32 test can disagree with it only for rays that graze an edge or a vertex.
"""

from __future__ import annotations

import numpy as np
import torch

from real3d.geometry.bvh import check_rays, check_triangle_mesh


class TorchOccluder:
    """Answers "does a ray hit the mesh between tnear and tfar?" for batches of rays.

    Args:
        vertices: (V, 3) float world coordinates.
        triangles: (T, 3) int vertex indices.
        device: torch device for the tests; None takes CUDA when available, else the CPU.
        pairs_per_chunk: ray-triangle pairs tested at once (bounds the memory: about 60
            bytes per pair).
    """

    def __init__(
        self,
        vertices: np.ndarray,
        triangles: np.ndarray,
        device: str | torch.device | None = None,
        pairs_per_chunk: int = 1 << 24,
    ):
        v, f = check_triangle_mesh("TorchOccluder", vertices, triangles)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        tri = torch.as_tensor(v[f], dtype=torch.float32, device=self.device)  # (T, 3, 3)
        self._lo, self._hi = tri.amin(dim=1), tri.amax(dim=1)  # (T, 3) triangle bounds
        # Each triangle as four planes: its own (normal n = e1 x e2) and, for each edge
        # (a_i from corner i to the next), the plane through it with inward normal n x a_i.
        # A ray o + t d meets the triangle's plane at t = (n.v0 - n.o) / (n.d), inside the
        # triangle when the point lies on the inner side of all three edge planes: every
        # term is a dot product of o or d with a plane normal, so a chunk of rays against
        # all triangles is two matrix products and a few elementwise passes.
        v0, v1, v2 = tri[:, 0], tri[:, 1], tri[:, 2]
        n = torch.linalg.cross(v1 - v0, v2 - v0)
        planes = [n] + [torch.linalg.cross(n, b - a) for a, b in ((v0, v1), (v1, v2), (v2, v0))]
        self._normals = torch.stack(planes, 0)  # (4, T, 3)
        self._offsets = torch.stack([(m * c).sum(-1) for m, c in zip(planes, (v0, v0, v1, v2))], 0)  # (4, T)
        self.pairs_per_chunk = int(pairs_per_chunk)

    def test_occlusions(self, rays: np.ndarray, tnear: float = 0.0, tfar: float = float("inf")) -> np.ndarray:
        """rays: (N, 6) float (origin, direction; t scales the direction, unnormalised)
        -> (N,) bool, True where some triangle is hit at tnear < t < tfar."""
        r = check_rays("TorchOccluder.test_occlusions", rays)
        n, n_tri = len(r), len(self._lo)
        if n == 0 or n_tri == 0:
            return np.zeros(n, dtype=bool)
        rt = torch.as_tensor(np.ascontiguousarray(r, dtype=np.float32), device=self.device)
        out = torch.zeros(n, dtype=torch.bool, device=self.device)
        # Rays in a chunk of consecutive rows (neighbouring pixels) span a small box; only
        # triangles whose bounds meet it can be hit. Finite tfar bounds the segments.
        t_box = min(float(tfar), 1e6)
        step = max(1, min(4096, self.pairs_per_chunk // n_tri))
        eps = 1e-12
        for a in range(0, n, step):
            o = rt[a : a + step, :3]
            d = rt[a : a + step, 3:]
            ends = o + d * t_box
            lo = torch.minimum(o.amin(0), ends.amin(0))
            hi = torch.maximum(o.amax(0), ends.amax(0))
            sel = ((self._hi >= lo) & (self._lo <= hi)).all(dim=1).nonzero()[:, 0]
            if len(sel) == 0:
                continue
            normals = self._normals[:, sel].reshape(-1, 3).T  # (3, 4S)
            offsets = self._offsets[:, sel]  # (4, S)
            m = len(sel)
            od = o @ normals  # (R, 4S): n.o, then the edge planes' m_i.o
            dd = d @ normals
            dn = dd[:, :m]
            ok = dn.abs() > eps
            t = (offsets[0] - od[:, :m]) / torch.where(ok, dn, torch.ones_like(dn))
            hit = ok & (t > tnear) & (t < tfar)
            for i in (1, 2, 3):
                sl = slice(i * m, (i + 1) * m)
                hit &= od[:, sl] + t * dd[:, sl] >= offsets[i]
            out[a : a + step] = hit.any(dim=1)
        return out.cpu().numpy()
