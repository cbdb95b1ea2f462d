"""Building the labelled scene mesh from primitives (yawed boxes and vertical cylinders).

Every face carries a fine class, an instance id, a material and an affine texture map, so
the renderer can look up labels and appearance from the primitive id a ray hits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.labels import SYNTH, SYNTH_TO_NYU13
from real3d.synth.types import SceneMesh

# Box corners in local units (+-0.5), and the 6 faces as quads (outward winding).
_BOX_CORNERS = (
    np.array(
        [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
        dtype=np.float64,
    )
    * 0.5
)
# (quad vertex indices counter-clockwise seen from outside, local normal)
_BOX_FACES = (
    ((0, 3, 2, 1), (0, 0, -1)),
    ((4, 5, 6, 7), (0, 0, 1)),
    ((0, 1, 5, 4), (0, -1, 0)),
    ((2, 3, 7, 6), (0, 1, 0)),
    ((1, 2, 6, 5), (1, 0, 0)),
    ((3, 0, 4, 7), (-1, 0, 0)),
)


@dataclass
class Material:
    """Appearance of a surface.

    Attributes:
        kind: texture family in the texture bank (``wood``, ``fabric``, ...), or ``photo``.
        variant: which texture of that family (taken modulo the family size).
        color: (3,) linear albedo multiplier.
        strength: how strongly the texture modulates the colour, 0..1.
        scale_m: metres covered by one texture tile.
        emissive: radiance added independently of lighting (windows, screens, lamps).
        specular: True for shiny or transparent surfaces the depth sensor tends to miss.
    """

    kind: str
    variant: int
    color: tuple[float, float, float]
    strength: float = 0.8
    scale_m: float = 1.0
    emissive: float = 0.0
    specular: bool = False

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "variant": int(self.variant),
            "color": [float(c) for c in self.color],
            "strength": float(self.strength),
            "scale_m": float(self.scale_m),
            "emissive": float(self.emissive),
            "specular": bool(self.specular),
        }


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _face_axes(normal_w: np.ndarray, yaw_R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texture axes (u, v) for a face: on vertical faces u runs to the right of a viewer
    facing the face and v downwards; on horizontal faces they follow the object's axes."""
    if abs(normal_w[2]) > 0.5:
        return yaw_R[:, 0], yaw_R[:, 1]
    u = np.cross(-normal_w, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u)
    return u, np.array([0.0, 0.0, -1.0])


