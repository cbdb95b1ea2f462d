"""Ray-cast rendering of synthetic scenes with Open3D's RaycastingScene.

Per frame: primary rays through every pixel centre give z-depth (rays with camera z = 1, so
the hit distance is the z-depth), the primitive hit (-> class, instance, material) and the
surface normal. Colour is Lambertian shading of textured albedo under the scene's point
lights, with cast shadows from shadow rays (traced at reduced resolution for speed), plus
emitted light from windows, screens and lamps. Camera effects and the depth sensor model
then turn the clean signals into what a real RGB-D camera would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.core.pose import check_pose
from real3d.geometry.o3d import import_open3d
from real3d.geometry.projection import pixel_rays, rotate_vectors
from real3d.synth.camera_effects import CameraEffectsConfig, apply_camera_effects
from real3d.synth.sensor import DepthSensorConfig, simulate_depth
from real3d.synth.textures import TextureBank
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
        nthreads: Open3D ray-casting threads (0 = all cores).
    """

    shadow_stride: int = 2
    max_shadow_lights: int = 2
    ambient_range: tuple[float, float] = (0.12, 0.45)
    effects: CameraEffectsConfig = field(default_factory=CameraEffectsConfig)
    sensor: DepthSensorConfig = field(default_factory=DepthSensorConfig)
    nthreads: int = 0


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


