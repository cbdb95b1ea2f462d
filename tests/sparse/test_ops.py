import pytest
import torch
import torch.nn.functional as F

from real3d.core.errors import InputError
from real3d.sparse import (
    BatchNorm,
    GlobalPool,
    SparseTensor,
    StridedConv3d,
    SubmanifoldConv3d,
    TransposedConv3d,
    cat,
    global_pool,
    relu,
    strided_conv,
    submanifold_conv,
    transposed_conv,
)


def random_sparse(n=300, channels=3, extent=9, batches=2, seed=0, dtype=torch.float64) -> SparseTensor:
    """Random sites in [-extent/2, extent/2)^3 over ``batches`` batches (duplicates merged)."""
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randint(-(extent // 2), extent - extent // 2, (n, 3), generator=g)
    b = torch.randint(0, batches, (n, 1), generator=g)
    coords = torch.cat((b, xyz), dim=1).to(torch.int32)
    return SparseTensor.from_coords(coords, torch.randn(n, channels, generator=g, dtype=dtype))


def _dense_weight(weight: torch.Tensor, ks: int) -> torch.Tensor:
    """(ks**3, C_in, C_out) -> Conv3d layout (C_out, C_in, ks, ks, ks)."""
    return weight.reshape(ks, ks, ks, weight.shape[1], weight.shape[2]).permute(4, 3, 0, 1, 2)


def _at_sites(grid: torch.Tensor, coords: torch.Tensor, origin) -> torch.Tensor:
    c = coords.long()
    o = torch.tensor(origin)
    return grid[c[:, 0], :, c[:, 1] - o[0], c[:, 2] - o[1], c[:, 3] - o[2]]


@pytest.mark.parametrize(("ks", "dilation"), [(3, 1), (3, 2), (5, 1), (1, 1)])
def test_submanifold_conv_matches_dense_conv3d_at_the_input_sites(ks, dilation):
    x = random_sparse(seed=ks + dilation)
    w = torch.randn(ks**3, 3, 4, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    y = submanifold_conv(x, w, bias, dilation)
    assert torch.equal(y.coords, x.coords) and y.stride == 1
    grid, origin = x.dense()
    ref = F.conv3d(grid, _dense_weight(w, ks), bias, padding=dilation * (ks // 2), dilation=dilation)
    torch.testing.assert_close(y.feats, _at_sites(ref, x.coords, origin), rtol=0, atol=1e-10)


def test_strided_and_transposed_conv_match_dense_conv3d():
    x = random_sparse(seed=3)
    w_down = torch.randn(8, 3, 5, dtype=torch.float64)
    w_up = torch.randn(8, 5, 2, dtype=torch.float64)
    y = strided_conv(x, w_down)
    assert y.stride == 2
    # Output sites are the unique floor(xyz / 2) per batch.
    halves = torch.cat((x.coords[:, :1], torch.div(x.coords[:, 1:], 2, rounding_mode="floor")), dim=1)
    assert torch.equal(y.coords, torch.unique(halves, dim=0))
    # Dense grid with an even origin so that dense stride-2 cells line up with floor(xyz / 2).
    lo = torch.div(x.coords[:, 1:].amin(dim=0), 2, rounding_mode="floor") * 2
    origin = tuple(lo.tolist())
    grid, _ = x.dense(origin=origin, shape=(10, 10, 10))
    ref_down = F.conv3d(grid, _dense_weight(w_down, 2), stride=2)
    half_origin = tuple((lo // 2).tolist())
    torch.testing.assert_close(y.feats, _at_sites(ref_down, y.coords, half_origin), rtol=0, atol=1e-10)

    z = transposed_conv(y, w_up)
    assert z.stride == 1 and torch.equal(z.coords, x.coords)
    coarse, _ = y.dense(origin=half_origin, shape=(5, 5, 5))
    ref_up = F.conv_transpose3d(coarse, w_up.reshape(2, 2, 2, 5, 2).permute(3, 4, 0, 1, 2), stride=2)
    torch.testing.assert_close(z.feats, _at_sites(ref_up, x.coords, origin), rtol=0, atol=1e-10)


def test_float32_convs_agree_with_dense_to_1e5():
    x = random_sparse(n=500, channels=8, extent=12, seed=5, dtype=torch.float32)
    conv = SubmanifoldConv3d(8, 16)
    with torch.no_grad():
        y = conv(x)
        grid, origin = x.dense()
        ref = F.conv3d(grid, _dense_weight(conv.weight, 3), padding=1)
    torch.testing.assert_close(y.feats, _at_sites(ref, x.coords, origin), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["submanifold", "strided", "transposed"])
def test_gradcheck(kind):
    x = random_sparse(n=40, channels=2, extent=5, seed=11)
    feats = x.feats.clone().requires_grad_(True)
    if kind == "submanifold":
        w = torch.randn(27, 2, 3, dtype=torch.float64, requires_grad=True)
        fn = lambda f, w: submanifold_conv(x.replace_feats(f), w).feats  # noqa: E731
    elif kind == "strided":
        w = torch.randn(8, 2, 3, dtype=torch.float64, requires_grad=True)
        fn = lambda f, w: strided_conv(x.replace_feats(f), w).feats  # noqa: E731
    else:
        coarse = strided_conv(x, torch.randn(8, 2, 2, dtype=torch.float64))
        feats = coarse.feats.detach().clone().requires_grad_(True)
        w = torch.randn(8, 2, 3, dtype=torch.float64, requires_grad=True)
        fn = lambda f, w: transposed_conv(coarse.replace_feats(f), w).feats  # noqa: E731
    assert torch.autograd.gradcheck(fn, (feats, w))


def _small_net_step(threads: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        x = random_sparse(n=4000, channels=4, extent=24, seed=2, dtype=torch.float32)
        down, sub, up = StridedConv3d(4, 16), SubmanifoldConv3d(16, 16), TransposedConv3d(16, 8)
        feats = x.feats.clone().requires_grad_(True)
        h = sub(down(SubmanifoldConv3d(4, 4)(x.replace_feats(feats))))
        out = up(relu(h)).feats
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        return out.detach(), feats.grad, sub.weight.grad
    finally:
        torch.set_num_threads(previous)


def test_forward_and_backward_bits_identical_at_1_and_2_threads():
    one, two = _small_net_step(1), _small_net_step(2)
    for a, b in zip(one, two):
        assert torch.equal(a, b)


def test_kernel_maps_are_built_once_per_stride_and_reused():
    x = random_sparse(n=500, channels=4, seed=4, dtype=torch.float32)
    c1, c2, c3 = SubmanifoldConv3d(4, 8), SubmanifoldConv3d(8, 8), SubmanifoldConv3d(8, 8, dilation=2)
    y = c2(c1(x))
    assert x.cache.builds == 1 and x.cache.hits == 1
    assert y.cache is x.cache
    kmap = x.cache.maps[("subm", 1, 3, 1)]
    c3(y)
    assert x.cache.builds == 2  # another dilation is another map
    down = strided_conv(y, torch.randn(8, 8, 8))
    transposed_conv(down, torch.randn(8, 8, 2))  # reuses the stride-1 -> 2 map
    assert x.cache.builds == 3 and x.cache.hits == 2
    assert x.cache.maps[("subm", 1, 3, 1)] is kmap
    # A new input tensor has its own cache: nothing global is shared.
    fresh = SparseTensor(x.coords.clone(), x.feats)
    c1(fresh)
    assert fresh.cache is not x.cache and fresh.cache.builds == 1 and x.cache.builds == 3


def test_transposed_conv_needs_the_finer_sites():
    x = random_sparse(seed=6)
    coarse = SparseTensor(x.coords, x.feats, stride=2)  # never downsampled from anything
    with pytest.raises(InputError, match="finer sites"):
        transposed_conv(coarse, torch.randn(8, 3, 2, dtype=torch.float64))


def test_wrong_weight_shapes_and_dtypes_raise():
    x = random_sparse(seed=7)
    with pytest.raises(InputError, match="weight"):
        submanifold_conv(x, torch.randn(27, 4, 2, dtype=torch.float64))
    with pytest.raises(InputError, match="odd"):
        submanifold_conv(x, torch.randn(8, 3, 2, dtype=torch.float64))
    with pytest.raises(InputError, match="dtype"):
        submanifold_conv(x, torch.randn(27, 3, 2, dtype=torch.float32))
    with pytest.raises(InputError, match="kernel 2"):
        strided_conv(x, torch.randn(27, 3, 2, dtype=torch.float64))


def test_batch_norm_relu_pool_and_cat():
    x = random_sparse(n=200, channels=3, seed=8)
    bn = BatchNorm(3).double()
    y = bn(x)
    torch.testing.assert_close(y.feats.mean(dim=0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-12)
    assert bool((relu(y).feats >= 0).all()) and torch.equal(relu(y).feats, y.feats.clamp(min=0))
    rows = dict((b, (lo, hi)) for b, lo, hi in x.batch_rows())
    mean = GlobalPool("mean")(x)
    mx = global_pool(x, "max", batch_size=3)
    for b, (lo, hi) in rows.items():
        torch.testing.assert_close(mean[b], x.feats[lo:hi].mean(dim=0))
        assert torch.equal(mx[b], x.feats[lo:hi].max(dim=0).values)
    assert torch.equal(mx[2], torch.zeros(3, dtype=torch.float64))  # batch without sites
    both = cat(x, y)
    assert both.num_channels == 6 and torch.equal(both.feats[:, 3:], y.feats)
    with pytest.raises(InputError, match="same"):
        cat(x, random_sparse(n=100, seed=9))
    with pytest.raises(InputError, match="mode"):
        global_pool(x, "sum")
