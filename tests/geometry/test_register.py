"""register_depth: depth from a separate depth camera into the colour camera, checked
against synthetic scenes with a known depth-to-colour transform."""

from __future__ import annotations

import numpy as np
import pytest

from real3d.core import InputError, Intrinsics, make_pose
from real3d.geometry import register_depth


def _rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def test_a_baseline_shifts_a_wall_by_its_disparity():
    # fronto-parallel wall 2 m away, cameras 4 cm apart along x, fx = 100: the colour
    # camera sees each depth pixel fx * tx / Z = 2 px to the right... of where it was
    K = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    depth = np.full((48, 64), 2.0, np.float32)
    out = register_depth(depth, K, K, make_pose(np.eye(3), [0.04, 0.0, 0.0]), fill_gaps=False)
    assert out.shape == (48, 64)
    np.testing.assert_array_equal(out[:, :2], 0)  # nothing lands there
    np.testing.assert_allclose(out[:, 2:], 2.0)


def test_a_tilted_plane_under_rotation_translation_and_another_camera():
    dK = Intrinsics(120.0, 118.0, 39.5, 29.5, 80, 60)  # depth camera, coarser
    cK = Intrinsics(150.0, 150.0, 63.5, 47.5, 128, 96)  # colour camera, finer
    color_T_depth = make_pose(_rot_y(4.0), [0.03, -0.01, 0.005])
    # the plane n . p = d in the depth frame, tilted
    n = np.array([0.2, -0.1, 1.0])
    n /= np.linalg.norm(n)
    dist = 2.5
    u, v = np.meshgrid(np.arange(dK.width), np.arange(dK.height))
    rays = np.stack([(u - dK.cx) / dK.fx, (v - dK.cy) / dK.fy, np.ones_like(u, float)], -1)
    depth = (dist / (rays @ n)).astype(np.float32)
    out = register_depth(depth, dK, cK, color_T_depth)
    # the same plane in the colour frame: (R n) . p = d + (R n) . t
    R, t = color_T_depth[:3, :3], color_T_depth[:3, 3]
    nc = R @ n
    uc, vc = np.meshgrid(np.arange(cK.width), np.arange(cK.height))
    rc = np.stack([(uc - cK.cx) / cK.fx, (vc - cK.cy) / cK.fy, np.ones_like(uc, float)], -1)
    expect = (dist + nc @ t) / (rc @ nc)
    got = out > 0
    # the depth camera's view covers the colour image's centre; with gaps filled it is dense
    centre = (slice(20, 76), slice(25, 103))
    assert got[centre].mean() > 0.97
    # each sample lands on its nearest pixel: at most half a pixel off along the plane
    np.testing.assert_allclose(out[got], expect[got], rtol=6e-3)


def test_the_nearer_surface_wins():
    K = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    depth = np.full((48, 64), 3.0, np.float32)
    depth[20:28, 30:38] = 1.0  # a box 1 m away
    out = register_depth(depth, K, K, make_pose(np.eye(3), [0.05, 0.0, 0.0]), fill_gaps=False)
    # the box moves by 5 px, the wall behind by 1.67 -> 2 px: the box covers the wall
    np.testing.assert_allclose(out[20:28, 35:43], 1.0)
    assert (out == 3.0).sum() > 0.8 * 48 * 64 - 8 * 8


def test_identity_keeps_depth_and_zeros():
    K = Intrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4, (24, 32)).astype(np.float32)
    depth[3:5, 6:9] = 0
    np.testing.assert_allclose(register_depth(depth, K, K, np.eye(4), fill_gaps=False), depth, rtol=1e-6)


@pytest.mark.parametrize(
    "depth,T,match",
    [
        (np.ones((24, 30), np.float32), np.eye(4), "depth_K is for 32 x 24"),
        (np.ones((24, 32), np.uint16), np.eye(4), r"expected \(H, W\) float"),
        (np.full((24, 32), np.nan, np.float32), np.eye(4), "finite"),
        (-np.ones((24, 32), np.float32), np.eye(4), ">= 0"),
        (np.ones((24, 32), np.float32), np.diag([2.0, 1, 1, 1]), "rotation"),
    ],
)
def test_bad_inputs(depth, T, match):
    K = Intrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    with pytest.raises(InputError, match=match):
        register_depth(depth, K, K, T)
