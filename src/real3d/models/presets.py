"""Preset configurations of Real3DVisionNet: the proposed RGB-D models and the baselines.

Presets are Python instances of ``SegNetConfig``; ``PRESETS`` is the registry. The
baselines share the ``small`` encoder widths so that a comparison isolates the fusion.
"""

from __future__ import annotations

from dataclasses import replace

from real3d.core.errors import ConfigError
from real3d.core.warehouse import WAREHOUSE
from real3d.models.segmentation import Real3DVisionNet, SegNetConfig
from real3d.nn.blocks import MOBILENETV2_WIDTHS, EncoderConfig
from real3d.nn.decoder import DecoderConfig

_RGB_TINY = EncoderConfig(3, (16, 24, 48, 96, 128), (1, 1, 1, 1))
_DEPTH_TINY = EncoderConfig(2, (8, 16, 24, 48, 64), (1, 1, 1, 1))
_RGB_SMALL = EncoderConfig(3, (16, 32, 64, 128, 192), (1, 1, 2, 1))
_DEPTH_SMALL = EncoderConfig(2, (8, 16, 32, 64, 96), (1, 1, 1, 1))
_RGB_BASE = EncoderConfig(3, (24, 48, 96, 192, 256), (1, 2, 2, 1))
_DEPTH_BASE = EncoderConfig(2, (16, 24, 48, 96, 128), (1, 1, 2, 1))
# MobileNetV2 1.0, initialised from ImageNet for training (real3d.models.imagenet)
_RGB_MNV2 = EncoderConfig(3, MOBILENETV2_WIDTHS, kind="mobilenetv2")


def _two_stream(name: str, fusion: str, rgb: EncoderConfig, depth: EncoderConfig, dec: DecoderConfig) -> SegNetConfig:
    return SegNetConfig(name=name, fusion=fusion, rgb_encoder=rgb, depth_encoder=depth, decoder=dec)


PRESETS: dict[str, SegNetConfig] = {
    # proposed: cross-modal attention fusion
    "rgbd-tiny": _two_stream("rgbd-tiny", "attn", _RGB_TINY, _DEPTH_TINY, DecoderConfig(48, 24)),
    "rgbd-small": _two_stream("rgbd-small", "attn", _RGB_SMALL, _DEPTH_SMALL, DecoderConfig(64, 32)),
    "rgbd-base": _two_stream("rgbd-base", "attn", _RGB_BASE, _DEPTH_BASE, DecoderConfig(96, 48)),
    # ImageNet-initialisable RGB stream (MobileNetV2), residual depth stream
    "rgbd-mnv2": _two_stream("rgbd-mnv2", "attn", _RGB_MNV2, _DEPTH_SMALL, DecoderConfig(64, 32)),
    # RGB-only models (serve frames without depth)
    "rgb-tiny": SegNetConfig("rgb-tiny", "rgb", _RGB_TINY, decoder=DecoderConfig(48, 24)),
    "rgb-small": SegNetConfig("rgb-small", "rgb", _RGB_SMALL, decoder=DecoderConfig(64, 32)),
    "rgb-mnv2": SegNetConfig("rgb-mnv2", "rgb", _RGB_MNV2, decoder=DecoderConfig(64, 32)),
    # baselines at the small widths
    "depth-small": SegNetConfig("depth-small", "depth", _RGB_SMALL, decoder=DecoderConfig(64, 32)),
    "early-small": SegNetConfig("early-small", "early", _RGB_SMALL, decoder=DecoderConfig(64, 32)),
    "add-small": _two_stream("add-small", "add", _RGB_SMALL, _DEPTH_SMALL, DecoderConfig(64, 32)),
    "se-small": _two_stream("se-small", "se", _RGB_SMALL, _DEPTH_SMALL, DecoderConfig(64, 32)),
    # warehouse classes (real3d.core.warehouse) at the tiny widths, for low-resolution frames
    "rgbd-warehouse": replace(
        _two_stream("rgbd-warehouse", "attn", _RGB_TINY, _DEPTH_TINY, DecoderConfig(48, 24)),
        num_classes=WAREHOUSE.num_classes,
        label_set=WAREHOUSE.name,
        infer_hw=(128, 160),
    ),
}


def get_preset(name: str) -> SegNetConfig:
    """Preset config by name; an unknown name raises ConfigError listing the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown segmentation preset {name!r}; valid: {', '.join(PRESETS)}") from None


def build_model(config: SegNetConfig | str) -> Real3DVisionNet:
    """A freshly initialised network from a config or a preset name, in training mode
    (for training code): the network ``create_model(config)`` returns, before ``eval()``.
    Unlike ``create_model`` it takes no shipped names or paths; an unknown name raises
    ConfigError listing the presets."""
    if isinstance(config, str):
        config = get_preset(config)
    return Real3DVisionNet(config)
