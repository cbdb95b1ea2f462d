"""3D baselines: shapes and the Seg3DNet contract, exact chunking of the dense net, FPS,
ball query and three-NN against brute force, a 2-step training run per model, bad input."""

import numpy as np
import pytest
import torch

from real3d.core.errors import ConfigError, InputError
from real3d.models.seg3d import NUM_CLASSES
from real3d.models.seg3d_baselines import (
    BASELINES,
    DenseChunkConfig,
    DenseChunkNet,
    MultiResConfig,
    PointNet2Config,
    ball_query,
    chunk_windows,
    create_baseline,
    farthest_point_sample,
    three_nn,
)
from real3d.train.seg3d import seg3d_loss

SMALL = {
    "dense-chunk": DenseChunkConfig(channels=(8, 16), chunk_cells=8),
    "multires": MultiResConfig(channels=(16, 12, 8), blocks=(1, 1, 1)),
    "pointnet2": PointNet2Config(
        ratios=(0.5, 0.5), radii_m=(0.15, 0.3), nsample=(8, 8), sa_channels=(16, 24), fp_channels=(16, 8)
    ),
}


def _arrays(n=400, seed=0, shape=(12, 12, 6)):
    rng = np.random.default_rng(seed)
    cells = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    coords = cells[rng.permutation(len(cells))[:n]].astype(np.int32)
    ev = rng.normal(size=(n, NUM_CLASSES)).astype(np.float32) * 3
    labels = (coords[:, 2] // 2 + 1 + (coords[:, 0] > 6)).astype(np.uint8)  # learnable from geometry
    return {
        "coords": coords,
        "tsdf": rng.uniform(-1, 1, n).astype(np.float32),
        "weight": rng.uniform(0, 30, n).astype(np.float32),
        "color": rng.uniform(0, 255, (n, 3)).astype(np.float32),
        "log_evidence": ev - ev.max(axis=1, keepdims=True),
        "class_weight": rng.integers(0, 4, n).astype(np.float32),
        "labels": labels,
    }


@pytest.mark.parametrize("name", list(SMALL))
def test_outputs_follow_the_contract_and_the_input_row_order(name):
    torch.manual_seed(0)
    net = create_baseline(SMALL[name])
    a = _arrays()
    out = net.predict(a)
    assert out.labels.shape == (400,) and out.labels.dtype == np.uint8
    assert 1 <= out.labels.min() and out.labels.max() <= NUM_CLASSES
    assert out.probs.shape == (400, NUM_CLASSES) and out.offsets is None
    assert out.features.shape == (400, net.feature_dim)
    np.testing.assert_allclose(out.probs.sum(1), 1, rtol=1e-5)
    # a fresh head with the evidence skip answers the fusion's own labels
    seen = a["class_weight"] > 0
    assert (out.labels[seen] == a["log_evidence"][seen].argmax(1) + 1).all()
    perm = np.random.default_rng(1).permutation(400)
    out2 = net.predict({k: v[perm] for k, v in a.items()})
    np.testing.assert_allclose(out2.features, out.features[perm], atol=1e-5)


def test_registry_names_and_unknown_name():
    assert set(BASELINES) == {"dense-chunk", "multires", "pointnet2"}
    for name in BASELINES:
        assert create_baseline(name).name == name
    with pytest.raises(ConfigError, match="valid: dense-chunk, multires, pointnet2"):
        create_baseline("octnet")


def _dense_with_nontrivial_norm(channels=(4, 6, 8)) -> DenseChunkNet:
    """Random running statistics and BatchNorm shifts, so empty cells carry non-zero values
    and zero padding at a window border differs from the network's value there."""
    torch.manual_seed(0)
    net = DenseChunkNet(DenseChunkConfig(channels=channels, evidence_skip=False, encoding=("geometry",))).eval()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1, generator=g)
            m.bias.data.uniform_(-1, 1, generator=g)
    return net


