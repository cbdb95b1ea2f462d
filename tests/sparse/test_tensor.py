import pytest
import torch

from real3d.core.errors import InputError
from real3d.sparse import KernelMapCache, SparseTensor, pack_keys, unpack_keys
from real3d.sparse.tensor import COORD_MAX, COORD_MIN


def _c(rows):
    return torch.tensor(rows, dtype=torch.int32)


def test_keys_round_trip_and_order_follow_batch_then_xyz():
    coords = _c(
        [
            [0, -3, 5, 0],
            [0, -3, 5, 1],
            [0, 2, -7, 4],
            [1, COORD_MIN, COORD_MIN, COORD_MIN],
            [1, COORD_MAX, COORD_MAX, COORD_MAX],
            [7, 0, 0, 0],
        ]
    )
    keys = pack_keys(coords)
    assert torch.equal(unpack_keys(keys), coords)
    assert bool((keys[1:] > keys[:-1]).all())  # rows above are listed in lexicographic order
    assert bool((keys >= 0).all())


def test_from_coords_sorts_and_merges_duplicates():
    coords = _c([[1, 0, 0, 0], [0, 2, 0, 0], [0, -1, 4, 4], [0, 2, 0, 0]])
    feats = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    x = SparseTensor.from_coords(coords, feats)
    assert torch.equal(x.coords, _c([[0, -1, 4, 4], [0, 2, 0, 0], [1, 0, 0, 0]]))
    assert torch.equal(x.feats, torch.tensor([[3.0, 30.0], [3.0, 30.0], [1.0, 10.0]]))
    xs = SparseTensor.from_coords(coords, feats, reduce="sum")
    assert torch.equal(xs.feats[1], torch.tensor([6.0, 60.0]))
    xm = SparseTensor.from_coords(coords, feats, reduce="max")
    assert torch.equal(xm.feats[1], torch.tensor([4.0, 40.0]))
    assert x.batch_size == 2
    assert list(x.batch_rows()) == [(0, 0, 2), (1, 2, 3)]


def test_from_coords_accepts_int64_coordinates():
    x = SparseTensor.from_coords(torch.tensor([[0, 1, 2, 3]]), torch.ones(1, 1))
    assert x.coords.dtype == torch.int32


GOOD = _c([[0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])


@pytest.mark.parametrize(
    ("coords", "feats", "stride", "words"),
    [
        (_c([[0, 0, 0, 1], [0, 0, 0, 0]]), torch.zeros(2, 1), 1, "unsorted"),
        (_c([[0, 0, 0, 1], [0, 0, 0, 1]]), torch.zeros(2, 1), 1, "duplicate"),
        (GOOD.long(), torch.zeros(3, 1), 1, "int32"),
        (GOOD.float(), torch.zeros(3, 1), 1, "int32"),
        (GOOD[:, :3], torch.zeros(3, 1), 1, "(N, 4)"),
        (GOOD, torch.zeros(3, 1, dtype=torch.int64), 1, "floating point"),
        (GOOD, torch.zeros(3), 1, "(N, C)"),
        (GOOD, torch.zeros(2, 1), 1, "3 rows"),
        (_c([[-1, 0, 0, 0]]), torch.zeros(1, 1), 1, "batch"),
        (_c([[0, COORD_MAX + 1, 0, 0]]), torch.zeros(1, 1), 1, "x, y, z"),
        (torch.zeros((0, 4), dtype=torch.int32), torch.zeros(0, 1), 1, "empty"),
        (GOOD, torch.zeros(3, 1), 0, "stride"),
        ([[0, 0, 0, 0]], torch.zeros(1, 1), 1, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_problem(coords, feats, stride, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        SparseTensor(coords, feats, stride)


def test_empty_input_is_refused_by_from_coords_too():
    with pytest.raises(InputError, match="empty"):
        SparseTensor.from_coords(torch.zeros((0, 4), dtype=torch.int32), torch.zeros(0, 2))


def test_dense_places_features_at_their_cells():
    x = SparseTensor(_c([[0, -1, 0, 2], [1, 1, 1, 0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    grid, origin = x.dense()
    assert origin == (-1, 0, 0)
    assert grid.shape == (2, 2, 3, 2, 3)
    assert grid[0, :, 0, 0, 2].tolist() == [1.0, 2.0]
    assert grid[1, :, 2, 1, 0].tolist() == [3.0, 4.0]
    assert float(grid.abs().sum()) == 10.0


def test_cache_refuses_other_sites_at_a_known_stride():
    cache = KernelMapCache()
    SparseTensor(GOOD, torch.zeros(3, 1), cache=cache)
    SparseTensor(GOOD.clone(), torch.ones(3, 2), cache=cache)  # same sites: fine
    with pytest.raises(InputError, match="separate caches"):
        SparseTensor(GOOD[:2].clone(), torch.zeros(2, 1), cache=cache)
