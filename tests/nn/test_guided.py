import numpy as np
import pytest
import torch
import torch.nn.functional as F

from real3d.core.errors import InputError
from real3d.nn.guided import _inverse_sym, box_mean, guided_upsample


@pytest.mark.parametrize("radius", [1, 2, 4])
def test_box_mean_is_the_window_mean_cut_at_the_border(radius):
    torch.manual_seed(0)
    x = torch.rand(2, 5, 13, 17)
    expect = F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
    assert torch.allclose(box_mean(x, radius), expect, atol=1e-5)
    assert box_mean(x, 0) is x
    with pytest.raises(InputError, match="radius"):
        box_mean(x, -1)


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_inverse_of_symmetric_matrices(c):
    torch.manual_seed(c)
    a = torch.randn(3, 6, 7, c, c)
    m = a @ a.transpose(-1, -2) + 0.1 * torch.eye(c)  # symmetric positive definite per pixel
    rows = [[m[..., i, j][:, None] for j in range(c)] for i in range(c)]
    inv = _inverse_sym(rows)
    got = torch.stack([torch.stack([inv[i][j][:, 0] for j in range(c)], -1) for i in range(c)], -2)
    assert torch.allclose(got, torch.linalg.inv(m), rtol=1e-3, atol=1e-3)


def _reference(probs, guide_low, guide, radius, eps):
    """The guided filter written out with a per-pixel matrix solve."""

    def box(x):
        return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)

    b, k, h, w = probs.shape
    c = guide_low.shape[1]
    mi, mp = box(guide_low), box(probs)
    cov = torch.stack([box(guide_low[:, j : j + 1] * probs) - mi[:, j : j + 1] * mp for j in range(c)], -1)  # b k h w c
    sig = torch.stack(
        [
            torch.stack(
                [box(guide_low[:, i : i + 1] * guide_low[:, j : j + 1])[:, 0] - mi[:, i] * mi[:, j] for j in range(c)],
                -1,
            )
            for i in range(c)
        ],
        -2,
    )  # b h w c c
    a = torch.linalg.solve((sig + eps * torch.eye(c))[:, None], cov[..., None])[..., 0]  # b k h w c
    bias = mp - (a * mi.permute(0, 2, 3, 1)[:, None]).sum(-1)
    size = guide.shape[-2:]
    ma = F.interpolate(
        box(a.permute(0, 1, 4, 2, 3).reshape(b, k * c, h, w)), size=size, mode="bilinear", align_corners=False
    ).view(b, k, c, *size)
    mb = F.interpolate(box(bias), size=size, mode="bilinear", align_corners=False)
    q = ((ma * guide[:, None]).sum(2) + mb).clamp(0, 1)
    return q / q.sum(1, keepdim=True)


@pytest.mark.parametrize("c", [1, 3])
def test_guided_upsample_matches_the_written_out_filter(c):
    torch.manual_seed(1)
    probs = (3 * torch.randn(2, 4, 9, 12)).softmax(1)
    guide = torch.rand(2, c, 20, 26)
    guide_low = F.interpolate(guide, size=(9, 12), mode="area")
    got = guided_upsample(probs, guide_low, guide, 2, 1e-2)
    assert got.shape == (2, 4, 20, 26)
    assert torch.allclose(got, _reference(probs, guide_low, guide, 2, 1e-2), atol=1e-4)
    assert torch.allclose(got.sum(1), torch.ones(2, 20, 26), atol=1e-5)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0


def test_constant_probabilities_stay_constant():
    probs = torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1).expand(1, 3, 8, 10).contiguous()
    guide = torch.rand(1, 3, 16, 20)
    out = guided_upsample(probs, F.interpolate(guide, size=(8, 10), mode="area"), guide, 2, 1e-3)
    assert torch.allclose(out, torch.tensor([0.2, 0.5, 0.3]).view(1, 3, 1, 1).expand(1, 3, 16, 20), atol=1e-4)


def test_boundaries_follow_the_guide_edge():
    # a colour edge at column 37 of 80; the coarse probabilities (20 columns) only know
    # the edge to within a cell, and bilinear upsampling puts the boundary elsewhere
    h, w, edge = 24, 80, 37
    guide = torch.zeros(1, 3, h, w)
    guide[:, 0, :, edge:] = 0.9
    guide[:, 1, :, :edge] = 0.6
    truth = (torch.arange(w) >= edge).long().expand(h, w)
    low = F.interpolate(F.one_hot(truth, 2).permute(2, 0, 1)[None].float(), size=(6, 20), mode="area")
    low = (4 * (low - 0.5)).softmax(1)  # soft, as a network's
    bilinear = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False).argmax(1)[0]
    guided = guided_upsample(low, F.interpolate(guide, size=(6, 20), mode="area"), guide, 2, 1e-3).argmax(1)[0]
    assert int((bilinear != truth).sum()) > 0
    assert int((guided != truth).sum()) == 0


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.rand(4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12), 1, 1e-3), "expected probs"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 5, 6), torch.rand(1, 3, 12, 12), 1, 1e-3), "guide_low"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 1, 12, 12), 1, 1e-3), "guide_low"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12), 0, 1e-3), "radius"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12), True, 1e-3), "radius"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12), 1, 0.0), "eps"),
        ((torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 12, 12), 1, float("nan")), "eps"),
    ],
)
def test_bad_inputs(args, match):
    with pytest.raises(InputError, match=match):
        guided_upsample(*args)


def test_no_nan_on_flat_guides():
    # a flat guide has zero variance: eps alone keeps the solve finite
    probs = torch.rand(1, 5, 7, 9).softmax(1)
    guide = torch.full((1, 3, 14, 18), 0.5)
    out = guided_upsample(probs, torch.full((1, 3, 7, 9), 0.5), guide, 1, 1e-4)
    assert bool(torch.isfinite(out).all())
    assert np.allclose(out.sum(1).numpy(), 1.0, atol=1e-5)