@dataclass
class MeshBuilder:
    """Accumulates primitives into one labelled triangle mesh."""

    tex_size: int = 256
    photo_size: int = 256
    materials: list[Material] = field(default_factory=list)
    _verts: list = field(default_factory=list)
    _tris: list = field(default_factory=list)
    _cls: list = field(default_factory=list)
    _inst: list = field(default_factory=list)
    _mat: list = field(default_factory=list)
    _uv: list = field(default_factory=list)
    _part: list = field(default_factory=list)
    _nv: int = 0
    _n_parts: int = 0

    def add_material(self, m: Material) -> int:
        self.materials.append(m)
        return len(self.materials) - 1

    def _uv_rows(self, mat: Material, origin, u_axis, v_axis, extent_u, extent_v, rng_off):
        if mat.kind == "photo":
            # one photo stretched over the face, u right and v down
            su = (self.photo_size - 1) / max(extent_u, 1e-6)
            sv = (self.photo_size - 1) / max(extent_v, 1e-6)
            ou, ov = 0.0, 0.0
        else:
            su = sv = self.tex_size / max(mat.scale_m, 1e-6)
            ou, ov = rng_off
        row_u = np.append(u_axis * su, -np.dot(origin, u_axis) * su + ou)
        row_v = np.append(v_axis * sv, -np.dot(origin, v_axis) * sv + ov)
        return np.stack([row_u, row_v])

    def add_box(self, center, size, yaw: float, cls: str, inst: int, mat: int, uv_offset=(0.0, 0.0)) -> None:
        """Add a box of extents ``size`` (local x, y, z) centred at ``center``, rotated by
        ``yaw`` about world z."""
        size = np.asarray(size, dtype=np.float64)
        R = _yaw_matrix(yaw)
        verts = (_BOX_CORNERS * size) @ R.T + np.asarray(center, dtype=np.float64)
        base = self._nv
        self._verts.append(verts)
        self._nv += 8
        cls_id = SYNTH.index(cls)
        material = self.materials[mat]
        for quad, n_local in _BOX_FACES:
            n_w = R @ np.asarray(n_local, dtype=np.float64)
            u_ax, v_ax = _face_axes(n_w, R)
            q = verts[list(quad)]
            pu = q @ u_ax
            pv = q @ v_ax
            # origin at the face corner with minimal (u, v) so photos map exactly onto it
            origin = u_ax * pu.min() + v_ax * pv.min()
            uv = self._uv_rows(material, origin, u_ax, v_ax, np.ptp(pu), np.ptp(pv), uv_offset)
            a, b, c, d = (base + i for i in quad)
            self._face((a, b, c), cls_id, inst, mat, uv)
            self._face((a, c, d), cls_id, inst, mat, uv)
        self._n_parts += 1

    def _face(self, tri, cls_id: int, inst: int, mat: int, uv: np.ndarray) -> None:
        self._tris.append(tri)
        self._part.append(self._n_parts)
        self._cls.append(cls_id)
        self._inst.append(inst)
        self._mat.append(mat)
        self._uv.append(uv)

    def add_cylinder(
        self, center, radius: float, height: float, cls: str, inst: int, mat: int, segments: int = 12
    ) -> None:
        """Add a vertical cylinder; ``center`` is the centre of its axis (z mid-height)."""
        cx, cy, cz = (float(v) for v in center)
        ang = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        ring = np.stack([cx + radius * np.cos(ang), cy + radius * np.sin(ang)], axis=1)
        bottom = np.column_stack([ring, np.full(segments, cz - height / 2)])
        top = np.column_stack([ring, np.full(segments, cz + height / 2)])
        centers = np.array([[cx, cy, cz - height / 2], [cx, cy, cz + height / 2]])
        verts = np.vstack([bottom, top, centers])
        base = self._nv
        self._verts.append(verts)
        self._nv += len(verts)
        cls_id = SYNTH.index(cls)
        material = self.materials[mat]
        ib, it = base + 2 * segments, base + 2 * segments + 1
        for k in range(segments):
            k2 = (k + 1) % segments
            a, b = base + k, base + k2
            c, d = base + segments + k2, base + segments + k
            mid = 0.5 * (ang[k] + ang[(k + 1) % segments] + (2 * np.pi if k2 == 0 else 0))
            n_w = np.array([np.cos(mid), np.sin(mid), 0.0])
            u_ax, v_ax = _face_axes(n_w, np.eye(3))
            q = verts[[k, k2, segments + k2, segments + k]]
            pu, pv = q @ u_ax, q @ v_ax
            origin = u_ax * pu.min() + v_ax * pv.min()
            uv_side = self._uv_rows(material, origin, u_ax, v_ax, np.ptp(pu), np.ptp(pv), (0, 0))
            uv_cap = self._uv_rows(
                material,
                np.array([cx - radius, cy - radius, 0.0]),
                np.array([1.0, 0, 0]),
                np.array([0, 1.0, 0]),
                2 * radius,
                2 * radius,
                (0, 0),
            )
            for tri, uv in (((a, b, c), uv_side), ((a, c, d), uv_side), ((ib, b, a), uv_cap), ((it, d, c), uv_cap)):
                self._face(tri, cls_id, inst, mat, uv)
        self._n_parts += 1

    def build(self) -> SceneMesh:
        cls = np.asarray(self._cls, dtype=np.int16)
        return SceneMesh(
            vertices=np.vstack(self._verts).astype(np.float32),
            triangles=np.asarray(self._tris, dtype=np.int32),
            face_class=cls,
            face_label=SYNTH_TO_NYU13[cls],
            face_instance=np.asarray(self._inst, dtype=np.int32),
            face_material=np.asarray(self._mat, dtype=np.int32),
            face_uv=np.asarray(self._uv, dtype=np.float32),
            face_part=np.asarray(self._part, dtype=np.int32),
        )
