"""Progressive-refinement decoder.

A feature-pyramid path goes from stride 32 to stride 8 and emits a *coarse* prediction
there; a light refinement path then brings in the stride-4 and stride-2 encoder features
(edges, thin structures) and emits the *refined* prediction at stride 2, which is
bilinearly upsampled to the input size. Both predictions are usable: the coarse one skips
the high-resolution convolutions (cheaper), the refined one is more accurate at edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from real3d.nn.blocks import ConvBNAct


@dataclass(frozen=True)
class DecoderConfig:
    """Settings of the progressive decoder.

    Attributes:
        width: channels of the pyramid path (strides 32 -> 8).
        refine_width: channels of the refinement path at stride 4; half of it at stride 2.
    """

    width: int = 64
    refine_width: int = 32


def _up(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class ProgressiveDecoder(nn.Module):
    """Inputs: encoder features at strides 2, 4, 8, 16, 32 with ``in_widths`` channels.

    ``coarse(feats)`` returns (logits at stride 8 (B, K, H/8, W/8), decoder features);
    ``refine(feats, coarse_logits, dec)`` returns logits at stride 2 (B, K, H/2, W/2).
    """

    def __init__(self, in_widths: tuple[int, ...], num_classes: int, config: DecoderConfig):
        super().__init__()
        w, r = config.width, config.refine_width
        self.lat32 = ConvBNAct(in_widths[4], w, k=1)
        self.lat16 = ConvBNAct(in_widths[3], w, k=1)
        self.lat8 = ConvBNAct(in_widths[2], w, k=1)
        self.smooth16 = ConvBNAct(w, w)
        self.smooth8 = ConvBNAct(w, w)
        self.coarse_head = nn.Conv2d(w, num_classes, 1)
        # refinement sees the decoder features, the coarse logits and the encoder skips
        self.ref4 = ConvBNAct(w + num_classes + in_widths[1], r)
        self.ref2 = ConvBNAct(r + in_widths[0], r // 2)
        self.refine_head = nn.Conv2d(r // 2, num_classes, 1)

    def coarse(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lat32(feats[4])
        x = self.smooth16(self.lat16(feats[3]) + _up(x, feats[3]))
        x = self.smooth8(self.lat8(feats[2]) + _up(x, feats[2]))
        return self.coarse_head(x), x

    def refine(self, feats: list[torch.Tensor], coarse_logits: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        f4 = feats[1]
        x = self.ref4(torch.cat([_up(dec, f4), _up(coarse_logits, f4), f4], dim=1))
        f2 = feats[0]
        x = self.ref2(torch.cat([_up(x, f2), f2], dim=1))
        # residual on the upsampled coarse logits: refinement only has to learn corrections
        return _up(coarse_logits, f2) + self.refine_head(x)
