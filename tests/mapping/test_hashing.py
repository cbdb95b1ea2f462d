import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.mapping.hashing import DistinctCells, VoxelHash, keys_from_cells, pack_coords, pack_floor, unpack_keys


def test_pack_unpack_round_trip_and_float_packing_agree():
    rng = np.random.default_rng(0)
    c = rng.integers(-60000, 60000, size=(1000, 3))
    assert (unpack_keys(pack_coords(c)) == c).all()
    p = rng.uniform(-500, 500, size=(1000, 3))
    assert (pack_floor(p, 0.05) == pack_coords(np.floor(p / 0.05).astype(np.int64))).all()


def test_insert_and_lookup_match_a_dict_through_growth():
    rng = np.random.default_rng(1)
    h = VoxelHash(16)
    ref: dict[int, int] = {}
    for _ in range(20):
        keys = pack_coords(rng.integers(-40, 40, size=(3000, 3)))  # many duplicates
        rows = h.insert(keys)
        for k, r in zip(keys.tolist(), rows.tolist()):
            assert ref.setdefault(k, r) == r
    assert len(h) == len(ref)
    assert sorted(ref.values()) == list(range(len(h)))  # dense ids in insertion order
    assert (h.keys[list(ref.values())] == np.array(list(ref.keys()))).all()
    q = pack_coords(rng.integers(-50, 50, size=(5000, 3)))
    assert h.lookup(q).tolist() == [ref.get(k, -1) for k in q.tolist()]
    assert h.table_size >= 2 * len(h)  # load factor kept <= 0.5


def test_from_keys_rebuilds_the_same_mapping():
    keys = pack_coords(np.random.default_rng(2).integers(-100, 100, size=(500, 3)))
    keys = np.unique(keys)
    h = VoxelHash.from_keys(keys)
    assert (h.lookup(keys) == np.arange(len(keys))).all()
    new = h.insert(pack_coords(np.array([[1000, 0, 0]])))
    assert new[0] == len(keys)


@pytest.mark.parametrize("max_grid_cells", [1 << 23, 10])  # dense scratch grid, and sorting
def test_distinct_insert_gives_the_rows_of_inserting_the_whole_batch(max_grid_cells):
    rng = np.random.default_rng(2)
    whole, distinct = VoxelHash(16), VoxelHash(16)
    cells_of = DistinctCells(max_grid_cells)
    for n in (50, 3000, 7, 20000, 1, 4000):
        cells = rng.integers(-30, 30, size=(3, n)).astype(np.float64)  # many repeats, long probes
        keys = keys_from_cells(cells.T)
        at = rng.integers(0, n, size=min(n, 100))
        last, inv = cells_of.last_occurrences(cells, at=at)
        # last: the last position of each distinct key, increasing
        assert (np.diff(last) > 0).all() and np.unique(keys).shape[0] == last.shape[0]
        later = np.arange(n)[None, :] > last[:, None]
        assert not (later & (keys[None, :] == keys[last][:, None])).any()
        np.testing.assert_array_equal(keys[last[inv]], keys[at])
        rows_whole = whole.insert(keys)
        rows = distinct.insert(keys[last], reserve=n, distinct=True)
        np.testing.assert_array_equal(rows, rows_whole[last])
        np.testing.assert_array_equal(distinct.keys, whole.keys)
        assert distinct.table_size == whole.table_size
        np.testing.assert_array_equal(distinct.lookup(keys), rows_whole)


def test_distinct_cells_refuse_cells_beyond_the_range():
    cells = np.array([[0.0, 1e9], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(InputError, match="3277 m"):
        DistinctCells().last_occurrences(cells, 0.05)
