import pytest
import torch

from real3d.core.errors import ConfigError
from real3d.nn import CrossModalAttention, Encoder, EncoderConfig, make_fusion


def _reference_attention(m: CrossModalAttention, rgb, depth):
    """Softmax-free attention written pixel by pixel from the formula in the docstring."""
    b, _, h, w = rgb.shape
    xq, xd = m.norm_q(rgb), m.norm_kv(depth)
    q = torch.nn.functional.elu(m.q(xq)) + 1
    k = torch.nn.functional.elu(m.k(xd)) + 1
    v = m.v(xd)
    heads, d = m.heads, m.head_dim
    out = torch.zeros(b, heads * d, h * w)
    q, k, v = (t.reshape(b, heads, d, h * w) for t in (q, k, v))
    for bi in range(b):
        for hd in range(heads):
            for i in range(h * w):
                sim = (q[bi, hd, :, i : i + 1] * k[bi, hd]).sum(0)  # (N,)
                out[bi, hd * d : (hd + 1) * d, i] = (v[bi, hd] * sim).sum(1) / sim.sum()
    att = out.reshape(b, heads * d, h, w)
    return rgb + m.gate * (m.out(att) + m.local(xd))


def test_linear_attention_matches_pixelwise_formula():
    torch.manual_seed(0)
    m = CrossModalAttention(8, 6, heads=2, head_dim=4).eval()
    with torch.no_grad():
        m.gate.fill_(0.7)
        rgb, depth = torch.randn(2, 8, 3, 5), torch.randn(2, 6, 3, 5)
        assert torch.allclose(m(rgb, depth), _reference_attention(m, rgb, depth), atol=1e-5)


def test_attention_is_global_and_starts_as_identity():
    torch.manual_seed(0)
    m = CrossModalAttention(8, 6).eval()
    rgb, depth = torch.randn(1, 8, 6, 6), torch.randn(1, 6, 6, 6)
    with torch.no_grad():
        assert torch.equal(m(rgb, depth), rgb)  # zero gate: RGB stream untouched at init
        m.gate.fill_(1.0)
        base = m(rgb, depth)
        d2 = depth.clone()
        d2[..., 5, 5] += 3.0  # change depth far from pixel (0, 0)
        assert not torch.allclose(m(rgb, d2)[..., 0, 0], base[..., 0, 0])


def test_encoder_strides_and_odd_sizes():
    enc = Encoder(EncoderConfig(3, (8, 8, 16, 16, 24), (1, 1, 1, 1)))
    feats = enc(torch.randn(1, 3, 48, 80))
    assert [tuple(f.shape[-2:]) for f in feats] == [(24, 40), (12, 20), (6, 10), (3, 5), (2, 3)]
    assert [f.shape[1] for f in feats] == [8, 8, 16, 16, 24]


def test_unknown_fusion_lists_valid_names():
    with pytest.raises(ConfigError, match="attn"):
        make_fusion("concat", 8, 8)
