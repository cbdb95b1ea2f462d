import numpy as np
import pytest

from real3d.core import InputError
from real3d.scene.boxes import Box3D, box_iou_3d, convex_intersection, fit_box, min_area_rect, polygon_area


def box(c, s, yaw=0.0):
    return Box3D(np.asarray(c, float), np.asarray(s, float), yaw)


def test_iou_hand_computed_cases():
    a = box((0, 0, 0.5), (2, 1, 1))
    assert box_iou_3d(a, a) == pytest.approx(1.0)
    # Shifted by half its length: intersection 1 m^3, union 3 m^3.
    assert box_iou_3d(a, box((1, 0, 0.5), (2, 1, 1))) == pytest.approx(1 / 3)
    # Half the height overlaps: 1 / (2 + 2 - 1).
    assert box_iou_3d(a, box((0, 0, 1.0), (2, 1, 1))) == pytest.approx(1 / 3)
    assert box_iou_3d(a, box((5, 0, 0.5), (2, 1, 1))) == 0.0
    assert box_iou_3d(a, box((0, 0, 3.0), (2, 1, 1))) == 0.0
    # A unit square and the same square turned 45 degrees: octagon of area 2 (sqrt 2 - 1).
    sq, diamond = box((0, 0, 0.5), (1, 1, 1)), box((0, 0, 0.5), (1, 1, 1), np.pi / 4)
    inter = 2 * (np.sqrt(2) - 1)
    assert box_iou_3d(sq, diamond) == pytest.approx(inter / (2 - inter))
    # Yaw by pi/2 with swapped sizes is the same box.
    assert box_iou_3d(a, box((0, 0, 0.5), (1, 2, 1), np.pi / 2)) == pytest.approx(1.0)


def test_polygon_helpers():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    assert polygon_area(sq) == pytest.approx(1.0)
    inter = convex_intersection(sq, sq + 0.5)
    assert polygon_area(inter) == pytest.approx(0.25)


def test_min_area_rect_recovers_a_rotated_rectangle():
    rng = np.random.default_rng(0)
    local = rng.uniform(-1, 1, size=(2000, 2)) * [1.5, 0.4]
    local[:4] = [[-1.5, -0.4], [1.5, -0.4], [1.5, 0.4], [-1.5, 0.4]]
    yaw = 0.7
    R = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    c, s, a = min_area_rect(local @ R.T + [2.0, -1.0])
    assert np.allclose(c, [2.0, -1.0], atol=1e-6)
    assert np.allclose(s, [3.0, 0.8], atol=1e-6)
    assert a == pytest.approx(yaw, abs=1e-6)


def test_fit_box_trims_stray_points_and_rejects_bad_input():
    rng = np.random.default_rng(1)
    pts = np.c_[rng.uniform(-0.5, 0.5, 3000), rng.uniform(-0.2, 0.2, 3000), rng.uniform(0, 1, 3000)]
    pts[:3] = [[0.8, 0, 0.5], [-0.8, 0, 0.5], [0, 0.6, 0.5]]  # a few strays
    b = fit_box(pts, trim=0.01)
    assert np.allclose(b.size, [1.0, 0.4, 1.0], atol=0.03)
    with pytest.raises(InputError):
        fit_box(np.zeros((0, 3)))
    with pytest.raises(InputError):
        min_area_rect(np.zeros((5, 3)))
