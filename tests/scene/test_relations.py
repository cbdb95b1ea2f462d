import numpy as np

from real3d.scene.boxes import Box3D
from real3d.scene.relations import footprint_gap


def test_footprint_gap_is_the_distance_between_footprints():
    a = Box3D(np.array([0.0, 0.0, 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)
    b = Box3D(np.array([2.0, 0.0, 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)
    c = Box3D(np.array([0.5, 0.5, 0.5]), np.array([1.0, 1.0, 1.0]), 0.0)
    assert footprint_gap(a, b) == 1.0 and footprint_gap(a, c) == 0.0
