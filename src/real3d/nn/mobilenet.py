"""MobileNetV2 (width 1.0) feature extractor, laid out so ImageNet weights load by key.

The key layout is the flat one of early PyTorch MobileNetV2 implementations: ``features.0`` is the stem
(3x3 stride-2 convolution, BatchNorm, ReLU6), ``features.1`` .. ``features.17`` are inverted
residual blocks whose ``conv`` is one ``nn.Sequential`` (expand 1x1 / depthwise 3x3 /
project 1x1, each followed by BatchNorm, ReLU6 after the first two), and ``features.18``
is the 1x1 convolution to 1280 channels. A state dict in that layout (see
``real3d.models.imagenet``) loads with ``load_state_dict(strict=True)``.

Input: (B, in_channels, H, W) float, RGB normalised with the ImageNet mean and std (the
2D networks do this inside ``Real3DVisionNet``). ``forward`` returns five feature maps at
strides 2, 4, 8, 16, 32 (sides rounded up), with ``MobileNetV2Features.widths`` channels.
"""

from __future__ import annotations

import torch
from torch import nn

from real3d.core.errors import InputError

# (expansion t, output channels c, repeats n, first stride s) of MobileNetV2 1.0.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# Index of the last ``features`` module of each stage (strides 2, 4, 8, 16, 32).
_STAGE_ENDS = (1, 3, 6, 13, 17)
STEM_WIDTH = 32
HEAD_WIDTH = 1280


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """Expand (1x1, skipped when ``expand == 1``), depthwise 3x3, linear 1x1 projection;
    identity shortcut when the stride is 1 and the widths agree."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += _conv_bn(c_in, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, c_out, 1, act=False)
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


class MobileNetV2Features(nn.Module):
    """MobileNetV2 1.0 ``features`` as a five-stage encoder.

    Args:
        in_channels: input channels of the stem (3 for RGB; another count for a depth or
            RGB-D stem, see ``adapt_stem_weight``).
        with_head: keep ``features.18`` (1x1 convolution to 1280 channels); the last stage's
            output is then 1280 channels instead of 320.
    """

    def __init__(self, in_channels: int = 3, with_head: bool = False):
        super().__init__()
        blocks: list[nn.Module] = [nn.Sequential(*_conv_bn(in_channels, STEM_WIDTH, 3, 2))]
        c = STEM_WIDTH
        for t, c_out, n, s in _SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        if with_head:
            blocks.append(nn.Sequential(*_conv_bn(c, HEAD_WIDTH, 1)))
        self.features = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.with_head = with_head
        ends = list(_STAGE_ENDS)
        if with_head:
            ends[-1] = len(blocks) - 1
        self._bounds = [(0 if i == 0 else ends[i - 1] + 1, e + 1) for i, e in enumerate(ends)]
        self.widths = (16, 24, 32, 96, HEAD_WIDTH if with_head else 320)

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Run stage ``i`` (0..4, output stride 2**(i+1)) on the previous stage's output."""
        a, b = self._bounds[i]
        for k in range(a, b):
            x = self.features[k](x)
        return x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(5):
            x = self.stage(i, x)
            feats.append(x)
        return feats


def adapt_stem_weight(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """An RGB stem kernel (C, 3, k, k) made into one for ``in_channels`` inputs.

    Every new input channel gets the mean of the RGB kernels, scaled by 3 / in_channels so a
    constant input gives the same response as the same constant on all three RGB channels.
    """
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise InputError(f"adapt_stem_weight: expected a (C, 3, k, k) kernel, got {tuple(weight.shape)}")
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_channels, 1, 1) * (3.0 / in_channels)
