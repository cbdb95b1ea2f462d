import pytest
import torch
import torch.nn.functional as F

from real3d.core.errors import InputError
from real3d.nn.mobilenet import MobileNetV2Features, adapt_stem_weight

# (expansion, width, repeats, stride) of MobileNetV2 1.0, written out again for the reference.
_TABLE = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def reference_features(state: dict, x: torch.Tensor, taps=(1, 3, 6, 13, 17)) -> list[torch.Tensor]:
    """MobileNetV2 in plain functional calls straight from a flat-layout state dict."""

    def bn(y, prefix):
        return F.batch_norm(
            y,
            state[prefix + ".running_mean"],
            state[prefix + ".running_var"],
            state[prefix + ".weight"],
            state[prefix + ".bias"],
            False,
            0.0,
            1e-5,
        )

    out = []
    y = F.relu6(bn(F.conv2d(x, state["features.0.0.weight"], stride=2, padding=1), "features.0.1"))
    idx, c = 1, 32
    for t, c_out, n, s in _TABLE:
        for i in range(n):
            p = f"features.{idx}.conv."
            stride = s if i == 0 else 1
            h = y
            j = 0
            if t != 1:
                h = F.relu6(bn(F.conv2d(h, state[p + "0.weight"]), p + "1"))
                j = 3
            w = state[p + f"{j}.weight"]
            h = F.relu6(bn(F.conv2d(h, w, stride=stride, padding=1, groups=w.shape[0]), p + f"{j + 1}"))
            h = bn(F.conv2d(h, state[p + f"{j + 3}.weight"]), p + f"{j + 4}")
            y = y + h if stride == 1 and c == c_out else h
            c = c_out
            if idx in taps:
                out.append(y)
            idx += 1
    return out


def test_stages_match_a_functional_reference_and_strides():
    torch.manual_seed(0)
    net = MobileNetV2Features()
    for m in net.modules():  # non-trivial BatchNorm statistics, so a swapped layer shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.rand(2, 3, 64, 96)
    feats = net(x)
    assert [f.shape[1] for f in feats] == list(net.widths) == [16, 24, 32, 96, 320]
    assert [f.shape[-2:] for f in feats] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    ref = reference_features(net.state_dict(), x)
    for got, want in zip(feats, ref):
        assert torch.allclose(got, want, atol=1e-5)


def test_stage_by_stage_equals_forward_and_head_widens_last_stage():
    net = MobileNetV2Features(with_head=True).eval()
    x = torch.rand(1, 3, 65, 97)  # odd sizes round up
    y = x
    for i, f in enumerate(net(x)):
        y = net.stage(i, y)
        assert torch.equal(y, f)
    assert y.shape == (1, 1280, 3, 4)
    assert "features.18.0.weight" in net.state_dict()
    assert "features.18.0.weight" not in MobileNetV2Features().state_dict()


def test_adapted_stem_gives_the_rgb_response_to_a_constant_input():
    w = torch.randn(32, 3, 3, 3)
    for c in (1, 2, 4):
        w2 = adapt_stem_weight(w, c)
        assert w2.shape == (32, c, 3, 3)
        x_rgb = torch.full((1, 3, 5, 5), 0.7)
        x_new = torch.full((1, c, 5, 5), 0.7)
        assert torch.allclose(F.conv2d(x_rgb, w), F.conv2d(x_new, w2), atol=1e-5)
    with pytest.raises(InputError, match=r"\(C, 3, k, k\)"):
        adapt_stem_weight(torch.randn(32, 4, 3, 3), 2)
