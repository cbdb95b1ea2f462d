"""Convolutional building blocks and the small residual encoder used by the 2D networks.

Every block maps a float tensor (B, C, H, W) to (B, C', H', W'); the encoder halves the
resolution five times (odd sizes round up); the decoders resize to the skip sizes explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from real3d.core.errors import ConfigError

ENCODER_KINDS = ("residual", "mobilenetv2")
MOBILENETV2_WIDTHS = (16, 24, 32, 96, 320)


class ConvBNAct(nn.Sequential):
    """3x3 (or kxk) convolution, batch norm, ReLU. (B, Cin, H, W) -> (B, Cout, H/s, W/s).

    BatchNorm folds into the convolution at ONNX export, so the deployed graph is a chain of
    Conv+ReLU, which static INT8 quantisation handles best.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, act: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Basic residual block (two 3x3 convs), channel count and resolution preserved."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = ConvBNAct(c, c)
        self.conv2 = ConvBNAct(c, c, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


@dataclass(frozen=True)
class EncoderConfig:
    """Widths and depths of a five-stage encoder.

    Attributes:
        in_channels: input channels (3 for RGB, 2 for depth + validity, 4 for early fusion).
        widths: channels at strides 2, 4, 8, 16, 32.
        depths: residual blocks per stage at strides 4, 8, 16, 32 (the stride-2 stem has none);
            only for ``kind="residual"``.
        kind: ``"residual"`` (``Encoder``) or ``"mobilenetv2"`` (``real3d.nn.mobilenet``,
            MobileNetV2 1.0 whose ImageNet weights ``real3d.models.imagenet`` loads; its
            widths are fixed to ``MOBILENETV2_WIDTHS``).
    """

    in_channels: int
    widths: tuple[int, int, int, int, int]
    depths: tuple[int, int, int, int] = (1, 1, 2, 1)
    kind: str = "residual"

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise ConfigError(f"EncoderConfig.kind: unknown {self.kind!r}; valid: {', '.join(ENCODER_KINDS)}")
        if len(self.widths) != 5 or len(self.depths) != 4:
            raise ConfigError(f"EncoderConfig: expected 5 widths and 4 depths, got {self.widths}, {self.depths}")
        if self.kind == "mobilenetv2" and tuple(self.widths) != MOBILENETV2_WIDTHS:
            raise ConfigError(
                f"EncoderConfig: a mobilenetv2 encoder has widths {MOBILENETV2_WIDTHS}, got {self.widths}"
            )

    def scaled(self, factor: float) -> EncoderConfig:
        """Same layout with every width multiplied by ``factor`` (rounded to multiples of 8)."""
        if self.kind != "residual":
            raise ConfigError(f"EncoderConfig.scaled: a {self.kind} encoder has fixed widths")
        w = tuple(max(8, int(round(c * factor / 8)) * 8) for c in self.widths)
        return EncoderConfig(self.in_channels, w, self.depths)  # type: ignore[arg-type]


class Encoder(nn.Module):
    """Residual encoder. Input (B, in_channels, H, W).

    ``forward`` returns five feature maps at strides 2, 4, 8, 16, 32 with
    ``config.widths`` channels. Stages can also be run one at a time (``stage(i, x)``) so a
    fusion network can mix two encoders between stages.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        w, d = config.widths, config.depths
        stages: list[nn.Module] = [ConvBNAct(config.in_channels, w[0], stride=2)]
        for i in range(4):
            stages.append(
                nn.Sequential(ConvBNAct(w[i], w[i + 1], stride=2), *[ResBlock(w[i + 1]) for _ in range(d[i])])
            )
        self.stages = nn.ModuleList(stages)

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.stages[i](x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        return feats


def make_encoder(config: EncoderConfig) -> nn.Module:
    """The encoder ``config.kind`` names. Every kind takes (B, in_channels, H, W), returns five
    maps at strides 2..32 with ``config.widths`` channels, and runs stage by stage (``stage``)."""
    if config.kind == "mobilenetv2":
        from real3d.nn.mobilenet import MobileNetV2Features

        return MobileNetV2Features(config.in_channels)
    return Encoder(config)
