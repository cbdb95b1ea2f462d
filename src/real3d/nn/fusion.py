"""Fusion of an RGB and a depth feature stream at one scale.

All modules take ``rgb`` (B, C, H, W) and ``depth`` (B, Cd, H, W) features of the same
resolution and return updated RGB features (B, C, H, W): depth always feeds the RGB stream,
residually, so the RGB path is never cut.

- ``AddFusion``: rgb + proj(depth) (ESANet/FuseNet-style mid fusion by addition).
- ``SEFusion``: each stream re-weighted by squeeze-excitation, then added.
- ``CrossModalAttention``: RGB features as queries, depth features as keys and values,
  multi-head linear attention (cost O(N C^2), linear in the number of pixels, so it runs at
  any input size, 640x480 included), output added to the RGB stream through a learned gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError


class AddFusion(nn.Module):
    def __init__(self, c_rgb: int, c_depth: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(c_depth, c_rgb, 1, bias=False), nn.BatchNorm2d(c_rgb))

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return rgb + self.proj(depth)


class _SqueezeExcite(nn.Module):
    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        hidden = max(8, c // reduction)
        self.fc1 = nn.Conv2d(c, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(w))))


class SEFusion(nn.Module):
    def __init__(self, c_rgb: int, c_depth: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(c_depth, c_rgb, 1, bias=False), nn.BatchNorm2d(c_rgb))
        self.se_rgb = _SqueezeExcite(c_rgb)
        self.se_depth = _SqueezeExcite(c_rgb)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.se_rgb(rgb) + self.se_depth(self.proj(depth))


class CrossModalAttention(nn.Module):
    """Multi-head cross-modal linear attention, RGB queries over depth keys/values.

    For each head, with feature map phi(x) = elu(x) + 1 (positive, so the normaliser never
    vanishes), out_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / (phi(q_i)^T sum_j phi(k_j)).
    The sums run over all pixels of the map, so every RGB pixel can attend to the whole
    depth map at O(N d^2) cost; no operation depends on the map size, so one exported graph
    serves every input size. The matrix products stay in float when the graph is quantised
    (only convolutions are), because the sums span several orders of magnitude.

    Linear attention carries no position information, so a 1x1 projection of the depth
    features at the same pixel (the local term) is added to the attention output. The sum
    enters the RGB stream through a per-channel gate initialised at zero, so training
    starts from the RGB-only network and learns how much depth to let in. (A depthwise 3x3
    positional convolution was tried and dropped: torch runs grouped convs on CPU through a
    slow path.)
    """

    def __init__(self, c_rgb: int, c_depth: int, heads: int = 4, head_dim: int = 16):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.norm_q = nn.BatchNorm2d(c_rgb)
        self.norm_kv = nn.BatchNorm2d(c_depth)
        self.q = nn.Conv2d(c_rgb, inner, 1)
        self.k = nn.Conv2d(c_depth, inner, 1)
        self.v = nn.Conv2d(c_depth, inner, 1)
        self.out = nn.Conv2d(inner, c_rgb, 1)
        # local term: depth projected onto the RGB channels, so fine edges need not go through
        # the global summary
        self.local = nn.Conv2d(c_depth, c_rgb, 1)
        self.gate = nn.Parameter(torch.zeros(1, c_rgb, 1, 1))

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        b, _, h, w = rgb.shape
        xq = self.norm_q(rgb)
        xd = self.norm_kv(depth)
        # (B, heads, head_dim, N)
        q = F.elu(self.q(xq).reshape(b, self.heads, self.head_dim, h * w)) + 1.0
        k = F.elu(self.k(xd).reshape(b, self.heads, self.head_dim, h * w)) + 1.0
        v = self.v(xd).reshape(b, self.heads, self.head_dim, h * w)
        kv = torch.matmul(k, v.transpose(2, 3))  # (B, heads, d_k, d_v)
        k_sum = k.sum(dim=3, keepdim=True)  # (B, heads, d_k, 1)
        num = torch.matmul(kv.transpose(2, 3), q)  # (B, heads, d_v, N)
        den = (q * k_sum).sum(dim=2, keepdim=True)  # (B, heads, 1, N), > 0 since phi > 0
        att = (num / den).reshape(b, self.heads * self.head_dim, h, w)
        return rgb + self.gate * (self.out(att) + self.local(xd))


FUSIONS = {"add": AddFusion, "se": SEFusion, "attn": CrossModalAttention}


def make_fusion(kind: str, c_rgb: int, c_depth: int) -> nn.Module:
    """Fusion module by name; unknown names raise ConfigError listing the valid ones."""
    try:
        cls = FUSIONS[kind]
    except KeyError:
        raise ConfigError(f"unknown fusion {kind!r}; valid: {', '.join(sorted(FUSIONS))}") from None
    return cls(c_rgb, c_depth)
