import numpy as np

from real3d.mapping.hashing import VoxelHash, pack_coords, pack_floor, unpack_keys


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
