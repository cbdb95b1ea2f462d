import numpy as np
import pytest

from real3d.core import InputError, Intrinsics
from real3d.geometry import depth_to_world_points
from real3d.geometry.o3d import import_open3d
from real3d.synth import Renderer, generate_scene, random_viewpoint


@pytest.fixture(scope="module")
def scene_and_renderer(bank):
    scene = generate_scene(21, "home")
    return scene, Renderer(scene, bank)


def _raycaster(scene):
    o3d = import_open3d()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.mesh.vertices), o3d.core.Tensor(scene.mesh.triangles.astype(np.uint32)))
    return o3d, rc


def test_clean_depth_lies_on_mesh(scene_and_renderer):
    scene, r = scene_and_renderer
    o3d, rc = _raycaster(scene)
    rng = np.random.default_rng(0)
    K = Intrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    for _ in range(3):
        T = random_viewpoint(scene, rng)
        f = r.render(T, K, rng, noise=False)
        p, _ = depth_to_world_points(f.depth_clean_m, K, f.world_T_cam)
        assert len(p) > 0.9 * 80 * 60
        d = rc.compute_distance(o3d.core.Tensor(p.astype(np.float32))).numpy()
        assert np.percentile(d, 99.9) < 1e-3, d.max()


def test_labels_and_instances_match_faces_hit(scene_and_renderer):
    """An independent cast with Open3D's own pinhole rays (principal point shifted by
    +0.5 for its pixel-corner convention) hits faces whose labels equal the frame's."""
    scene, r = scene_and_renderer
    o3d, rc = _raycaster(scene)
    rng = np.random.default_rng(1)
    K = Intrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    T = random_viewpoint(scene, rng)
    f = r.render(T, K, rng, noise=False)
    K_o3d = o3d.core.Tensor(np.array([[K.fx, 0, K.cx + 0.5], [0, K.fy, K.cy + 0.5], [0, 0, 1]]))
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        K_o3d, o3d.core.Tensor(np.linalg.inv(T)), K.width, K.height
    )
    ans = rc.cast_rays(rays)
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    hit = prim != rc.INVALID_ID
    labels = np.where(hit, scene.mesh.face_label[np.where(hit, prim, 0)], 0)
    inst = np.where(hit, scene.mesh.face_instance[np.where(hit, prim, 0)], 0)
    assert (labels == f.labels).mean() > 0.995
    assert (inst == f.instances).mean() > 0.995
    # Open3D's hit points, expressed in the camera frame, have our z-depth
    d = ans["t_hit"].numpy()
    dirs = rays.numpy()[..., 3:]
    cam_z = (np.linalg.inv(T)[:3, :3] @ (dirs * d[..., None]).reshape(-1, 3).T).T[:, 2].reshape(60, 80)
    ok = hit & (f.depth_clean_m > 0)
    assert np.abs(cam_z[ok] - f.depth_clean_m[ok]).max() < 1e-4


def test_render_outputs_and_noise(scene_and_renderer):
    scene, r = scene_and_renderer
    rng = np.random.default_rng(2)
    K = Intrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    T = random_viewpoint(scene, rng)
    f = r.render(T, K, np.random.default_rng(5), noise=True)
    assert f.rgb.dtype == np.uint8 and f.rgb.shape == (60, 80, 3)
    assert f.depth_m.dtype == np.float32 and np.isfinite(f.depth_m).all() and (f.depth_m >= 0).all()
    n = np.linalg.norm(f.normals_cam[f.depth_clean_m > 0], axis=-1)
    assert np.allclose(n, 1, atol=1e-4)
    # normals face the camera
    rays = np.dstack(
        list(np.meshgrid((np.arange(80) - 39.5) / 100, (np.arange(60) - 29.5) / 100)) + [np.ones((60, 80))]
    )
    assert (np.einsum("hwc,hwc->hw", rays, f.normals_cam)[f.depth_clean_m > 0] <= 1e-6).all()
    valid = (f.depth_m > 0) & (f.depth_clean_m > 0)
    err = f.depth_m[valid] - f.depth_clean_m[valid]
    assert 0 < np.abs(err).mean() < 0.05
    # same rng seed, same bytes
    g = r.render(T, K, np.random.default_rng(5), noise=True)
    assert np.array_equal(f.rgb, g.rgb) and np.array_equal(f.depth_m, g.depth_m)


def test_render_rejects_bad_input(scene_and_renderer):
    _, r = scene_and_renderer
    K = Intrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    with pytest.raises(InputError):
        r.render(np.eye(3), K, np.random.default_rng(0))
    with pytest.raises(InputError):
        r.render(np.eye(4), (100, 100, 39.5, 29.5), np.random.default_rng(0))


@pytest.mark.parametrize("backend", ["torch", "bvh"])
def test_other_shadow_ray_backends_render_what_open3d_renders(bank, backend):
    from real3d.core.errors import ConfigError
    from real3d.synth import RenderConfig

    scene = generate_scene(21, "home")
    K = Intrinsics(100.0, 100.0, 39.5, 29.5, 80, 60)
    a, b = Renderer(scene, bank), Renderer(scene, bank, RenderConfig(shadow_rays=backend))
    # a control that casts no shadows: the views must have shadows for the comparison to mean anything
    c = Renderer(scene, bank)
    c.caster.occlusion_test = lambda *_: lambda rays, tnear, tfar: np.zeros(len(rays), bool)
    shadowed = 0
    for k in range(4):
        T = random_viewpoint(scene, np.random.default_rng(10 + k))
        fa = a.render(T, K, np.random.default_rng(k), noise=True)
        fb = b.render(T, K, np.random.default_rng(k), noise=True)
        fc = c.render(T, K, np.random.default_rng(k), noise=True)
        assert np.array_equal(fa.depth_m, fb.depth_m) and np.array_equal(fa.labels, fb.labels)
        diff = np.abs(fa.rgb.astype(int) - fb.rgb.astype(int)).max(-1)
        assert (diff > 2).mean() < 0.002, k
        shadowed += int((np.abs(fa.rgb.astype(int) - fc.rgb.astype(int)).max(-1) > 2).mean() > 0.01)
    assert shadowed >= 2
    with pytest.raises(ConfigError):
        RenderConfig(shadow_rays="embree")
