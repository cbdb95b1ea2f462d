import numpy as np
import pytest

from real3d.core import InputError
from real3d.geometry.o3d import import_open3d
from real3d.synth import free_mask, generate_scene, random_viewpoint, trajectory


@pytest.mark.parametrize("kind, mode", [("home", "robot"), ("home", "handheld"), ("warehouse", "robot")])
def test_cameras_never_inside_geometry(kind, mode):
    scene = generate_scene(13, kind)
    o3d = import_open3d()
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(scene.mesh.vertices), o3d.core.Tensor(scene.mesh.triangles.astype(np.uint32)))
    rng = np.random.default_rng(0)
    poses, t = trajectory(scene, 120, rng, mode=mode, fps=15)
    assert poses.shape == (120, 4, 4) and np.allclose(np.diff(t), 1 / 15)
    views = np.stack([random_viewpoint(scene, rng) for _ in range(50)])
    for P in (poses, views):
        c = P[:, :3, 3].astype(np.float32)
        d = rc.compute_distance(o3d.core.Tensor(c)).numpy()
        assert d.min() > 0.2, d.min()
        # cameras stand above the floor and below the obstacle band's top
        assert (c[:, 2] > 0.1).all() and (c[:, 2] < scene.occupancy.z_max_m).all()
        rc_ = scene.occupancy.world_to_cell(c[:, :2])
        assert not scene.occupancy.occupied[rc_[:, 0], rc_[:, 1]].any()
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 0.1  # smooth: under 1.5 m/s at 15 fps


def test_free_mask_clearance():
    scene = generate_scene(2, "home")
    a, b = free_mask(scene, 0.2), free_mask(scene, 0.5)
    assert b.sum() < a.sum() and not (b & scene.occupancy.occupied).any()


def test_bad_arguments():
    scene = generate_scene(2, "home")
    rng = np.random.default_rng(0)
    with pytest.raises(InputError):
        trajectory(scene, 0, rng)
    with pytest.raises(InputError, match="mode"):
        trajectory(scene, 5, rng, mode="drone")
    with pytest.raises(InputError):
        trajectory(scene, 5, rng, height_m=3.0)
