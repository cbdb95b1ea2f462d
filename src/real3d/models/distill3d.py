"""3D-to-2D distillation student: an RGB network that simulates a 3D network's features.

After Liu et al., "3D-to-2D Distillation for Indoor Scene Parsing" (CVPR 2021). The
student wraps an RGB-only ``Real3DVisionNet`` (``fusion="rgb"``) and adds, at the stride-8
decoder features ``f2d`` (B, W, H/8, W/8) of its progressive decoder:

1. a *simulation branch*: ``f3d_sim = DN1(proj(f2d))`` (B, C3, H/8, W/8), trained to regress
   the per-voxel features of a 3D network (the teacher, ``real3d.models.seg3d``) seen at
   each pixel;
2. ``DN1`` (dimension normalisation 1): each of the C3 channels is standardised over
   (N, H, W) and given the 3D features' per-channel mean and variance (``target_mean`` /
   ``target_var``, tracked from the paired targets in training), so the regression compares
   like with like;
3. ``DN2``: ``f3d_sim`` is standardised again per channel and given the 2D features'
   statistics (the mean over their channels of the per-channel means and of the variances),
   so that it joins ``f2d`` at the same scale; ``fuse`` (1x1 conv) maps the concatenation
   ``[f2d, DN2(f3d_sim)]`` back to W channels for the base network's coarse head and
   refinement path.

In training both normalisations use the batch's statistics and update running ones; in
eval mode they use the running ones (like batch norm), so the test-time network is a plain
RGB feed-forward graph: ``forward(rgb) -> logits`` and ``predict(frame)`` follow the
``Segmenter`` contract, and the network exports to ONNX like the other 2D networks.
``dn=False`` builds the ablation without DN1/DN2 (identity normalisations).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import ConfigCapabilities
from real3d.models.inference import tta_predict
from real3d.models.segmentation import HEADS, Real3DVisionNet, SegNetConfig

_EPS = 1e-5


class DimensionNorm(nn.Module):
    """Standardise each channel over (N, H, W), then give it target statistics.

    ``forward(x)`` with x (B, C, H, W) returns ``(x - m) / sqrt(v + eps) * sqrt(t_var + eps')
    + t_mean`` where (m, v) are the batch's per-channel mean and (biased) variance in
    training and the running ones in eval mode, and (t_mean, t_var) the ``target_mean`` /
    ``target_var`` buffers (C,). Nothing here is learned; ``update_target`` moves the
    targets towards new statistics with ``momentum`` (1 = replace).
    """

    def __init__(self, channels: int, momentum: float = 0.1, enabled: bool = True) -> None:
        super().__init__()
        if not (0.0 < momentum <= 1.0):
            raise ConfigError(f"DimensionNorm: expected momentum in (0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.enabled = bool(enabled)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("target_mean", torch.zeros(channels))
        self.register_buffer("target_var", torch.ones(channels))

    @torch.no_grad()
    def update_target(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Move ``target_mean`` / ``target_var`` towards ``mean`` / ``var`` ((C,) or scalars)."""
        m = self.momentum
        self.target_mean.mul_(1 - m).add_(m * mean.detach().to(self.target_mean).expand_as(self.target_mean))
        self.target_var.mul_(1 - m).add_(m * var.detach().to(self.target_var).expand_as(self.target_var))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        if self.training:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach())
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.sqrt(self.target_var + _EPS) / torch.sqrt(var + _EPS)
        return (x - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1) + self.target_mean.view(1, -1, 1, 1)


