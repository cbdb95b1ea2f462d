import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.sparse import SparseTensor
from real3d.sparse.unet import SparseUNet, SparseUNetConfig


def _scene(seed: int = 0, n: int = 1500) -> tuple[SparseTensor, torch.Tensor]:
    """Sites on a floor (label 1) and a wall (label 2) with noisy height as the feature."""
    g = torch.Generator().manual_seed(seed)
    floor = torch.cat((torch.randint(0, 24, (n, 2), generator=g), torch.zeros(n, 1, dtype=torch.int64)), 1)
    wall = torch.cat((torch.zeros(n, 1, dtype=torch.int64), torch.randint(0, 24, (n, 2), generator=g)), 1)
    xyz = torch.cat((floor, wall))
    coords = torch.cat((torch.zeros(2 * n, 1, dtype=torch.int64), xyz), 1).to(torch.int32)
    feats = torch.cat((xyz[:, 2:3].float() / 24, torch.randn(2 * n, 1, generator=g) * 0.1), 1)
    x = SparseTensor.from_coords(coords, feats)
    labels = torch.where(x.coords[:, 3] == 0, 1, 2).long()  # floor wins the shared edge
    return x, labels


def test_two_training_iterations_lower_the_loss():
    torch.manual_seed(0)
    x, labels = _scene()
    net = SparseUNet(SparseUNetConfig(in_channels=2, num_classes=3, channels=(8, 16)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        # A fresh tensor per step, as a data loader would give.
        inp = SparseTensor(x.coords, x.feats)
        loss = torch.nn.functional.cross_entropy(net(inp), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[2] < losses[0]
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in net.parameters())


def test_forward_reuses_one_map_per_stride_and_kind():
    x, _ = _scene(n=400)
    net = SparseUNet(SparseUNetConfig(in_channels=2, num_classes=3, channels=(8, 16, 32))).eval()
    with torch.no_grad():
        net(x)
    # 3 submanifold maps (one per stride) + 2 down maps (the up convs reuse them).
    assert x.cache.builds == 5
    assert sorted(x.cache.maps) == [
        ("down", 1, 2, 1),
        ("down", 2, 2, 1),
        ("subm", 1, 3, 1),
        ("subm", 2, 3, 1),
        ("subm", 4, 3, 1),
    ]
    # Submanifold convs: 2 + 1 + 1 + 1 + 1 (stem, two down refines, two up refines) = 6,
    # of which 3 built their map; the two transposed convs reuse the down maps.
    assert x.cache.hits == 3 + 2


def test_table_form_matches_the_sparse_tensor_form():
    x, _ = _scene(n=400)
    net = SparseUNet(SparseUNetConfig(in_channels=2, num_classes=3, channels=(8, 16, 32))).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        ref = net(x)
        tables = net.kernel_tables(SparseTensor(x.coords, x.feats))
        got = net.forward_tables(x.feats, *tables)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_config_is_checked():
    with pytest.raises(ConfigError):
        SparseUNetConfig(kernel_size=4)
    with pytest.raises(ConfigError):
        SparseUNetConfig(channels=(16, 0))
