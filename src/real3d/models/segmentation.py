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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError, FormatError, InputError, describe_array
from real3d.core.frame import Frame
from real3d.core.segmentation import SegmentationResult
from real3d.models.contract import ConfigCapabilities
from real3d.nn.blocks import EncoderConfig, make_encoder
from real3d.nn.decoder import DecoderConfig, ProgressiveDecoder
from real3d.nn.fusion import make_fusion
from real3d.nn.guided import guided_upsample

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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"SegNetConfig.name: expected a non-empty string, got {self.name!r}")
        for seq in ("fusion_stages", "infer_hw"):  # lists (as JSON gives them) become tuples
            if isinstance(getattr(self, seq), list):
                object.__setattr__(self, seq, tuple(getattr(self, seq)))
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
            _is_int(v, 1, MAX_WIDTH) for v in (self.decoder.width, self.decoder.refine_width)
        ):
            raise ConfigError(
                f"SegNetConfig.decoder: expected width and refine_width integers in 1..{MAX_WIDTH}, "
                f"got {self.decoder!r}"
            )
        if not isinstance(self.fusion_stages, tuple) or any(
            not _is_int(s) or s not in range(5) for s in self.fusion_stages
        ):
            raise ConfigError(f"SegNetConfig.fusion_stages: expected values in 0..4, got {self.fusion_stages!r}")
        if not _is_int(self.num_classes, 1, MAX_CLASSES):
            raise ConfigError(
                f"SegNetConfig.num_classes: expected an integer in 1..{MAX_CLASSES} (labels are "
                f"uint8, 0 = void), got {self.num_classes!r}"
            )
        hw = self.infer_hw
        if (
            not isinstance(hw, tuple)
            or len(hw) != 2
            or not all(_is_int(v, 16, MAX_INFER_SIDE) and v % 16 == 0 for v in hw)
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

    @property
    def uses_rgb(self) -> bool:
        return self.fusion != "depth"

    @property
    def uses_depth(self) -> bool:
        return self.fusion != "rgb"

    def to_dict(self) -> dict:
        return asdict(self)

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


def _enc_from_dict(d: dict) -> EncoderConfig:
    return EncoderConfig(d["in_channels"], tuple(d["widths"]), tuple(d["depths"]), d.get("kind", "residual"))


MAX_CLASSES = 254
"""Most classes a network may output: labels are uint8 with 0 = void."""
MAX_WIDTH = 8192
"""Most channels of an encoder stage or decoder path a config may ask for."""
MAX_INFER_SIDE = 8192
"""Longest side of ``SegNetConfig.infer_hw``."""


def _is_int(v, lo: int | None = None, hi: int | None = None) -> bool:
    """``v`` is an int (not a bool) within [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, int):
        return False
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _check_encoder(enc, where: str) -> None:
    """ConfigError naming ``where`` unless ``enc`` is None or an EncoderConfig with
    integer channels, widths >= 1 and depths >= 0."""
    if enc is None:
        return
    if not isinstance(enc, EncoderConfig):
        raise ConfigError(f"{where}: expected an EncoderConfig, got {type(enc).__name__}")
    if not _is_int(enc.in_channels, 1, MAX_WIDTH):
        raise ConfigError(f"{where}.in_channels: expected an integer >= 1, got {enc.in_channels!r}")
    if not all(_is_int(v, 1, MAX_WIDTH) for v in enc.widths):
        raise ConfigError(f"{where}.widths: expected integers in 1..{MAX_WIDTH}, got {enc.widths!r}")
    if not all(_is_int(v, 0, 64) for v in enc.depths):
        raise ConfigError(f"{where}.depths: expected integers in 0..64, got {enc.depths!r}")


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
    ) -> SegmentationResult:
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
        Raises InputError when the model needs depth and the frame has none, or for
        scales outside [0.25, 4]; FormatError when the network's output is not finite
        (corrupt weights: the inputs are finite).
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
                )
        finally:
            if was_training:
                self.train()


NETWORK_STRIDE = 32
"""Output stride of every preset's encoder (five stages of stride 2). Inputs whose sides are
multiples of it keep the stride-32 features aligned with the stride-16 and stride-8 ones in
the decoder; other multiples of 16 leave a half-cell offset between the levels, which cost
the shipped rgbd-default about 0.6 held-out mIoU (docs/segmentation.md, Inference size)."""


def network_size(h: int, w: int, infer_hw: tuple[float, float], multiple: int = NETWORK_STRIDE) -> tuple[int, int]:
    """The size the network runs at for an h x w frame: sides multiples of ``multiple``
    (default ``NETWORK_STRIDE``), with the aspect of h x w as closely as those allow and
    then the area of ``infer_hw`` as closely as possible.

    Each side scaled to the area of ``infer_hw`` is rounded down and up to a multiple; of
    the (up to) four pairs the one with the smallest aspect error wins, ties going to the
    smaller area error. A 4:3 frame with ``infer_hw`` (224, 288) runs at 224 x 288."""
    if h < 1 or w < 1:
        raise InputError(f"network_size: expected a frame size of at least 1 x 1, got {h} x {w}")
    if multiple < 1:
        raise InputError(f"network_size: expected multiple >= 1, got {multiple}")
    area = float(infer_hw[0]) * float(infer_hw[1])
    scale = (area / float(h * w)) ** 0.5

    def sides(v: float) -> set[int]:
        lo = max(1, math.floor(v / multiple)) * multiple
        hi = max(1, math.ceil(v / multiple)) * multiple
        return {lo, hi}

    def cost(hw: tuple[int, int]) -> tuple[float, float]:
        return abs(math.log((hw[1] / hw[0]) / (w / h))), abs(math.log(hw[0] * hw[1] / area))

    return min(((a, b) for a in sides(h * scale) for b in sides(w * scale)), key=cost)


def _owned(a: np.ndarray) -> np.ndarray:
    """Contiguous and writable (torch refuses to wrap a read-only array, such as
    ``np.asarray(PIL.Image)``, without a warning); copies only when it must."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def frame_to_tensors(
    frame: Frame,
    config: SegNetConfig,
    scale: float = 1.0,
    model_name: str | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, int]]:
    """Frame -> (rgb (1, 3, h, w) float [0, 1] or None, depth (1, 1, h, w) metres or None,
    (H, W) of the frame), resized (``resize_inputs``) to ``network_size`` for
    ``config.infer_hw`` times ``scale``. ``model_name`` (default: the config's) names the
    model in errors: the name it was asked for, such as ``rgbd-default``."""
    if not isinstance(frame, Frame):
        raise InputError(f"predict: expected a real3d.Frame, got {type(frame).__name__}")
    if config.uses_depth and frame.depth_m is None:
        raise InputError(
            f"{model_name or config.name} needs depth but the frame has none; use an RGB-only model (rgb-default)"
        )
    h, w = frame.size_hw
    nh, nw = network_size(h, w, (config.infer_hw[0] * scale, config.infer_hw[1] * scale))
    rgb_t = depth_t = None
    if config.uses_rgb:
        rgb_t = torch.from_numpy(_owned(frame.rgb)).permute(2, 0, 1)[None].float() / 255.0
    if config.uses_depth:
        depth_t = torch.from_numpy(_owned(frame.depth_m))[None, None].float()
    rgb_t, depth_t = resize_inputs(rgb_t, depth_t, (nh, nw))
    return rgb_t, depth_t, (h, w)


