import numpy as np
import pytest
import torch

from real3d.core import NYU13, Intrinsics, look_at
from real3d.core.errors import ConfigError, InputError
from real3d.mapping import SemanticMap
from real3d.testing.toyscene import ToyRenderer, boxes_scene
from real3d.sparse.voxel import devoxelize, from_semantic_map, voxelize


def test_voxelize_averages_per_voxel_with_hand_computed_values():
    points = torch.tensor([[0.01, 0.01, 0.01], [0.09, 0.02, 0.03], [-0.01, 0.0, 0.0], [0.15, 0.0, 0.0]])
    feats = torch.tensor([[1.0], [3.0], [5.0], [7.0]])
    x, p2v = voxelize(points, feats, 0.1)
    # Voxels: (-1, 0, 0) <- point 2; (0, 0, 0) <- points 0, 1; (1, 0, 0) <- point 3.
    assert x.coords.tolist() == [[0, -1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]
    assert x.feats.squeeze(1).tolist() == [5.0, 2.0, 7.0]
    assert p2v.tolist() == [1, 1, 0, 2]


def test_point_voxel_point_round_trip_is_exact_for_constant_per_voxel_features():
    g = torch.Generator().manual_seed(0)
    points = torch.rand(5000, 3, generator=g) * 2.0 - 1.0
    cells = torch.floor(points / 0.07)
    # A float32 feature that depends only on the voxel (with awkward binary fractions).
    per_voxel = torch.stack((torch.sin(cells.sum(1) * 0.37), cells[:, 0] / 3.0, cells[:, 2] * 0.1), dim=1).float()
    batch = torch.randint(0, 3, (5000,), generator=g)
    x, p2v = voxelize(points, per_voxel, 0.07, batch)
    assert x.feats.dtype == torch.float32 and x.batch_size == 3
    assert torch.equal(devoxelize(x, p2v), per_voxel)
    # Points of different batches never share a voxel.
    assert torch.equal(x.coords[p2v, 0].long(), batch)


@pytest.mark.parametrize(
    ("points", "feats", "size", "batch", "words"),
    [
        (torch.zeros(3, 2), torch.zeros(3, 1), 0.1, None, "points"),
        (torch.zeros(0, 3), torch.zeros(0, 1), 0.1, None, "at least one"),
        (torch.zeros(3, 3), torch.zeros(2, 1), 0.1, None, "feats"),
        (torch.zeros(3, 3), torch.zeros(3, 1), 0.0, None, "voxel_size_m"),
        (torch.full((3, 3), float("nan")), torch.zeros(3, 1), 0.1, None, "NaN"),
        (torch.full((3, 3), 1e6), torch.zeros(3, 1), 0.01, None, "larger voxel"),
        (torch.zeros(3, 3), torch.zeros(3, 1), 0.1, torch.tensor([0, -1, 0]), "batch"),
    ],
)
def test_voxelize_rejects_bad_input(points, feats, size, batch, words):
    with pytest.raises(InputError, match=words):
        voxelize(points, feats, size, batch)


def test_devoxelize_rejects_out_of_range_rows():
    x, _ = voxelize(torch.zeros(2, 3), torch.zeros(2, 1), 0.1)
    with pytest.raises(InputError, match="out of range"):
        devoxelize(x, torch.tensor([0, 1]))


@pytest.fixture(scope="module")
def small_map():
    floor, table = NYU13.index("floor"), NYU13.index("table")
    scene = boxes_scene([((0, 0, -0.05), (3, 3, 0.1), 0.0, floor, 1), ((0, 0, 0.2), (0.4, 0.4, 0.4), 0.3, table, 2)])
    r = ToyRenderer(scene)
    K = Intrinsics.from_fov(80, 60, 1.0)
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15)
    for i, a in enumerate((0.0, 2.0)):
        m.integrate(r.render(K, look_at((1.5 * np.cos(a), 1.5 * np.sin(a), 1.0), (0, 0, 0.2)), index=i))
    return m


def test_from_semantic_map_has_the_maps_voxels_and_channels(small_map):
    x = from_semantic_map(small_map, features=("occupancy", "tsdf", "color", "posterior"))
    arrays = small_map.voxel_arrays()
    kept = arrays["weight"] > 0
    assert x.num_sites == int(kept.sum()) > 100
    assert x.num_channels == 1 + 1 + 3 + small_map.config.num_classes
    # Same voxel set, and each site carries its own voxel's TSDF.
    rows = small_map.lookup_rows((x.coords[:, 1:].numpy() + 0.5) * small_map.voxel_size_m)
    assert (rows >= 0).all()
    np.testing.assert_array_equal(x.feats[:, 1].numpy(), arrays["tsdf"][rows])
    assert torch.equal(x.feats[:, 0], torch.ones(x.num_sites))
    assert float(x.feats[:, 2:5].min()) >= 0.0 and float(x.feats[:, 2:5].max()) <= 1.0
    torch.testing.assert_close(x.feats[:, 5:].sum(1), torch.ones(x.num_sites), rtol=0, atol=1e-5)
    with pytest.raises(ConfigError, match="valid"):
        from_semantic_map(small_map, features=("normals",))
