import numpy as np
import pytest

from real3d.core import (
    InputError,
    camera_from_yaw_pitch,
    check_pose,
    invert_pose,
    look_at,
    quat_to_rotation,
    rotation_to_quat,
    transform_points,
)


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = q if q[3] >= 0 else -q
        R = quat_to_rotation(q)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.allclose(rotation_to_quat(R), q, atol=1e-9)


def test_quaternion_hand_value():
    # 90 degrees about z maps x to y
    R = quat_to_rotation([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0])


def test_invert_and_transform():
    T = camera_from_yaw_pitch((1.0, 2.0, 1.5), 0.3, -0.2, 0.05)
    p = np.array([[0.1, 0.2, 3.0]])
    assert np.allclose(transform_points(invert_pose(T), transform_points(T, p)), p)
    assert np.allclose(invert_pose(T) @ T, np.eye(4))


def test_camera_axes():
    T = camera_from_yaw_pitch((0, 0, 1.0), 0.0, 0.0)
    # looking along +x with z up: camera +z -> world +x, camera +y (down) -> world -z
    assert np.allclose(T[:3, 2], [1, 0, 0]) and np.allclose(T[:3, 1], [0, 0, -1])
    L = look_at((0, 0, 1.0), (2, 0, 1.0))
    assert np.allclose(L, T)


def test_check_pose_rejects():
    with pytest.raises(InputError):
        check_pose(np.full((4, 4), np.nan))
    bad = np.eye(4)
    bad[:3, :3] *= 2
    with pytest.raises(InputError):
        check_pose(bad)
    with pytest.raises(InputError):
        quat_to_rotation([0, 0, 0, 0])