class MeshCaster:
    """Primary-ray casting of a labelled scene mesh under real3d's camera convention.

    Holds Open3D's ray-casting scene (kept for shadow and other secondary rays) and a cache
    of per-pixel camera rays. Shared by the textured ``Renderer`` and by simpler renderers
    (flat-shaded test scenes) so the pixel-centre convention lives in one place.

    Args:
        mesh: the scene mesh (vertices, triangles and per-face ground truth).
    """

    def __init__(self, mesh: SceneMesh):
        o3d = import_open3d()
        self._o3d = o3d
        self.mesh = mesh
        self.raycasting_scene = o3d.t.geometry.RaycastingScene()
        self.raycasting_scene.add_triangles(
            o3d.core.Tensor(mesh.vertices.astype(np.float32)),
            o3d.core.Tensor(mesh.triangles.astype(np.uint32)),
        )
        self._rays_cache: dict[Intrinsics, np.ndarray] = {}

    def _cam_rays(self, intrinsics: Intrinsics) -> np.ndarray:
        rays = self._rays_cache.get(intrinsics)
        if rays is None:
            rays = pixel_rays(intrinsics).reshape(-1, 3).astype(np.float32)
            self._rays_cache = {intrinsics: rays}
        return rays

    def cast(self, world_T_cam: np.ndarray, intrinsics: Intrinsics, nthreads: int = 0) -> RenderedViews:
        """Clean z-depth, faces hit, camera-facing normals and hit points for every pixel.

        Rays go through pixel centres with camera z = 1, so the hit distance is z-depth.
        """
        world_T_cam = check_pose(world_T_cam, "MeshCaster.cast world_T_cam")
        if not isinstance(intrinsics, Intrinsics):
            raise InputError(f"MeshCaster.cast: expected Intrinsics, got {type(intrinsics).__name__}")
        o3d = self._o3d
        h, w = intrinsics.size_hw
        d_cam = self._cam_rays(intrinsics)
        R = world_T_cam[:3, :3].astype(np.float32)
        t = world_T_cam[:3, 3].astype(np.float32)
        d_world = rotate_vectors(d_cam, R)
        rays = np.empty((h * w, 6), dtype=np.float32)
        rays[:, :3] = t
        rays[:, 3:] = d_world
        ans = self.raycasting_scene.cast_rays(o3d.core.Tensor(rays), nthreads=nthreads)
        t_hit = ans["t_hit"].numpy()
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        hit = np.isfinite(t_hit)
        prim[~hit] = -1
        depth = np.where(hit, t_hit, 0.0).astype(np.float32)
        n_world = ans["primitive_normals"].numpy()
        # face the camera: back faces (seen from inside thin parts) get flipped normals
        flip = np.einsum("ij,ij->i", n_world, d_world) > 0
        n_world[flip] *= -1
        n_world[~hit] = 0
        n_cam = rotate_vectors(n_world, R.T)
        pts = t + d_world * depth[:, None]
        return RenderedViews(
            depth.reshape(h, w), prim.reshape(h, w), n_cam.reshape(h, w, 3).astype(np.float32),
            pts.reshape(h, w, 3).astype(np.float32),
        )

    def ground_truth(self, views: RenderedViews) -> tuple[np.ndarray, np.ndarray]:
        """(labels (H, W) uint8 NYUv2-13, instances (H, W) int32) of the faces hit; 0 where
        nothing was hit."""
        hit = views.face >= 0
        fidx = np.where(hit, views.face, 0)
        labels = np.where(hit, self.mesh.face_label[fidx], 0).astype(np.uint8)
        instances = np.where(hit, self.mesh.face_instance[fidx], 0).astype(np.int32)
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
        self._o3d = self.caster._o3d
        self._rc = self.caster.raycasting_scene
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
        # textures and photos in one atlas so one gather serves every pixel
        self._atlas = np.ascontiguousarray(
            np.concatenate([bank.images, bank.photos]).reshape(-1, 3), dtype=np.float32
        )
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
        """Primary ray cast (see :meth:`MeshCaster.cast`)."""
        return self.caster.cast(world_T_cam, intrinsics, nthreads=self.config.nthreads)

    def albedo(self, views: RenderedViews) -> tuple[np.ndarray, np.ndarray]:
        """Textured albedo (H, W, 3) float32 linear and emitted radiance (H, W, 3)."""
        face = views.face.reshape(-1)
        hit = np.flatnonzero(face >= 0)
        rows = self._face_table[face[hit]]
        p = views.points_world.reshape(-1, 3)[hit]
        px, py, pz = p[:, 0], p[:, 1], p[:, 2]
        u = rows[:, 0] * px + rows[:, 1] * py + rows[:, 2] * pz + rows[:, 3]
        v = rows[:, 4] * px + rows[:, 5] * py + rows[:, 6] * pz + rows[:, 7]
        S = self._size
        # +S * 4096 makes coordinates positive so truncation is floor; for power-of-two
        # sizes the wrap is a bit mask
        off = S * 4096 + 0.5
        iu = (u + off).astype(np.int64) - S * 4096
        iv = (v + off).astype(np.int64) - S * 4096
        if S & (S - 1) == 0:
            iu_w, iv_w = iu & (S - 1), iv & (S - 1)
        else:
            iu_w, iv_w = iu % S, iv % S
        photo = np.flatnonzero(rows[:, 14] > 0)
        # tiled textures wrap, photos clamp to their edges
        iu_w[photo] = np.clip(iu[photo], 0, S - 1)
        iv_w[photo] = np.clip(iv[photo], 0, S - 1)
        iu, iv = iu_w, iv_w
        flat = (rows[:, 13].astype(np.int64) * S + iv) * S + iu
        tex = self._atlas[flat]
        s = rows[:, 11:12]
        vals = rows[:, 8:11] * (1.0 - s + s * tex)
        n = face.size
        alb = np.zeros((n, 3), dtype=np.float32)
        emit = np.zeros((n, 3), dtype=np.float32)
        alb[hit] = vals
        emit[hit] = vals * rows[:, 12:13]
        h, w = views.face.shape
        return alb.reshape(h, w, 3), emit.reshape(h, w, 3)

    def irradiance(self, views: RenderedViews, world_T_cam: np.ndarray, rng) -> np.ndarray:
        """Light arriving at each visible point (H, W, 3): a uniform ambient term plus the
        ``max_shadow_lights`` lights nearest to the camera, each with cast shadows. Lights
        further away are left out: in homes they sit behind walls, in halls the nearest
        dominate.

        Irradiance varies slowly across a surface, so it is computed (shadow rays included)
        on every ``shadow_stride``-th pixel and repeated to full resolution; texture detail
        comes from the full-resolution albedo it multiplies."""
        o3d = self._o3d
        cfg = self.config
        h, w = views.face.shape
        hit = views.face >= 0
        ambient = float(rng.uniform(*cfg.ambient_range))
        s = max(1, int(cfg.shadow_stride))
        sub = (slice(None, None, s), slice(None, None, s))
        hs = hit[sub]
        E_sub = np.full(hs.shape + (3,), ambient, dtype=np.float32)
        if len(self.lights_pos) and hs.any():
            R = world_T_cam[:3, :3].astype(np.float32)
            cam_pos = world_T_cam[:3, 3]
            order = np.argsort(np.linalg.norm(self.lights_pos - cam_pos, axis=1))
            p = views.points_world[sub][hs]
            n = rotate_vectors(views.normals_cam[sub][hs], R)
            o = p + 2e-3 * n
            acc = np.zeros((len(p), 3), dtype=np.float32)
            for li in order[: cfg.max_shadow_lights]:
                L = self.lights_pos[li]
                to_l = L - p
                d2 = np.einsum("ij,ij->i", to_l, to_l)
                ndotl = np.clip(np.einsum("ij,ij->i", n, to_l), 0.0, None) / np.sqrt(d2 + 1e-12)
                # soft inverse-square falloff so nearby lights do not blow out
                gain = ndotl * (self.lights_int[li] / (1.0 + d2))
                # unnormalised direction to the light: t = 1 is the light itself, so one
                # scalar tfar serves every shadow ray
                rays = np.concatenate([o, L - o], axis=1).astype(np.float32)
                occ = self._rc.test_occlusions(
                    o3d.core.Tensor(rays), tnear=1e-4, tfar=0.98, nthreads=cfg.nthreads
                ).numpy()
                acc += (gain * ~occ)[:, None] * self.lights_col[li]
            E_sub[hs] += acc
        E = np.repeat(np.repeat(E_sub, s, 0), s, 1)[:h, :w]
        E[~hit] = 0.0
        return E

    def render(self, world_T_cam: np.ndarray, intrinsics: Intrinsics, rng: np.random.Generator,
               *, noise: bool = True, timestamp_s: float = 0.0, index: int = 0) -> Frame:
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
        E = self.irradiance(views, world_T_cam, rng)
        radiance = albedo * E + emitted
        labels, instances = self.caster.ground_truth(views)
        if noise:
            rgb = apply_camera_effects(radiance, rng, self.config.effects)
            lum = 0.2126 * albedo[..., 0] + 0.7152 * albedo[..., 1] + 0.0722 * albedo[..., 2]
            hit = views.face >= 0
            spec = hit & self.face_specular[np.where(hit, views.face, 0)]
            depth = simulate_depth(views.depth_m, views.normals_cam, intrinsics, rng,
                                   self.config.sensor, albedo=lum.astype(np.float32),
                                   specular_mask=spec)
        else:
            rgb = apply_camera_effects(radiance, rng, CameraEffectsConfig.none())
            depth = views.depth_m.copy()
        return Frame(
            rgb=rgb, depth_m=depth, intrinsics=intrinsics, world_T_cam=world_T_cam,
            timestamp_s=float(timestamp_s), labels=labels, instances=instances,
            depth_clean_m=views.depth_m, normals_cam=views.normals_cam, index=int(index),
        )
