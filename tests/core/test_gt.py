import numpy as np
import pytest

from real3d.core.gt import ObjectGT, OccupancyGrid, is_structure


def test_object_box_corners_and_dict_round_trip():
    o = ObjectGT(3, "table", 10, np.array([1.0, 2.0, 0.4]), np.array([2.0, 1.0, 0.8]), np.pi / 2, room_id=1)
    c = o.corners()
    # Turned a quarter: the 2 m side runs along world y.
    assert c.shape == (8, 3)
    assert np.allclose(c.min(axis=0), [0.5, 1.0, 0.0]) and np.allclose(c.max(axis=0), [1.5, 3.0, 0.8])
    back = ObjectGT.from_dict(o.to_dict())
    assert back.to_dict() == o.to_dict() and back.room_id == 1


def test_occupancy_cells_and_centres():
    g = OccupancyGrid(np.zeros((3, 4), bool), np.ones((3, 4), bool), (-1.0, 2.0), 0.5, 0.1, 1.5)
    assert g.world_to_cell(np.array([[-1.0, 2.0], [0.99, 3.49]])).tolist() == [[0, 0], [2, 3]]
    xs, ys = g.cell_centers()
    assert xs.tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75]) and ys.tolist() == pytest.approx([2.25, 2.75, 3.25])


def test_structure_classes():
    assert is_structure("wall") and is_structure("pillar") and not is_structure("chair")


def test_the_engine_reexports_the_same_types():
    import real3d.core.gt as gt
    import real3d.synth.types as st

    for name in ("ObjectGT", "OccupancyGrid", "Relation", "Room", "SceneGT", "SceneMesh", "is_structure"):
        assert getattr(st, name) is getattr(gt, name)