def channel_stats(x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of x over (N, H, W) or over masked pixels.

    Args:
        x: (B, C, H, W) features, or (P, C) feature vectors (then ``mask`` must be None).
        mask: (B, H, W) bool pixels that count, or None for all.

    Returns:
        ((C,) mean, (C,) variance); zeros and ones when no pixel counts.
    """
    if x.ndim == 4:
        v = x.permute(0, 2, 3, 1)
        v = v[mask] if mask is not None else v.reshape(-1, x.shape[1])
    elif x.ndim == 2 and mask is None:
        v = x
    else:
        raise InputError(f"channel_stats: expected (B, C, H, W) or (P, C) features, got {tuple(x.shape)}")
    if v.shape[0] == 0:
        return torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype)
    return v.mean(dim=0), v.var(dim=0, unbiased=False)


@dataclass(frozen=True)
class Distill3DConfig:
    """Settings of the simulation branch.

    Attributes:
        base: the wrapped RGB network's config (``fusion="rgb"``).
        sim_channels: C3, channels of ``f3d_sim`` (the teacher's feature dimension).
        hidden: channels of the branch's hidden 3x3 layer.
        dn: use DN1/DN2 (False: the ablation without dimension normalisation).
        momentum: of the running and target statistics.
    """

    base: SegNetConfig
    sim_channels: int = 32
    hidden: int = 64
    dn: bool = True
    momentum: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.base, SegNetConfig):
            raise ConfigError(f"Distill3DConfig.base: expected a SegNetConfig, got {type(self.base).__name__}")
        if self.base.fusion != "rgb":
            raise ConfigError(
                f"Distill3DConfig.base: the student is an RGB-only network (fusion 'rgb'), got "
                f"{self.base.name} with fusion {self.base.fusion!r}"
            )
        for name in ("sim_channels", "hidden"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4096:
                raise ConfigError(f"Distill3DConfig.{name}: expected an integer in 1..4096, got {v!r}")

    def to_dict(self) -> dict:
        return {
            "base": self.base.to_dict(),
            "sim_channels": self.sim_channels,
            "hidden": self.hidden,
            "dn": self.dn,
            "momentum": self.momentum,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Distill3DConfig:
        if not isinstance(d, dict) or not isinstance(d.get("base"), dict):
            raise ConfigError(f"Distill3DConfig.from_dict: expected a dict with a 'base' config, got {d!r:.200}")
        rest = {k: v for k, v in d.items() if k != "base"}
        try:
            return cls(base=SegNetConfig.from_dict(d["base"]), **rest)
        except TypeError as e:
            raise ConfigError(f"Distill3DConfig.from_dict: {e}") from None


class Distill3DNet(ConfigCapabilities, nn.Module):
    """RGB student with a 3D-feature simulation branch (see the module docstring).

    Implements ``real3d.models.Segmenter`` through its base network's config (``config``
    is the base ``SegNetConfig``; ``distill_config`` the whole). ``forward`` and
    ``predict`` take RGB only; ``forward_train`` also returns ``f3d_sim``.
    """

    exportable: bool = True
    quantizable: bool = True
    card: dict | None = None

    def __init__(self, config: Distill3DConfig, base: Real3DVisionNet | None = None) -> None:
        super().__init__()
        if not isinstance(config, Distill3DConfig):
            raise ConfigError(f"Distill3DNet: expected a Distill3DConfig, got {type(config).__name__}")
        if base is not None and base.config != config.base:
            raise ConfigError(f"Distill3DNet: base network {base.config.name} does not match {config.base.name}")
        self.distill_config = config
        self.config = config.base
        self.base = base if base is not None else Real3DVisionNet(config.base)
        w, c3 = config.base.decoder.width, config.sim_channels
        self.sim = nn.Sequential(
            nn.Conv2d(w, config.hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(config.hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(config.hidden, c3, 1),
        )
        self.dn1 = DimensionNorm(c3, config.momentum, enabled=config.dn)
        self.dn2 = DimensionNorm(c3, config.momentum, enabled=config.dn)
        self.fuse = nn.Sequential(nn.Conv2d(w + c3, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))

    @property
    def sim_channels(self) -> int:
        return self.distill_config.sim_channels

    def forward_train(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(refined (B, K, H, W) logits, coarse (B, K, H/8, W/8) logits, f3d_sim
        (B, C3, H/8, W/8)) for rgb (B, 3, H, W) float in [0, 1], H and W multiples of 16.
        In training mode DN2's targets follow the batch's 2D feature statistics."""
        size = self.base._check(rgb, None).shape[-2:]
        feats = self.base.encode(rgb, None)
        dec = self.base.decoder
        _, f2d = dec.coarse(feats)  # its own coarse logits (a 1x1 conv) are replaced below
        f3d_sim = self.dn1(self.sim(f2d))
        if self.training and self.dn2.enabled:
            m, v = channel_stats(f2d.detach())
            self.dn2.update_target(m.mean(), v.mean())
        fused = self.fuse(torch.cat([f2d, self.dn2(f3d_sim)], dim=1))
        coarse = dec.coarse_head(fused)
        refined = dec.refine(feats, coarse, fused)
        refined = F.interpolate(refined, size=size, mode="bilinear", align_corners=False)
        return refined, coarse, f3d_sim

    def forward(self, rgb: torch.Tensor, depth_m: torch.Tensor | None = None, head: str = "refined"):
        """Class logits (B, K, H, W) from rgb (B, 3, H, W) float in [0, 1]; ``depth_m`` is
        ignored (RGB-only). ``head``: as ``Real3DVisionNet.forward`` (``"coarse"`` still runs
        the refinement path: the coarse logits come after the fusion)."""
        if head not in HEADS:
            raise InputError(f"head: expected one of {HEADS}, got {head!r}")
        refined, coarse, _ = self.forward_train(rgb)
        if head == "coarse":
            return F.interpolate(coarse, size=refined.shape[-2:], mode="bilinear", align_corners=False)
        if head == "both":
            return refined, coarse
        return refined

    @torch.no_grad()
    def predict(
        self,
        frame: Frame,
        head: Literal["refined", "coarse"] = "refined",
        flip: bool = False,
        scales: Sequence[float] = (1.0,),
        guided: bool | None = None,
    ) -> SegmentationResult:
        """Segment one frame of any size from its RGB image (as ``Real3DVisionNet.predict``)."""
        was_training = self.training
        if was_training:
            self.eval()
        try:
            with torch.inference_mode():
                return tta_predict(
                    lambda r, d: self(r, None, head=head),
                    frame,
                    self.config,
                    head,
                    flip,
                    scales,
                    guided,
                    model_name=self.model_name,
                )
        finally:
            if was_training:
                self.train()


def build_distill3d(base: SegNetConfig | str | Real3DVisionNet = "rgb-tiny", **kw) -> Distill3DNet:
    """A fresh student around a preset name, a config or an existing (e.g. trained) RGB
    network; ``kw`` go to ``Distill3DConfig`` (``sim_channels``, ``hidden``, ``dn``...)."""
    from real3d.models.presets import get_preset

    net = None
    if isinstance(base, Real3DVisionNet):
        net, base = base, base.config
    elif isinstance(base, str):
        base = get_preset(base)
    return Distill3DNet(Distill3DConfig(base=base, **kw), net)


def save_distill3d(net: Distill3DNet, path: str | os.PathLike, card: dict | None = None) -> Path:
    """Write ``net`` to ``path`` (.safetensors) and its card (``kind: distill3d``, the
    config, a sha256 of the weights, ``card``'s fields) beside it, both or neither."""
    from safetensors.torch import save

    from real3d.core.files import atomic_write_files
    from real3d.models.cards import DIGEST_KEY, bytes_sha256

    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(f"save_distill3d: expected a .safetensors path, got {path}")
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    blob = save(tensors, metadata={"real3d": "distill3d"})
    full = {**(card or {}), "kind": "distill3d", "config": net.distill_config.to_dict(), DIGEST_KEY: bytes_sha256(blob)}
    full.setdefault("params", int(sum(p.numel() for p in net.parameters())))
    atomic_write_files({path: blob, path.with_suffix(".json"): json.dumps(full, indent=2).encode()})
    return path


def load_distill3d(path: str | os.PathLike) -> Distill3DNet:
    """A ``Distill3DNet`` written by ``save_distill3d``, in eval mode, with ``card`` set.

    Raises:
        FormatError: missing, corrupt or altered files, another kind of model, an invalid
            config or weights that do not fit it."""
    from real3d.models.cards import parse_card
    from real3d.models.pretrained import load_card_weights

    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FormatError(f"load_distill3d: expected {path} and its card {card_path}")
    card = parse_card(card_path.read_bytes(), card_path)
    if card.get("kind") != "distill3d":
        raise FormatError(f"load_distill3d: {card_path} is not a distilled-student card (kind {card.get('kind')!r})")
    try:
        net = Distill3DNet(Distill3DConfig.from_dict(card.get("config")))
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"load_distill3d: {card_path} has an invalid config ({e})") from None
    load_card_weights(net, path, card, "load_distill3d")
    net.card = card
    return net.eval()