@pytest.mark.slow
def test_chunked_dense_equals_one_window_and_a_short_halo_does_not():
    net = _dense_with_nontrivial_norm()
    a = _arrays(n=600, shape=(20, 18, 6))
    x, _, _ = net.input_batch([a])
    assert net.halo_cells >= net.backbone.receptive_radius_cells() and net.halo_cells % 4 == 0
    with torch.no_grad():
        whole = net.chunked_features(x, chunk_cells=1 << 20)
        chunked = net.chunked_features(x, chunk_cells=8)
        short = net.chunked_features(x, chunk_cells=8, halo_cells=4)
    assert len(list(chunk_windows(x.coords[:, 1:].long(), 8, net.halo_cells, 4))) > 4
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    assert float((short - whole).abs().max()) > 1e-3
    # the whole-window run equals the dense net on the padded bounding box, read at the voxels
    xyz = x.coords[:, 1:].long()
    origin = xyz.amin(0) // 4 * 4 - net.halo_cells
    shape = ((xyz.amax(0) // 4 + 1) * 4 + net.halo_cells) - origin
    grid = torch.zeros((1, x.num_channels, *shape.tolist()))
    rel = xyz - origin
    grid[0, :, rel[:, 0], rel[:, 1], rel[:, 2]] = x.feats.t()
    with torch.no_grad():
        ref = net.backbone(grid, grid[:, :1] > 0)[0, :, rel[:, 0], rel[:, 1], rel[:, 2]].t()
    torch.testing.assert_close(whole, ref, atol=1e-5, rtol=1e-5)


def test_chunk_windows_cover_every_voxel_once_and_stay_aligned():
    xyz = torch.from_numpy(np.random.default_rng(0).integers(-20, 40, (500, 3)))
    seen = torch.zeros(500, dtype=torch.int64)
    for core, window, origin, shape in chunk_windows(xyz, 16, 8, 4):
        seen[core] += 1
        assert (origin % 4 == 0).all() and (shape % 4 == 0).all()
        inside = ((xyz[core] >= origin + 8) & (xyz[core] < origin + shape - 8)).all(1)
        assert inside.all()  # each core voxel has a full halo inside its window
        assert set(core.tolist()) <= set(window.tolist())
    assert (seen == 1).all()


def _brute_fps(p: np.ndarray, m: int) -> list[int]:
    out = [0]
    d = np.full(len(p), np.inf)
    for _ in range(m - 1):
        d = np.minimum(d, ((p - p[out[-1]]) ** 2).sum(1))
        out.append(int(d.argmax()))
    return out


def test_farthest_point_sample_matches_brute_force_and_spreads():
    p = np.random.default_rng(0).uniform(0, 1, (500, 3))
    idx = farthest_point_sample(torch.from_numpy(p), 40)
    assert idx.tolist() == _brute_fps(p, 40)
    chosen = p[idx.numpy()]
    pair = np.sqrt(((chosen[:, None] - chosen[None]) ** 2).sum(-1))
    cover = np.sqrt(((p[:, None] - chosen[None]) ** 2).sum(-1)).min(1).max()
    # every two picks are at least as far apart as any point is from its nearest pick
    assert pair[np.triu_indices(40, 1)].min() >= cover - 1e-12
    with pytest.raises(InputError, match="1 <= m <= 500"):
        farthest_point_sample(torch.from_numpy(p), 501)
    with pytest.raises(InputError, match=r"\(N, 3\) float"):
        farthest_point_sample(torch.zeros(5, 2), 2)


def test_ball_query_matches_brute_force_per_batch():
    rng = np.random.default_rng(0)
    pts = torch.from_numpy(rng.uniform(0, 1, (600, 3)).astype(np.float32))
    pb = torch.from_numpy(rng.integers(0, 2, 600))
    centres, cb = pts[::7], pb[::7]
    r, k = 0.15, 12
    idx, count = ball_query(centres, pts, r, k, cb, pb)
    d2 = ((centres[:, None] - pts[None]) ** 2).sum(-1)
    for i in range(len(centres)):
        within = torch.nonzero((d2[i] <= r * r) & (pb == cb[i])).squeeze(1)
        want = within[:k]  # the lowest rows, as PointNet++'s ball query
        assert int(count[i]) == len(want)
        assert idx[i, : len(want)].tolist() == want.tolist()
        assert (idx[i, len(want) :] == want[0]).all()
    with pytest.raises(InputError, match="no point within radius"):
        ball_query(torch.tensor([[5.0, 5.0, 5.0]]), pts, r, k)


def test_three_nn_matches_brute_force():
    rng = np.random.default_rng(1)
    pts = torch.from_numpy(rng.uniform(0, 1, (800, 3)))
    q = torch.from_numpy(rng.uniform(0, 1, (300, 3)))
    dist, idx = three_nn(q, pts, 0.2)
    d = torch.cdist(q, pts)
    ref_d, ref_i = torch.topk(d, 3, largest=False)
    torch.testing.assert_close(dist, ref_d)
    assert (idx == ref_i).all()
    # a query far from every point falls back to a full search
    far = torch.tensor([[3.0, 3.0, 3.0]], dtype=torch.float64)
    dist, idx = three_nn(far, pts, 0.2)
    assert (idx[0] == torch.topk(torch.cdist(far, pts)[0], 3, largest=False).indices).all()


@pytest.mark.parametrize("name", list(SMALL))
def test_two_training_steps_lower_the_loss(name):
    torch.manual_seed(0)
    net = create_baseline(SMALL[name])
    net.train()
    batch = [_arrays(seed=0), _arrays(seed=1)]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        loss, _ = seg3d_loss(net, batch, None, 0.0)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[2] < losses[0]


@pytest.mark.parametrize("name", list(SMALL))
def test_bad_input_raises_input_error(name):
    net = create_baseline(SMALL[name])
    a = _arrays()
    with pytest.raises(InputError, match=r"coords expected \(N, 3\) int"):
        net.predict({**a, "coords": a["coords"].astype(np.float32)})
    with pytest.raises(InputError, match="no voxel"):
        net.predict({k: v[:0] for k, v in a.items()})
    with pytest.raises(InputError, match="tsdf"):
        net.predict({**a, "tsdf": a["tsdf"][:10]})
    x, prior, _ = net.input_batch([a])
    with pytest.raises(InputError, match="input channels"):
        net(x.replace_feats(x.feats[:, :3]), prior)
    with pytest.raises(InputError, match="evidence prior"):
        net(x, None)
    with pytest.raises(InputError, match="SparseTensor"):
        net(x.feats, prior)


def test_bad_configs_raise_config_error():
    with pytest.raises(ConfigError, match="multiple of the largest stride 4"):
        DenseChunkConfig(channels=(8, 16, 24), chunk_cells=10)
    with pytest.raises(ConfigError, match="halving powers of two"):
        MultiResConfig(strides=(4, 1))
    with pytest.raises(ConfigError, match="one entry per level"):
        PointNet2Config(ratios=(0.5,))
    with pytest.raises(ConfigError, match="evidence_skip needs"):
        MultiResConfig(encoding=("geometry",))
    with pytest.raises(ConfigError, match="unknown 3D input encoding"):
        PointNet2Config(encoding=("normals",), evidence_skip=False)
