"""Rendering of synthetic scenes: rasterised visibility, textures, shadowed lighting.

Per frame: primary visibility is a z-buffer rasterisation of the scene mesh that answers
exactly what a ray through every pixel centre would (rays with camera z = 1, so the hit
distance is the z-depth): z-depth, the triangle hit (-> class, instance, material) and the
surface normal. Colour is Lambertian shading of textured albedo under the scene's point
lights, with cast shadows from shadow rays traced by Open3D's RaycastingScene (at reduced
resolution; for hosts without Open3D, ``RenderConfig.shadow_rays="bvh"`` traces them with
real3d's numba BVH on the CPU and ``"torch"`` with its brute-force torch test, on a GPU
where there is one), plus emitted light
from windows, screens and lamps. Camera effects and the depth sensor model then turn the
clean signals into what a real RGB-D camera would give.

The per-pixel loops are numba kernels (compiled on first use, cached on disk): one pass per
step instead of chains of numpy temporaries (throughput against the numpy renderer built on
Open3D's primary ray cast: docs/BENCHMARKS.md, "Data engine").

The module is somewhat over 600 lines (about 660) because the kernels of one frame (rasterise, surface,
albedo, light, radiance, ground truth) and the two classes that drive them read best in
the order a frame passes through them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, InputError
from real3d.core.frame import Frame
from real3d.core.pose import check_pose
from real3d.geometry.o3d import import_open3d
from real3d.synth.camera_effects import CameraEffectsConfig, apply_camera_effects
from real3d.synth.sensor import DepthSensorConfig, simulate_depth
from real3d.synth.textures import SRGB8_TO_LINEAR, TextureBank
from real3d.synth.types import SceneGT, SceneMesh


@dataclass(frozen=True)
class RenderConfig:
    """Rendering settings.

    Attributes:
        shadow_stride: lighting (shadow rays included) is computed every
            ``shadow_stride`` pixels in each direction and repeated (1 = full resolution).
        max_shadow_lights: lights that cast shadows (nearest first); further lights light
            without shadows.
        ambient_range: range of the uniform ambient term (random per frame).
        effects: camera effects (exposure, white balance, blur, noise, JPEG).
        sensor: depth sensor model.
        nthreads: threads of Open3D's shadow-ray tests (0 = all cores; 1 suits one
            worker process per core).
        shadow_rays: ``"open3d"`` (default: Open3D's RaycastingScene), ``"bvh"``
            (``real3d.geometry.bvh.BVHOccluder``: a numba bounding volume hierarchy, one
            CPU thread, float64) or ``"torch"`` (``real3d.geometry.raycast.TorchOccluder``:
            every ray against every triangle, on CUDA when available, float32). They differ
            only for rays that graze an edge or a vertex.
    """

    shadow_stride: int = 2
    max_shadow_lights: int = 2
    ambient_range: tuple[float, float] = (0.12, 0.45)
    effects: CameraEffectsConfig = field(default_factory=CameraEffectsConfig)
    sensor: DepthSensorConfig = field(default_factory=DepthSensorConfig)
    nthreads: int = 0
    shadow_rays: str = "open3d"

    def __post_init__(self) -> None:
        if self.shadow_rays not in ("open3d", "bvh", "torch"):
            raise ConfigError(
                f"RenderConfig.shadow_rays: expected 'open3d', 'bvh' or 'torch', got {self.shadow_rays!r}"
            )


@dataclass
class RenderedViews:
    """Clean per-pixel outputs of one ray cast (before camera effects and sensor noise).

    Attributes:
        depth_m: (H, W) float32 z-depth, 0 where no surface was hit.
        face: (H, W) int64 index of the triangle hit, -1 for none.
        normals_cam: (H, W, 3) float32 unit normals in the camera frame, facing the camera.
        points_world: (H, W, 3) float32 hit points in the world frame.
    """

    depth_m: np.ndarray
    face: np.ndarray
    normals_cam: np.ndarray
    points_world: np.ndarray


# -- compiled kernels ----------------------------------------------------------------------
# Per-pixel loops compiled with numba: each replaces a chain of numpy passes (and their
# temporaries) by one pass over the image. Compiled once and cached on disk (cache=True).

# Nearest depth the rasteriser keeps: geometry closer to the camera centre is clipped away.
_Z_NEAR_M = 1e-3
# Pixel-centre tolerance of the coverage test: a centre on a shared edge belongs to both
# triangles (the nearer wins), so no gap opens between them through rounding.
_EDGE_EPS_PX = 1e-7


@njit(cache=True, nogil=True)
def _rasterize(vertices, triangles, R, t, cam, z_near, inv_zbuf, face):
    """Z-buffer rasterisation of every triangle, both sides, into ``inv_zbuf`` / ``face``.

    vertices (V, 3) float64 world; triangles (F, 3) int32; R (3, 3), t (3,) float64
    world_T_cam rotation and translation; cam = (fx, fy, cx, cy). inv_zbuf (H, W) float64
    (1 / z-depth, 0 where empty) and face (H, W) int64 (-1) are updated in place.

    A triangle is clipped to z >= z_near, projected, and each image row is intersected with
    the projected polygon's edges to get the span of pixel centres it covers. The depth at a
    covered centre is not interpolated: it is the exact intersection of the centre's ray
    (x, y, 1) with the triangle's plane n . p = d, i.e. z = d / (n . ray); the buffer keeps
    1 / z = (n / d) . ray, which needs no division per pixel.
    """
    h, w = inv_zbuf.shape
    fx, fy, cx, cy = cam[0], cam[1], cam[2], cam[3]
    eps = _EDGE_EPS_PX
    n_v = vertices.shape[0]
    vc = np.empty((n_v, 3))
    for i in range(n_v):
        dx = vertices[i, 0] - t[0]
        dy = vertices[i, 1] - t[1]
        dz = vertices[i, 2] - t[2]
        for j in range(3):
            vc[i, j] = R[0, j] * dx + R[1, j] * dy + R[2, j] * dz
    ray_x = (np.arange(w) - cx) / fx
    tri = np.empty((3, 3))
    poly = np.empty((4, 3))
    pu = np.empty(4)
    pv = np.empty(4)
    for f in range(triangles.shape[0]):
        n_front = 0
        for k in range(3):
            for j in range(3):
                tri[k, j] = vc[triangles[f, k], j]
            if tri[k, 2] >= z_near:
                n_front += 1
        if n_front == 0:
            continue
        # outside one side plane of the view frustum (a one-pixel margin): nothing to draw
        n_left = n_right = n_top = n_bottom = 0
        for k in range(3):
            x, y, z = tri[k, 0], tri[k, 1], tri[k, 2]
            n_left += fx * x + (cx + 1.0) * z < 0.0
            n_right += fx * x + (cx - w) * z > 0.0
            n_top += fy * y + (cy + 1.0) * z < 0.0
            n_bottom += fy * y + (cy - h) * z > 0.0
        if n_left == 3 or n_right == 3 or n_top == 3 or n_bottom == 3:
            continue
        e1x, e1y, e1z = tri[1, 0] - tri[0, 0], tri[1, 1] - tri[0, 1], tri[1, 2] - tri[0, 2]
        e2x, e2y, e2z = tri[2, 0] - tri[0, 0], tri[2, 1] - tri[0, 1], tri[2, 2] - tri[0, 2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        d = nx * tri[0, 0] + ny * tri[0, 1] + nz * tri[0, 2]
        # clip against the near plane: a triangle becomes a polygon of up to 4 vertices
        m = 0
        for k in range(3):
            k2 = (k + 1) % 3
            inside, inside2 = tri[k, 2] >= z_near, tri[k2, 2] >= z_near
            if inside:
                poly[m, 0], poly[m, 1], poly[m, 2] = tri[k, 0], tri[k, 1], tri[k, 2]
                m += 1
            if inside != inside2:
                s = (z_near - tri[k, 2]) / (tri[k2, 2] - tri[k, 2])
                poly[m, 0] = tri[k, 0] + s * (tri[k2, 0] - tri[k, 0])
                poly[m, 1] = tri[k, 1] + s * (tri[k2, 1] - tri[k, 1])
                poly[m, 2] = z_near
                m += 1
        u_min, u_max, v_min, v_max = np.inf, -np.inf, np.inf, -np.inf
        for k in range(m):
            pu[k] = fx * poly[k, 0] / poly[k, 2] + cx
            pv[k] = fy * poly[k, 1] / poly[k, 2] + cy
            u_min, u_max = min(u_min, pu[k]), max(u_max, pu[k])
            v_min, v_max = min(v_min, pv[k]), max(v_max, pv[k])
        area = 0.0
        for k in range(m):
            k2 = (k + 1) % m
            area += pu[k] * pv[k2] - pu[k2] * pv[k]
        if area == 0.0:  # seen edge-on
            continue
        if d == 0.0:  # plane through the camera centre: seen edge-on
            continue
        inv_d = 1.0 / d
        nx_d = nx * inv_d
        sgn = 1.0 if area > 0.0 else -1.0
        v0 = max(0, int(np.ceil(v_min - eps)))
        v1 = min(h - 1, int(np.floor(v_max + eps)))
        u_lo = max(0.0, np.ceil(u_min - eps))
        u_hi = min(w - 1.0, np.floor(u_max + eps))
        if v0 > v1 or u_lo > u_hi:
            continue
        for v in range(v0, v1 + 1):
            lo, hi = u_lo, u_hi
            # inside edge k: a * (u - pu[k]) + b >= 0
            for k in range(m):
                k2 = (k + 1) % m
                a = sgn * (pv[k] - pv[k2])
                du = pu[k2] - pu[k]
                b = sgn * du * (v - pv[k])
                if a > 0.0:
                    lo = max(lo, pu[k] - b / a)
                elif a < 0.0:
                    hi = min(hi, pu[k] - b / a)
                elif b < -eps * abs(du):
                    hi = -1.0
            u0 = int(max(u_lo, np.ceil(lo - eps)))
            u1 = int(min(u_hi, np.floor(hi + eps)))
            base = (ny * (v - cy) / fy + nz) * inv_d
            for u in range(u0, u1 + 1):
                inv_z = nx_d * ray_x[u] + base
                if inv_z > inv_zbuf[v, u]:
                    inv_zbuf[v, u] = inv_z
                    face[v, u] = f


@njit(cache=True, nogil=True)
def _surface(inv_zbuf, face, face_normals, R, t, cam, depth, normals_cam, points_world):
    """Per pixel: float32 depth (0 where empty), the hit face's unit normal in the camera
    frame turned towards the camera (0 where empty), and the hit point in the world frame
    (the camera centre where empty). Outputs are written in place."""
    h, w = inv_zbuf.shape
    fx, fy, cx, cy = cam[0], cam[1], cam[2], cam[3]
    for v in range(h):
        ry = (v - cy) / fy
        for u in range(w):
            rx = (u - cx) / fx
            f = face[v, u]
            if f < 0:
                depth[v, u] = 0.0
                for j in range(3):
                    normals_cam[v, u, j] = 0.0
                    points_world[v, u, j] = t[j]
                continue
            z = 1.0 / inv_zbuf[v, u]
            depth[v, u] = z
            # camera-frame normal R^T n; flipped to face the camera (back faces of thin parts)
            n0 = R[0, 0] * face_normals[f, 0] + R[1, 0] * face_normals[f, 1] + R[2, 0] * face_normals[f, 2]
            n1 = R[0, 1] * face_normals[f, 0] + R[1, 1] * face_normals[f, 1] + R[2, 1] * face_normals[f, 2]
            n2 = R[0, 2] * face_normals[f, 0] + R[1, 2] * face_normals[f, 1] + R[2, 2] * face_normals[f, 2]
            if n0 * rx + n1 * ry + n2 > 0.0:
                n0, n1, n2 = -n0, -n1, -n2
            normals_cam[v, u, 0] = n0
            normals_cam[v, u, 1] = n1
            normals_cam[v, u, 2] = n2
            px, py = rx * z, ry * z
            for j in range(3):
                points_world[v, u, j] = t[j] + R[j, 0] * px + R[j, 1] * py + R[j, 2] * z


@njit(cache=True, nogil=True)
def _albedo(face, points_world, table, atlas, srgb8_to_linear, size, albedo, emitted):
    """Textured albedo and emitted radiance per pixel (see ``Renderer.albedo``); outputs
    (H, W, 3) float32 written in place, 0 where nothing was hit. ``atlas`` (N, 3) uint8 sRGB
    texels, decoded through the 256-entry table ``srgb8_to_linear``."""
    h, w = face.shape
    pow2 = size & (size - 1) == 0
    half = np.float32(0.5)
    for v in range(h):
        for u in range(w):
            f = face[v, u]
            if f < 0:
                for j in range(3):
                    albedo[v, u, j] = 0.0
                    emitted[v, u, j] = 0.0
                continue
            row = table[f]
            px, py, pz = points_world[v, u, 0], points_world[v, u, 1], points_world[v, u, 2]
            # nearest texel (texel centres at integers)
            iu = int(np.floor(row[0] * px + row[1] * py + row[2] * pz + row[3] + half))
            iv = int(np.floor(row[4] * px + row[5] * py + row[6] * pz + row[7] + half))
            if row[14] > 0:  # photos clamp to their edges
                iu = min(max(iu, 0), size - 1)
                iv = min(max(iv, 0), size - 1)
            elif pow2:  # tiled textures wrap; a bit mask for power-of-two sizes
                iu &= size - 1
                iv &= size - 1
            else:
                iu %= size
                iv %= size
            texel = (int(row[13]) * size + iv) * size + iu
            s = row[11]
            for j in range(3):
                a = row[8 + j] * (np.float32(1.0) - s + s * srgb8_to_linear[atlas[texel, j]])
                albedo[v, u, j] = a
                emitted[v, u, j] = a * row[12]


@njit(cache=True, nogil=True)
def _light_samples(face, points_world, normals_cam, R, stride):
    """Hit pixels of the lighting grid (every ``stride``-th pixel): their flat index in the
    (ceil(H/stride), ceil(W/stride)) grid, world points and world normals (float32)."""
    h, w = face.shape
    hs, ws = (h + stride - 1) // stride, (w + stride - 1) // stride
    idx = np.empty(hs * ws, dtype=np.int64)
    p = np.empty((hs * ws, 3), dtype=np.float32)
    n = np.empty((hs * ws, 3), dtype=np.float32)
    m = 0
    for i in range(hs):
        for k in range(ws):
            v, u = i * stride, k * stride
            if face[v, u] < 0:
                continue
            idx[m] = i * ws + k
            for j in range(3):
                p[m, j] = points_world[v, u, j]
                n[m, j] = (
                    R[j, 0] * normals_cam[v, u, 0] + R[j, 1] * normals_cam[v, u, 1] + R[j, 2] * normals_cam[v, u, 2]
                )
            m += 1
    return idx[:m], p[:m], n[:m]


@njit(cache=True, nogil=True)
def _shadow_rays(p, n, light, intensity, offset_m):
    """Lambertian gain of a point light at each sample (soft inverse-square falloff) and,
    for the samples it reaches (gain > 0), shadow rays from just off the surface to the
    light: rows (origin, light - origin), so t = 1 is the light itself.

    Returns (gain (N,) float32, lit (M,) int64 indices of samples with gain > 0,
    rays (M, 6) float32)."""
    n_s = p.shape[0]
    gain = np.zeros(n_s, dtype=np.float32)
    lit = np.empty(n_s, dtype=np.int64)
    rays = np.empty((n_s, 6), dtype=np.float32)
    m = 0
    for i in range(n_s):
        lx, ly, lz = light[0] - p[i, 0], light[1] - p[i, 1], light[2] - p[i, 2]
        d2 = lx * lx + ly * ly + lz * lz
        ndotl = n[i, 0] * lx + n[i, 1] * ly + n[i, 2] * lz
        if ndotl <= 0.0:
            continue
        gain[i] = ndotl / np.sqrt(d2 + 1e-12) * (intensity / (1.0 + d2))
        lit[m] = i
        for j in range(3):
            o = p[i, j] + offset_m * n[i, j]
            rays[m, j] = o
            rays[m, 3 + j] = light[j] - o
        m += 1
    return gain, lit[:m], rays[:m]


@njit(cache=True, nogil=True)
def _add_light(acc, gain, lit, occluded, colour):
    """acc[lit[i]] += gain * colour for every shadow ray i that reached the light."""
    for i in range(lit.shape[0]):
        if not occluded[i]:
            k = lit[i]
            for j in range(3):
                acc[k, j] += gain[k] * colour[j]


@njit(cache=True, nogil=True)
def _expand_irradiance(face, idx, acc, ambient, stride, out):
    """Full-resolution irradiance: each hit pixel takes its lighting-grid cell's value
    (ambient plus ``acc`` where the cell's sample hit a surface), 0 where nothing was hit."""
    h, w = face.shape
    ws = (w + stride - 1) // stride
    hs = (h + stride - 1) // stride
    grid = np.full((hs * ws, 3), ambient, dtype=np.float32)
    for i in range(idx.shape[0]):
        for j in range(3):
            grid[idx[i], j] += acc[i, j]
    for v in range(h):
        row = (v // stride) * ws
        for u in range(w):
            if face[v, u] < 0:
                for j in range(3):
                    out[v, u, j] = 0.0
            else:
                c = row + u // stride
                for j in range(3):
                    out[v, u, j] = grid[c, j]


@njit(cache=True, nogil=True)
def _radiance(albedo, emitted, irradiance, face, face_specular, lum, specular):
    """In place: ``irradiance`` becomes the radiance albedo * irradiance + emitted. Also
    writes the albedo's luminance and the specular-surface mask (per pixel)."""
    h, w = face.shape
    for v in range(h):
        for u in range(w):
            for j in range(3):
                irradiance[v, u, j] = albedo[v, u, j] * irradiance[v, u, j] + emitted[v, u, j]
            lum[v, u] = (
                np.float32(0.2126) * albedo[v, u, 0]
                + np.float32(0.7152) * albedo[v, u, 1]
                + np.float32(0.0722) * albedo[v, u, 2]
            )
            f = face[v, u]
            specular[v, u] = f >= 0 and face_specular[f]


@njit(cache=True, nogil=True)
def _face_ground_truth(face, face_label, face_instance, labels, instances):
    """labels / instances of the face hit at each pixel, 0 where nothing was hit."""
    h, w = face.shape
    for v in range(h):
        for u in range(w):
            f = face[v, u]
            labels[v, u] = face_label[f] if f >= 0 else 0
            instances[v, u] = face_instance[f] if f >= 0 else 0


class MeshCaster:
    """Primary visibility of a labelled scene mesh under real3d's camera convention.

    The primary "cast" is a z-buffer rasterisation (see :func:`_rasterize`) that gives the
    same answer as a ray through every pixel centre, at a tenth of the cost of Open3D's ray
    cast for these meshes of a few thousand large triangles. Open3D's ray-casting scene is
    kept (built on first use) for secondary rays, such as shadow rays. Shared by the textured
    ``Renderer`` and by simpler renderers (flat-shaded test scenes) so the pixel-centre
    convention lives in one place.

    Args:
        mesh: the scene mesh (vertices, triangles and per-face ground truth).
    """

    def __init__(self, mesh: SceneMesh):
        self.mesh = mesh
        self._vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
        self._triangles = np.ascontiguousarray(mesh.triangles, dtype=np.int32)
        tri = self._vertices[self._triangles]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        # unit normals (0 for degenerate faces, which the rasteriser never reports)
        self._face_normals = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
        self._face_label = np.ascontiguousarray(mesh.face_label, dtype=np.uint8)
        self._face_instance = np.ascontiguousarray(mesh.face_instance, dtype=np.int32)
        self._raycasting_scene = None
        self._torch_occluder = None
        self._bvh_occluder = None

    def occlusion_test(self, backend: str = "open3d", nthreads: int = 0):
        """``f(rays (N, 6) float32, tnear, tfar) -> (N,) bool``: whether each ray (origin,
        unnormalised direction) meets the mesh at tnear < t < tfar, traced by Open3D, by
        ``BVHOccluder`` or by ``TorchOccluder`` (see ``RenderConfig.shadow_rays``)."""
        if backend == "torch":
            if self._torch_occluder is None:
                from real3d.geometry.raycast import TorchOccluder

                self._torch_occluder = TorchOccluder(self._vertices, self._triangles)
            return self._torch_occluder.test_occlusions
        if backend == "bvh":
            if self._bvh_occluder is None:
                from real3d.geometry.bvh import BVHOccluder

                self._bvh_occluder = BVHOccluder(self._vertices, self._triangles)
            return self._bvh_occluder.test_occlusions
        o3d = import_open3d()
        rc = self.raycasting_scene

        def test(rays, tnear, tfar):
            return rc.test_occlusions(o3d.core.Tensor(rays), tnear=tnear, tfar=tfar, nthreads=nthreads).numpy()

        return test

    @property
    def raycasting_scene(self):
        """Open3D ``RaycastingScene`` of the mesh, for secondary rays."""
        if self._raycasting_scene is None:
            o3d = import_open3d()
            rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(
                o3d.core.Tensor(self._vertices.astype(np.float32)), o3d.core.Tensor(self._triangles.astype(np.uint32))
            )
            self._raycasting_scene = rc
        return self._raycasting_scene

    def cast(self, world_T_cam: np.ndarray, intrinsics: Intrinsics) -> RenderedViews:
        """Clean z-depth, faces hit, camera-facing normals and hit points for every pixel.

        Equivalent to rays through pixel centres with camera z = 1 (so the hit distance is
        the z-depth): the depth of each pixel is the exact intersection of its centre ray
        with the nearest triangle's plane, in float64.
        """
        world_T_cam = check_pose(world_T_cam, "MeshCaster.cast world_T_cam")
        if not isinstance(intrinsics, Intrinsics):
            raise InputError(f"MeshCaster.cast: expected Intrinsics, got {type(intrinsics).__name__}")
        h, w = intrinsics.size_hw
        R = np.ascontiguousarray(world_T_cam[:3, :3], dtype=np.float64)
        t = np.ascontiguousarray(world_T_cam[:3, 3], dtype=np.float64)
        cam = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy])
        inv_zbuf = np.zeros((h, w))
        face = np.full((h, w), -1, dtype=np.int64)
        _rasterize(self._vertices, self._triangles, R, t, cam, _Z_NEAR_M, inv_zbuf, face)
        depth = np.empty((h, w), dtype=np.float32)
        normals = np.empty((h, w, 3), dtype=np.float32)
        points = np.empty((h, w, 3), dtype=np.float32)
        _surface(inv_zbuf, face, self._face_normals, R, t, cam, depth, normals, points)
        return RenderedViews(depth, face, normals, points)

    def ground_truth(self, views: RenderedViews) -> tuple[np.ndarray, np.ndarray]:
        """(labels (H, W) uint8 NYUv2-13, instances (H, W) int32) of the faces hit; 0 where
        nothing was hit."""
        h, w = views.face.shape
        labels = np.empty((h, w), dtype=np.uint8)
        instances = np.empty((h, w), dtype=np.int32)
        _face_ground_truth(views.face, self._face_label, self._face_instance, labels, instances)
        return labels, instances


class Renderer:
    """Renders frames of one scene. Holds the ray-casting scene and per-face lookup tables.

    Args:
        scene: the scene ground truth (its mesh carries face classes, instances, materials
            and texture maps).
        bank: textures and photos used by the scene's materials.
        config: rendering settings.
    """

    def __init__(self, scene: SceneGT, bank: TextureBank, config: RenderConfig | None = None):
        self.scene = scene
        self.bank = bank
        self.config = config or RenderConfig()
        mesh = scene.mesh
        self.caster = MeshCaster(mesh)
        mats = scene.materials
        n_photos = len(bank.photos)
        tex_of_mat = np.zeros(len(mats), dtype=np.int64)
        photo_of_mat = np.full(len(mats), -1, dtype=np.int64)
        for i, m in enumerate(mats):
            if m["kind"] == "photo":
                photo_of_mat[i] = m["variant"] % n_photos
            else:
                ids = bank.ids(m["kind"])
                tex_of_mat[i] = ids[m["variant"] % len(ids)]
        fm = mesh.face_material
        n_tex = len(bank.images)
        size = bank.images.shape[1]
        if bank.photos.shape[1] != size:
            raise InputError("Renderer: texture and photo sizes differ in the bank")
        self._atlas = bank.atlas().reshape(-1, 3)
        self._size = size
        is_photo = photo_of_mat >= 0
        slot = np.where(is_photo, n_tex + photo_of_mat, tex_of_mat)
        color = np.array([m["color"] for m in mats], dtype=np.float32).reshape(-1, 3)
        strength = np.array([m["strength"] for m in mats], dtype=np.float32)
        strength[is_photo] = 1.0
        emissive = np.array([m["emissive"] for m in mats], dtype=np.float32)
        specular = np.array([m["specular"] for m in mats], dtype=bool)
        # one row per face: uv affine map (8), colour (3), strength, emissive, slot, photo
        table = np.zeros((len(fm), 15), dtype=np.float32)
        table[:, 0:8] = mesh.face_uv.reshape(-1, 8)
        table[:, 8:11] = color[fm]
        table[:, 11] = strength[fm]
        table[:, 12] = emissive[fm]
        table[:, 13] = slot[fm]
        table[:, 14] = is_photo[fm]
        self._face_table = table
        self.face_specular = specular[fm]
        self.lights_pos = np.array([lt["position"] for lt in scene.lights], dtype=np.float32).reshape(-1, 3)
        self.lights_int = np.array([lt["intensity"] for lt in scene.lights], dtype=np.float32)
        self.lights_col = np.array([lt["color"] for lt in scene.lights], dtype=np.float32).reshape(-1, 3)

    def cast(self, world_T_cam: np.ndarray, intrinsics: Intrinsics) -> RenderedViews:
        """Primary visibility (see :meth:`MeshCaster.cast`)."""
        return self.caster.cast(world_T_cam, intrinsics)

    def albedo(self, views: RenderedViews) -> tuple[np.ndarray, np.ndarray]:
        """Textured albedo (H, W, 3) float32 linear and emitted radiance (H, W, 3).

        Nearest-texel lookup at each pixel's hit point; tiled textures wrap, photos clamp
        to their edges."""
        h, w = views.face.shape
        alb = np.empty((h, w, 3), dtype=np.float32)
        emit = np.empty((h, w, 3), dtype=np.float32)
        _albedo(views.face, views.points_world, self._face_table, self._atlas, SRGB8_TO_LINEAR, self._size, alb, emit)
        return alb, emit

    def irradiance(self, views: RenderedViews, world_T_cam: np.ndarray, rng) -> np.ndarray:
        """Light arriving at each visible point (H, W, 3): a uniform ambient term plus the
        ``max_shadow_lights`` lights nearest to the camera, each with cast shadows. Lights
        further away are left out: in homes they sit behind walls, in halls the nearest
        dominate.

        Irradiance varies slowly across a surface, so it is computed (shadow rays included)
        on every ``shadow_stride``-th pixel and repeated to full resolution; texture detail
        comes from the full-resolution albedo it multiplies. Shadow rays are traced with
        Open3D, only from points that face the light (the others get no light from it
        whatever lies between)."""
        cfg = self.config
        h, w = views.face.shape
        ambient = float(rng.uniform(*cfg.ambient_range))
        s = max(1, int(cfg.shadow_stride))
        R = np.ascontiguousarray(world_T_cam[:3, :3], dtype=np.float64)
        idx, p, n = _light_samples(views.face, views.points_world, views.normals_cam, R, s)
        acc = np.zeros((len(idx), 3), dtype=np.float32)
        if len(self.lights_pos) and len(idx):
            occluded = self.caster.occlusion_test(cfg.shadow_rays, cfg.nthreads)
            cam_pos = world_T_cam[:3, 3]
            order = np.argsort(np.linalg.norm(self.lights_pos - cam_pos, axis=1))
            for li in order[: cfg.max_shadow_lights]:
                gain, lit, rays = _shadow_rays(
                    p, n, self.lights_pos[li], np.float32(self.lights_int[li]), np.float32(2e-3)
                )
                if len(lit) == 0:
                    continue
                # tfar < 1 stops each ray just short of the light itself
                occ = occluded(rays, 1e-4, 0.98)
                _add_light(acc, gain, lit, occ, self.lights_col[li])
        E = np.empty((h, w, 3), dtype=np.float32)
        _expand_irradiance(views.face, idx, acc, np.float32(ambient), s, E)
        return E

    def render(
        self,
        world_T_cam: np.ndarray,
        intrinsics: Intrinsics,
        rng: np.random.Generator,
        *,
        noise: bool = True,
        timestamp_s: float = 0.0,
        index: int = 0,
    ) -> Frame:
        """Render one frame with ground truth.

        Args:
            world_T_cam: (4, 4) camera-to-world pose (OpenCV camera, world z up).
            intrinsics: camera intrinsics; the image size is taken from them.
            rng: random generator for lighting, camera effects and sensor noise.
            noise: apply camera effects and the depth sensor model; False gives clean
                tone-mapped colour and noise-free depth.
        """
        if not isinstance(intrinsics, Intrinsics):
            raise InputError(f"Renderer.render: expected Intrinsics, got {type(intrinsics).__name__}")
        world_T_cam = check_pose(world_T_cam, "Renderer.render world_T_cam")
        views = self.cast(world_T_cam, intrinsics)
        albedo, emitted = self.albedo(views)
        radiance = self.irradiance(views, world_T_cam, rng)
        h, w = views.face.shape
        lum = np.empty((h, w), dtype=np.float32)
        spec = np.empty((h, w), dtype=np.bool_)
        _radiance(albedo, emitted, radiance, views.face, self.face_specular, lum, spec)
        labels, instances = self.caster.ground_truth(views)
        if noise:
            rgb = apply_camera_effects(radiance, rng, self.config.effects)
            depth = simulate_depth(
                views.depth_m, views.normals_cam, intrinsics, rng, self.config.sensor, albedo=lum, specular_mask=spec
            )
        else:
            rgb = apply_camera_effects(radiance, rng, CameraEffectsConfig.none())
            depth = views.depth_m.copy()
        return Frame(
            rgb=rgb,
            depth_m=depth,
            intrinsics=intrinsics,
            world_T_cam=world_T_cam,
            timestamp_s=float(timestamp_s),
            labels=labels,
            instances=instances,
            depth_clean_m=views.depth_m,
            normals_cam=views.normals_cam,
            index=int(index),
        )
