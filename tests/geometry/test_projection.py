import numpy as np
import pytest

from real3d.core import InputError, Intrinsics
from real3d.geometry import depth_to_world_points, pixel_rays, project_points, unproject_depth

K = Intrinsics(300.0, 310.0, 159.5, 119.5, 320, 240)


def test_hand_computed_projection():
    uv, z = project_points(np.array([[1.0, -0.5, 2.0]]), K)
    assert np.allclose(uv, [[300 * 0.5 + 159.5, 310 * -0.25 + 119.5]]) and z[0] == 2.0


def test_round_trip():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5, (240, 320)).astype(np.float32)
    pts = unproject_depth(depth, K)
    uv, z = project_points(pts, K)
    vv, uu = np.mgrid[0:240, 0:320]
    assert np.allclose(uv[..., 0], uu, atol=1e-3) and np.allclose(uv[..., 1], vv, atol=1e-3)
    assert np.allclose(z, depth, atol=1e-6)


def test_principal_point_ray_is_optical_axis():
    r = pixel_rays(Intrinsics(100.0, 100.0, 2.0, 1.0, 5, 3))
    assert np.allclose(r[1, 2], [0, 0, 1])


def test_world_points_and_errors():
    depth = np.zeros((240, 320), np.float32)
    depth[119, 159] = 2.0
    T = np.eye(4)
    T[:3, 3] = [1, 2, 3]
    p, vu = depth_to_world_points(depth, K, T)
    assert vu.tolist() == [[119, 159]]
    assert np.allclose(p, [[1 + (159 - 159.5) / 300 * 2, 2 + (119 - 119.5) / 310 * 2, 5]])
    with pytest.raises(InputError):
        unproject_depth(np.zeros((10, 10), np.float32), K)
    with pytest.raises(InputError):
        project_points(np.zeros((3, 2)), K)


def test_rotate_vectors_matches_matmul():
    from real3d.core import camera_from_yaw_pitch
    from real3d.geometry import rotate_vectors

    R = camera_from_yaw_pitch((0, 0, 0), 0.4, -0.3, 0.1)[:3, :3]
    v = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    out = rotate_vectors(v, R)
    assert out.dtype == np.float32 and np.allclose(out, v @ R.T.astype(np.float32), atol=1e-6)
    with pytest.raises(InputError):
        rotate_vectors(np.zeros((4, 2)), R)
