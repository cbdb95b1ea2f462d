"""Real3DVisionNet: 2D semantic segmentation from RGB, depth or both (NYUv2-13 output).

One network class covers the proposed RGB-D model and every baseline, selected by
``SegNetConfig.fusion``:

- ``"attn"``: two encoders, cross-modal linear attention (RGB queries, depth keys/values)
  at strides 8, 16, 32, residual into the RGB stream (the proposed model);
- ``"add"`` / ``"se"``: the same two encoders fused by addition / squeeze-excitation;
- ``"early"``: one encoder on the 5-channel stack rgb + depth + validity;
- ``"rgb"``: RGB only (serves frames without depth); ``"depth"``: depth only.

All share the progressive decoder (coarse at stride 8, refined at stride 2) and one contract:
``forward`` on batched tensors, ``predict(frame) -> SegmentationResult`` on frames of any
size, and the capability flags ``exportable`` / ``quantizable`` (tests export and quantise
every preset that claims them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.core.values import is_int
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import ConfigCapabilities
from real3d.nn.blocks import EncoderConfig, make_encoder
from real3d.nn.decoder import DecoderConfig, ProgressiveDecoder
from real3d.nn.fusion import make_fusion
from real3d.models.inference import (  # noqa: F401 (re-exported: their home was this module)
    NETWORK_STRIDE,
    network_size,
    frame_to_tensors,
    resize_inputs,
    logits_to_result,
    SCALE_RANGE,
    check_scales,
    tta_predict,
    check_finite_logits,
    GUIDED_MAX_AREA,
    guided_probs,
    PROBS_AT,
    NetworkSegmentation,
    network_result,
)

Fusion = Literal["attn", "add", "se", "early", "rgb", "depth"]
Head = Literal["refined", "coarse", "both"]
FUSION_KINDS = ("attn", "add", "se", "early", "rgb", "depth")
HEADS = ("refined", "coarse", "both")

# ImageNet statistics: a conventional, fixed normalisation of [0, 1] RGB.
_RGB_MEAN = (0.485, 0.456, 0.406)
_RGB_STD = (0.229, 0.224, 0.225)
# Depth in metres is clipped to max_depth_m, scaled to [0, 1], then centred with these
# (typical indoor depth 1-6 m); invalid pixels become 0 and a validity channel says so.
_DEPTH_MEAN = 0.35
_DEPTH_STD = 0.25


@dataclass(frozen=True)
class SegNetConfig:
    """Everything needed to build a Real3DVisionNet.

    Attributes:
        name: preset name (``rgbd-small``...).
        fusion: one of ``FUSION_KINDS``.
        rgb_encoder: encoder of the RGB stream (or of the single stream for ``early``/``depth``;
            its ``in_channels`` is set by ``fusion``).
        depth_encoder: encoder of the depth stream for two-stream fusions, else None.
        decoder: progressive decoder widths.
        fusion_stages: encoder stages (0..4 = strides 2..32) where depth joins the RGB stream.
        num_classes: output classes without void (13 for NYUv2-13).
        infer_hw: (H, W) whose area the network sees at ``predict``; each frame is resized to
            about that area with its own aspect, sides multiples of ``NETWORK_STRIDE``
            (``network_size``), so (224, 288) is the size itself for a 4:3 frame.
        max_depth_m: depth beyond this is clipped before normalisation.
        guide_radius: ``predict`` upsamples the class probabilities with the frame's colour
            image as guide (``real3d.nn.guided``), windows of this radius on the grid of half
            the network size; 0 = plain bilinear upsampling (needs an RGB model otherwise).
        guide_eps: the guided filter's regularisation (RGB in [0, 1], squared); smaller
            follows fainter edges.
        label_set: name of the label set the outputs index (``real3d.core.labels``), whose
            class count must be ``num_classes``; None: NYUv2-13 for 13 classes, else
            classes named by their ids (``real3d.models.contract.label_set_for``).
        channel_widths: per-module overrides of the channel counts the widths above give, as
            ``(module path, in_channels, out_channels)`` for a ``Conv2d`` or a ``BatchNorm2d``
            (whose two counts are equal); what structured pruning (``real3d.deploy.prune``)
            leaves of a network. Empty (default): the widths above, unchanged.
    """

    name: str
    fusion: Fusion
    rgb_encoder: EncoderConfig
    depth_encoder: EncoderConfig | None = None
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    fusion_stages: tuple[int, ...] = (2, 3, 4)
    num_classes: int = 13
    infer_hw: tuple[int, int] = (240, 320)
    max_depth_m: float = 10.0
    guide_radius: int = 0
    guide_eps: float = 1e-3
    label_set: str | None = None
    channel_widths: tuple[tuple[str, int, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"SegNetConfig.name: expected a non-empty string, got {self.name!r}")
        for seq in ("fusion_stages", "infer_hw"):  # lists (as JSON gives them) become tuples
            if isinstance(getattr(self, seq), list):
                object.__setattr__(self, seq, tuple(getattr(self, seq)))
        object.__setattr__(self, "channel_widths", _check_channel_widths(self.channel_widths))
        if not isinstance(self.fusion, str) or self.fusion not in FUSION_KINDS:
            raise ConfigError(f"SegNetConfig.fusion: unknown {self.fusion!r}; valid: {', '.join(FUSION_KINDS)}")
        two_stream = self.fusion in ("attn", "add", "se")
        if two_stream and self.depth_encoder is None:
            raise ConfigError(f"SegNetConfig {self.name}: fusion {self.fusion!r} needs a depth_encoder")
        if not two_stream and self.depth_encoder is not None:
            raise ConfigError(f"SegNetConfig {self.name}: fusion {self.fusion!r} takes no depth_encoder")
        for field_name in ("rgb_encoder", "depth_encoder"):
            _check_encoder(getattr(self, field_name), f"SegNetConfig.{field_name}")
        if not isinstance(self.decoder, DecoderConfig) or not all(
            is_int(v, 1, MAX_WIDTH) for v in (self.decoder.width, self.decoder.refine_width)
        ):
            raise ConfigError(
                f"SegNetConfig.decoder: expected width and refine_width integers in 1..{MAX_WIDTH}, "
                f"got {self.decoder!r}"
            )
        if not isinstance(self.fusion_stages, tuple) or any(
            not is_int(s) or s not in range(5) for s in self.fusion_stages
        ):
            raise ConfigError(f"SegNetConfig.fusion_stages: expected values in 0..4, got {self.fusion_stages!r}")
        if not is_int(self.num_classes, 1, MAX_CLASSES):
            raise ConfigError(
                f"SegNetConfig.num_classes: expected an integer in 1..{MAX_CLASSES} (labels are "
                f"uint8, 0 = void), got {self.num_classes!r}"
            )
        hw = self.infer_hw
        if (
            not isinstance(hw, tuple)
            or len(hw) != 2
            or not all(is_int(v, 16, MAX_INFER_SIDE) and v % 16 == 0 for v in hw)
        ):
            raise ConfigError(
                f"SegNetConfig.infer_hw: expected (H, W), positive multiples of 16 up to {MAX_INFER_SIDE}, got {hw!r}"
            )
        if (
            isinstance(self.max_depth_m, bool)
            or not isinstance(self.max_depth_m, (int, float))
            or not math.isfinite(self.max_depth_m)
            or self.max_depth_m <= 0
        ):
            raise ConfigError(f"SegNetConfig.max_depth_m: expected a finite value > 0, got {self.max_depth_m!r}")
        if isinstance(self.guide_radius, bool) or not isinstance(self.guide_radius, int) or self.guide_radius < 0:
            raise ConfigError(f"SegNetConfig.guide_radius: expected an integer >= 0, got {self.guide_radius!r}")
        if self.guide_radius and self.fusion == "depth":
            raise ConfigError(
                f"SegNetConfig {self.name}: guide_radius needs an RGB model (the guide is the colour image)"
            )
        if isinstance(self.guide_eps, bool) or not (
            isinstance(self.guide_eps, (int, float)) and math.isfinite(self.guide_eps) and self.guide_eps > 0
        ):
            raise ConfigError(f"SegNetConfig.guide_eps: expected a finite value > 0, got {self.guide_eps!r}")
        if self.label_set is not None:
            from real3d.core.labels import get_label_set

            if not isinstance(self.label_set, str):
                raise ConfigError(f"SegNetConfig.label_set: expected a label set name, got {self.label_set!r}")
            n = get_label_set(self.label_set).num_classes
            if n != self.num_classes:
                raise ConfigError(
                    f"SegNetConfig {self.name}: label set {self.label_set} has {n} classes, num_classes is "
                    f"{self.num_classes}"
                )

    @property
    def uses_rgb(self) -> bool:
        return self.fusion != "depth"

    @property
    def uses_depth(self) -> bool:
        return self.fusion != "rgb"

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["label_set"] is None:  # configs without one keep their dict (cards, fingerprints)
            del d["label_set"]
        if d["channel_widths"]:
            d["channel_widths"] = [list(w) for w in self.channel_widths]
        else:  # unpruned configs keep their dict too
            del d["channel_widths"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SegNetConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"SegNetConfig.from_dict: expected a dict, got {type(d).__name__}")
        part = "config"
        try:
            d = dict(d)
            for part, build in (
                ("rgb_encoder", _enc_from_dict),
                ("depth_encoder", lambda v: _enc_from_dict(v) if v else None),
                ("decoder", lambda v: DecoderConfig(**v)),
                ("fusion_stages", tuple),
                ("infer_hw", tuple),
            ):
                if part in d or part == "rgb_encoder":
                    d[part] = build(d[part])
            part = "config"
            return cls(**d)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(
                f"SegNetConfig.from_dict: malformed config field {part} ({type(e).__name__}: {e}); got keys {sorted(d)}"
            ) from e


def _check_channel_widths(widths) -> tuple[tuple[str, int, int], ...]:
    """``SegNetConfig.channel_widths`` as a tuple of ``(path, in, out)`` tuples (JSON gives
    lists); ConfigError for anything else or a path given twice."""
    if not isinstance(widths, (tuple, list)):
        raise ConfigError(
            f"SegNetConfig.channel_widths: expected a sequence of (module path, in, out), got {type(widths).__name__}"
        )
    out = []
    for w in widths:
        if (
            not isinstance(w, (tuple, list))
            or len(w) != 3
            or not isinstance(w[0], str)
            or not w[0]
            or not all(is_int(v, 1, MAX_WIDTH) for v in w[1:])
        ):
            raise ConfigError(
                f"SegNetConfig.channel_widths: expected entries (module path, in, out) with counts in 1..{MAX_WIDTH}, "
                f"got {w!r}"
            )
        out.append((w[0], int(w[1]), int(w[2])))
    paths = [w[0] for w in out]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"SegNetConfig.channel_widths: a module path is given twice in {sorted(paths)}")
    return tuple(out)


def _enc_from_dict(d: dict) -> EncoderConfig:
    return EncoderConfig(d["in_channels"], tuple(d["widths"]), tuple(d["depths"]), d.get("kind", "residual"))


MAX_CLASSES = 254
"""Most classes a network may output: labels are uint8 with 0 = void."""
MAX_WIDTH = 8192
"""Most channels of an encoder stage or decoder path a config may ask for."""
MAX_INFER_SIDE = 8192
"""Longest side of ``SegNetConfig.infer_hw``."""


def _check_encoder(enc, where: str) -> None:
    """ConfigError naming ``where`` unless ``enc`` is None or an EncoderConfig with
    integer channels, widths >= 1 and depths >= 0."""
    if enc is None:
        return
    if not isinstance(enc, EncoderConfig):
        raise ConfigError(f"{where}: expected an EncoderConfig, got {type(enc).__name__}")
    if not is_int(enc.in_channels, 1, MAX_WIDTH):
        raise ConfigError(f"{where}.in_channels: expected an integer >= 1, got {enc.in_channels!r}")
    if not all(is_int(v, 1, MAX_WIDTH) for v in enc.widths):
        raise ConfigError(f"{where}.widths: expected integers in 1..{MAX_WIDTH}, got {enc.widths!r}")
    if not all(is_int(v, 0, 64) for v in enc.depths):
        raise ConfigError(f"{where}.depths: expected integers in 0..64, got {enc.depths!r}")


def apply_channel_widths(net: nn.Module, widths: Sequence[tuple[str, int, int]], name: str = "network") -> None:
    """Rebuild the named ``Conv2d`` / ``BatchNorm2d`` modules of ``net`` in place with the
    channel counts ``widths`` gives (``SegNetConfig.channel_widths``), freshly initialised;
    every other setting (kernel, stride, padding, bias, eps) is kept. A depthwise convolution
    stays depthwise (its groups follow its width). A cross-modal attention block's gate
    follows the width of its output projection, its head size that of its queries.

    Raises ConfigError naming ``name`` for a path that names no such module, or counts a
    module cannot take (a BatchNorm's two counts differ, a grouped convolution's do not
    divide)."""
    from real3d.nn.fusion import CrossModalAttention

    modules = dict(net.named_modules())
    for path, c_in, c_out in widths:
        m = modules.get(path)
        parent_path, _, attr = path.rpartition(".")
        if isinstance(m, nn.Conv2d):
            depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
            if m.groups > 1 and not depthwise:
                raise ConfigError(f"{name}: channel_widths cannot resize the grouped convolution {path}")
            if depthwise and c_in != c_out:
                raise ConfigError(
                    f"{name}: channel_widths: the depthwise convolution {path} needs in == out, got {c_in}, {c_out}"
                )
            new = nn.Conv2d(
                c_in,
                c_out,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                groups=c_out if depthwise else 1,
                bias=m.bias is not None,
                padding_mode=m.padding_mode,
            )
        elif isinstance(m, nn.BatchNorm2d):
            if c_in != c_out:
                raise ConfigError(f"{name}: channel_widths: the BatchNorm {path} needs in == out, got {c_in}, {c_out}")
            new = nn.BatchNorm2d(c_out, m.eps, m.momentum, m.affine, m.track_running_stats)
        else:
            found = "nothing" if m is None else type(m).__name__
            raise ConfigError(f"{name}: channel_widths: expected a Conv2d or BatchNorm2d at {path!r}, found {found}")
        setattr(modules[parent_path] if parent_path else net, attr, new)
    for m in net.modules():
        if isinstance(m, CrossModalAttention):
            if m.gate.shape[1] != m.out.out_channels:
                m.gate = nn.Parameter(torch.zeros(1, m.out.out_channels, 1, 1))
            if m.q.out_channels % m.heads:
                raise ConfigError(
                    f"{name}: channel_widths: query width {m.q.out_channels} is not a multiple of {m.heads} heads"
                )
            m.head_dim = m.q.out_channels // m.heads


def normalize_rgb(rgb: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> ImageNet-normalised float (B, 3, H, W)."""
    if mean is None or std is None:
        mean = torch.tensor(_RGB_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        std = torch.tensor(_RGB_STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


def normalize_depth(depth_m: torch.Tensor, max_depth_m: float) -> torch.Tensor:
    """(B, 1, H, W) float metres, 0 = invalid -> (B, 2, H, W): normalised depth, validity."""
    valid = (depth_m > 0).to(depth_m.dtype)
    d = depth_m.clamp(0.0, max_depth_m) / max_depth_m
    return torch.cat([(d - _DEPTH_MEAN) / _DEPTH_STD * valid, valid], dim=1)


class Real3DVisionNet(ConfigCapabilities, nn.Module):
    """RGB-D (or single-modality) segmentation network; see the module docstring.

    Implements ``real3d.models.Segmenter``. Capability flags: ``exportable`` (ONNX export
    with dynamic H, W works), ``quantizable`` (static INT8 QDQ quantisation of its
    convolutions works) and ``supports_guided`` (its config sets ``guide_radius``).
    """

    exportable: bool = True
    quantizable: bool = True
    card: dict | None = None
    """The model card of weights loaded from a file (``load_weights``); None for a fresh network."""

    def __init__(self, config: SegNetConfig):
        super().__init__()
        self.config = config
        c = config
        enc_in = {"attn": 3, "add": 3, "se": 3, "rgb": 3, "early": 5, "depth": 2}[c.fusion]
        rgb_cfg = replace(c.rgb_encoder, in_channels=enc_in)
        self.encoder = make_encoder(rgb_cfg)
        self.depth_encoder: nn.Module | None = None
        self.fusions = nn.ModuleDict()
        if c.depth_encoder is not None:
            d_cfg = replace(c.depth_encoder, in_channels=2)
            self.depth_encoder = make_encoder(d_cfg)
            for s in c.fusion_stages:
                self.fusions[str(s)] = make_fusion(c.fusion, rgb_cfg.widths[s], d_cfg.widths[s])
        self.decoder = ProgressiveDecoder(rgb_cfg.widths, c.num_classes, c.decoder)
        if c.channel_widths:
            apply_channel_widths(self, c.channel_widths, c.name)
        # constants, not weights: kept out of the state dict
        self.register_buffer("rgb_mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(_RGB_STD).view(1, 3, 1, 1), persistent=False)

    def _check(self, rgb: torch.Tensor | None, depth_m: torch.Tensor | None) -> torch.Tensor:
        """Validate the inputs; returns the tensor whose size the output takes."""
        ref = None
        if self.uses_rgb:
            if not isinstance(rgb, torch.Tensor) or rgb.ndim != 4 or rgb.shape[1] != 3:
                raise InputError(
                    f"{self.config.name}: expected rgb (B, 3, H, W) float in [0, 1], got {describe_array(rgb)}"
                )
            if not rgb.is_floating_point():
                raise InputError(f"{self.config.name}: expected float rgb in [0, 1], got {describe_array(rgb)}")
            ref = rgb
        if self.uses_depth:
            if depth_m is None:
                raise InputError(f"{self.config.name} needs depth_m (B, 1, H, W) metres; got None")
            if not isinstance(depth_m, torch.Tensor) or depth_m.ndim != 4 or depth_m.shape[1] != 1:
                raise InputError(
                    f"{self.config.name}: expected depth_m (B, 1, H, W) metres, got {describe_array(depth_m)}"
                )
            if ref is not None and (depth_m.shape[0] != ref.shape[0] or depth_m.shape[2:] != ref.shape[2:]):
                raise InputError(
                    f"{self.config.name}: depth_m {tuple(depth_m.shape)} does not match rgb {tuple(ref.shape)}"
                )
            ref = depth_m if ref is None else ref
        if not torch.jit.is_tracing():
            # a data-dependent check cannot live in an exported graph; the runtime backend
            # gets finite inputs from Frame, which rejects NaN/inf at construction
            for name, x in (("rgb", rgb), ("depth_m", depth_m)):
                if x is not None and not bool(torch.isfinite(x).all()):
                    raise InputError(f"{self.config.name}: {name} contains NaN or inf values")
        h, w = ref.shape[-2:]
        if h % 16 or w % 16:
            raise InputError(f"{self.config.name}: expected H, W multiples of 16, got {h}x{w}")
        return ref

    def encode(self, rgb: torch.Tensor | None, depth_m: torch.Tensor | None) -> list[torch.Tensor]:
        """Encoder features at strides 2, 4, 8, 16, 32 after fusion."""
        c = self.config
        if c.fusion == "rgb":
            return self.encoder(normalize_rgb(rgb, self.rgb_mean, self.rgb_std))
        dn = normalize_depth(depth_m, c.max_depth_m)
        if c.fusion == "depth":
            return self.encoder(dn)
        if c.fusion == "early":
            return self.encoder(torch.cat([normalize_rgb(rgb, self.rgb_mean, self.rgb_std), dn], dim=1))
        r, d = normalize_rgb(rgb, self.rgb_mean, self.rgb_std), dn
        feats = []
        for i in range(5):
            r = self.encoder.stage(i, r)
            d = self.depth_encoder.stage(i, d)
            if str(i) in self.fusions:
                r = self.fusions[str(i)](r, d)
            feats.append(r)
        return feats

    def forward(self, rgb: torch.Tensor | None, depth_m: torch.Tensor | None = None, head: Head = "refined"):
        """Class logits.

        Args:
            rgb: (B, 3, H, W) float in [0, 1] (ignored by depth-only models, may be None).
            depth_m: (B, 1, H, W) float metres, 0 = invalid (required unless RGB-only).
            head: ``"refined"`` -> (B, K, H, W) logits from the refinement path;
                ``"coarse"`` -> (B, K, H, W) logits from the stride-8 head, upsampled (the
                refinement path is not run); ``"both"`` -> (refined (B, K, H, W),
                coarse (B, K, H/8, W/8)) for training.
            H and W must be multiples of 16; ``predict`` handles any frame size.
        """
        if head not in HEADS:
            raise InputError(f"head: expected one of {HEADS}, got {head!r}")
        # sizes are taken from the tensor (not Python ints) so exported graphs stay dynamic
        size = self._check(rgb, depth_m).shape[-2:]
        feats = self.encode(rgb, depth_m)
        coarse, dec = self.decoder.coarse(feats)
        if head == "coarse":
            return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
        refined = self.decoder.refine(feats, coarse, dec)
        refined = F.interpolate(refined, size=size, mode="bilinear", align_corners=False)
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
        probs_at: Literal["frame", "network"] = "frame",
    ) -> SegmentationResult | NetworkSegmentation:
        """Segment one frame of any size; the result has the frame's size.

        The frame is resized to about ``config.infer_hw`` pixels (``network_size``: sides
        multiples of the network's stride, 32, with the frame's aspect), run in eval mode,
        and the logits are resized back. Intrinsics are not needed by the network.
        Test-time augmentation, both off by default:
        ``flip=True`` also runs the mirrored frame (in the same batch) and averages the two
        class distributions: more accurate, about twice the compute.
        ``scales`` runs the network at each of these multiples of ``infer_hw`` (side
        lengths, e.g. ``(1.0, 1.2)``) and averages the class distributions; the compute
        grows with the sum of the squared scales (docs/segmentation.md, Test-time
        augmentation, gives the measured gain).
        ``guided``: upsample the class probabilities along the colour image's edges
        (``config.guide_radius``, ``real3d.nn.guided``); None does as the config says,
        False upsamples bilinearly, True needs a config with ``guide_radius`` > 0.
        ``probs_at="network"``: a ``NetworkSegmentation``, the labels at the frame's size
        (those of ``guided=False``) and the class probabilities at the network's, for
        consumers that sample them (no full-size softmax is computed); plain path only
        (no flip, scales ``(1.0,)``, ``guided`` None or False).
        Raises InputError when the model needs depth and the frame has none, for
        scales outside [0.25, 4], or for ``probs_at="network"`` with test-time
        augmentation; FormatError when the network's output is not finite (corrupt
        weights: the inputs are finite).
        """
        was_training = self.training
        if was_training:  # a module walk each way, about 0.4 ms: only when needed
            self.eval()
        try:
            with torch.inference_mode():
                return tta_predict(
                    lambda r, d: self(r, d, head=head),
                    frame,
                    self.config,
                    head,
                    flip,
                    scales,
                    guided,
                    model_name=self.model_name,
                    probs_at=probs_at,
                )
        finally:
            if was_training:
                self.train()