def resize_inputs(
    rgb: torch.Tensor | None, depth_m: torch.Tensor | None, size_hw: tuple[int, int]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(B, 3, H, W) RGB and (B, 1, H, W) depth (either may be None) resized to ``size_hw``
    as ``predict`` resizes them: RGB bilinear with antialiasing, depth nearest-neighbour
    so invalid zeros never blend into valid depth. Tensors already at that size pass as is."""
    size_hw = (int(size_hw[0]), int(size_hw[1]))
    if rgb is not None and tuple(rgb.shape[-2:]) != size_hw:
        rgb = F.interpolate(rgb, size=size_hw, mode="bilinear", align_corners=False, antialias=True)
    if depth_m is not None and tuple(depth_m.shape[-2:]) != size_hw:
        depth_m = F.interpolate(depth_m, size=size_hw, mode="nearest")
    return rgb, depth_m


def logits_to_result(logits, out_hw: tuple[int, int], head: str = "refined", flipped_logits=None) -> SegmentationResult:
    """(1, K, h, w) logits (torch or numpy) -> SegmentationResult at out_hw.

    ``flipped_logits``: the logits of the horizontally mirrored frame, same shape; their
    class probabilities, mirrored back, are averaged with those of ``logits``.
    """
    buf = _probs_buffer(logits, out_hw)
    _mean_probs(logits, out_hw, flipped_logits, out=buf[1:])
    return _result(buf, head)


SCALE_RANGE = (0.25, 4.0)


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Test-time scales as a tuple of floats; InputError unless 1 to 8 finite values in
    ``SCALE_RANGE``."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence):
        raise InputError(f"scales: expected a sequence of floats such as (1.0, 1.2), got {scales!r}")
    try:
        out = tuple(float(v) for v in scales)
    except (TypeError, ValueError):
        raise InputError(f"scales: expected numbers, got {scales!r}") from None
    lo, hi = SCALE_RANGE
    if not 1 <= len(out) <= 8 or not all(math.isfinite(v) and lo <= v <= hi for v in out):
        raise InputError(f"scales: expected 1 to 8 values in [{lo}, {hi}], got {scales!r}")
    return out


def tta_predict(
    run,
    frame: Frame,
    config: SegNetConfig,
    head: str,
    flip: bool = False,
    scales: Sequence[float] = (1.0,),
    guided: bool | None = None,
    *,
    model_name: str | None = None,
) -> SegmentationResult:
    """The ``predict`` of every backend: ``run(rgb, depth)`` maps the network inputs
    (``frame_to_tensors``; a batch of 2 with ``flip``, the frame then its mirror) to
    (B, K, h, w) logits. The class distributions of every scale (and mirror) are
    resized to the frame and averaged; with ``guided`` (None: when ``config.guide_radius``
    is set) each scale's are upsampled along the colour image's edges (``guided_probs``).

    Logits that are not all finite raise FormatError naming ``model_name`` (default: the
    config's name): the inputs are finite, so the weights are corrupt."""
    scales = check_scales(scales)
    who = model_name or config.name
    if guided is None:
        guided = config.guide_radius > 0
    elif guided and config.guide_radius <= 0:
        raise InputError(f"{config.name}: guided=True needs a config with guide_radius > 0")
    frame_guide = None
    if guided:
        frame_guide = torch.from_numpy(_owned(frame.rgb)).permute(2, 0, 1)[None].float().div_(255.0)
    buf = None
    for n, s in enumerate(scales):
        rgb_t, depth_t, out_hw = frame_to_tensors(frame, config, scale=s, model_name=who)
        if flip:
            rgb_t = None if rgb_t is None else torch.cat([rgb_t, rgb_t.flip(-1)])
            depth_t = None if depth_t is None else torch.cat([depth_t, depth_t.flip(-1)])
        logits = run(rgb_t, depth_t)
        check_finite_logits(logits, who)
        if n == 0:
            buf = _probs_buffer(logits, out_hw)
        if frame_guide is not None:
            # the filter's output at the frame's size (its edges), unless the frame has more
            # than GUIDED_MAX_AREA times the network's pixels: then at the network's size,
            # the probabilities resized to the frame as the plain path resizes logits
            big = out_hw[0] * out_hw[1] > GUIDED_MAX_AREA * rgb_t.shape[-2] * rgb_t.shape[-1]
            p = guided_probs(
                logits[:1],
                rgb_t[:1] if big else frame_guide,
                config.guide_radius,
                config.guide_eps,
                logits[1:] if flip else None,
                guide_low=_area(rgb_t[:1], (rgb_t.shape[-2] // 2, rgb_t.shape[-1] // 2)),
            )
            if big:
                p = F.interpolate(p.contiguous()[None], size=out_hw, mode="bilinear", align_corners=False)[0]
            if n == 0:
                buf[1:] = p
            else:
                buf[1:] += p
        elif n == 0:
            _mean_probs(logits[:1], out_hw, logits[1:] if flip else None, out=buf[1:])
        else:
            buf[1:] += _mean_probs(logits[:1], out_hw, logits[1:] if flip else None)
    if len(scales) > 1:
        buf[1:] /= len(scales)
    return _result(buf, head)


def check_finite_logits(logits, who: str) -> None:
    """FormatError naming the model ``who`` unless every value of ``logits`` (torch or
    numpy) is finite. Inputs reach the network finite (``Frame`` refuses NaN and inf), so
    a non-finite output means corrupt weights. The test is on the sum, which any NaN or inf
    makes non-finite (finite logits would need magnitudes near 1e32 to overflow it); one
    reduction is much cheaper than ``isfinite(x).all()``."""
    if isinstance(logits, torch.Tensor):
        ok = bool(torch.isfinite(logits.sum()))
    else:
        ok = bool(np.isfinite(np.asarray(logits).sum()))
    if not ok:
        raise FormatError(
            f"{who}: the network's output holds NaN or inf for a finite input: its weights are "
            "corrupt; load them again from a checked file (load_weights verifies the card's sha256)"
        )


GUIDED_MAX_AREA = 2.0
"""With guided upsampling, frames of up to this many times the network's pixel count are
filtered at their own size (a 240x320 frame, 1.19 times 224x288); larger ones at the
network's size, then resized bilinearly: the filter's cost grows with its output's pixels
(docs/segmentation.md, Guided upsampling, gives the figures)."""


def guided_probs(
    logits, guide: torch.Tensor, radius: int, eps: float, flipped_logits=None, *, guide_low: torch.Tensor
) -> torch.Tensor:
    """(1, K, h, w) network logits -> (K, H, W) class probabilities at the size of ``guide``
    ((1, 3, H, W) RGB in [0, 1], the frame), upsampled along its edges.

    The logits are area-resized to half the network size (the grid of the refined head,
    whose output the network upsamples bilinearly) and turned into probabilities there,
    averaged with the mirrored frame's when given; ``real3d.nn.guided.guided_upsample``
    fits the filter on that grid against ``guide_low``, (1, 3, h/2, w/2) RGB on that grid
    (``predict`` passes its network input averaged over 2 x 2 pixels), and applies it at the
    frame's size."""
    t = torch.as_tensor(logits).float()
    if t.ndim != 4 or t.shape[0] != 1:
        raise InputError(f"guided_probs: expected (1, K, h, w) logits, got {tuple(t.shape)}")
    low_hw = (max(1, t.shape[2] // 2), max(1, t.shape[3] // 2))
    p = _area(t, low_hw).softmax(1)
    if flipped_logits is not None:
        f = torch.as_tensor(flipped_logits).float()
        if f.shape != t.shape:
            raise InputError(f"guided_probs: flipped_logits {tuple(f.shape)} differ from logits {tuple(t.shape)}")
        p = p.add_(_area(f, low_hw).softmax(1).flip(-1)).mul_(0.5)
    return guided_upsample(p, guide_low, guide, radius, eps)[0]


def _area(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area resize; when the size is exactly half, the mean of the four strided quarters
    (cheaper on CPU than ``avg_pool2d``)."""
    if x.shape[-2] == 2 * size[0] and x.shape[-1] == 2 * size[1]:
        return (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]).mul_(0.25)
    return F.interpolate(x, size=size, mode="area")


def _probs_buffer(logits, out_hw: tuple[int, int]) -> torch.Tensor:
    """(K + 1, H, W) float32 for a result's probabilities, channel 0 (void) zero; the class
    channels are written in place, so no copy adds the void channel afterwards."""
    if getattr(logits, "ndim", 0) != 4:
        raise InputError(f"logits_to_result: expected (1, K, h, w), got {tuple(getattr(logits, 'shape', ()))}")
    buf = torch.empty((int(logits.shape[1]) + 1, *out_hw), dtype=torch.float32)
    buf[0].zero_()
    return buf


def _mean_probs(logits, out_hw: tuple[int, int], flipped_logits=None, out: torch.Tensor | None = None) -> torch.Tensor:
    """(K, H, W) class probabilities at out_hw (in ``out`` when given), averaged with those
    of the mirrored frame's logits when given."""
    p = _probs_at(logits, out_hw, out)
    if flipped_logits is not None:
        q = _probs_at(flipped_logits, out_hw)
        if q.shape != p.shape:
            raise InputError(f"logits_to_result: flipped_logits {tuple(q.shape)} differ from logits {tuple(p.shape)}")
        p.add_(q.flip(-1)).mul_(0.5)
    return p


def _result(buf: torch.Tensor, head: str) -> SegmentationResult:
    """(K + 1, H, W) probabilities, void channel 0 zero -> SegmentationResult.

    The labels come from ``max(dim=0).indices`` (the first maximum, as ``argmax``): torch's
    ``argmax`` over the leading dimension of a (K, H, W) tensor is many times slower on CPU
    (docs/segmentation.md)."""
    labels = (buf[1:].max(dim=0).indices + 1).to(torch.uint8).numpy()
    return SegmentationResult(labels=labels, probs=buf.numpy(), head=head)


def _probs_at(logits, out_hw: tuple[int, int], out: torch.Tensor | None = None) -> torch.Tensor:
    """(1, K, h, w) logits -> (K, H, W) softmax probabilities at out_hw (bilinear logits),
    in ``out`` when given. The softmax over the leading dimension is written out (max,
    subtract, exp, divide in place), which on CPU costs about half of ``torch.softmax`` and a
    copy that adds the void channel."""
    t = torch.as_tensor(logits).float()
    if t.ndim != 4 or t.shape[0] != 1:
        raise InputError(f"logits_to_result: expected (1, K, h, w), got {tuple(t.shape)}")
    if tuple(t.shape[2:]) != tuple(out_hw):
        t = F.interpolate(t, size=out_hw, mode="bilinear", align_corners=False)
    t = t[0]
    e = torch.empty_like(t) if out is None else out
    torch.sub(t, t.amax(dim=0), out=e)
    e.exp_()
    return e.div_(e.sum(dim=0))
