"""Metric depth from a colour image: ``DepthNet``, its presets, weights and the floor prior.

The RGB-only path of the pipeline uses it to give frames without (usable) depth a depth
image, so they still fuse into the map (with a lower weight and a wider truncation).

Network: the residual encoder of the RGB segmentation networks (``real3d.nn.blocks``) and
the progressive decoder (``real3d.nn.decoder``) with two output channels at stride 2:
log-depth (metres) and a confidence logit (the network's own estimate that its depth at
that pixel is within 25 % of the truth). ``forward`` takes (B, 3, H, W) RGB in [0, 1]
(normalised inside) and returns (B, 2, H, W) at the input size; ``predict`` takes a
``Frame`` (or an (H, W, 3) uint8 image) of any size and returns a ``DepthPrediction``:
depth (H, W) float32 metres, 0 where the network declines (confidence below
``min_confidence``, or depth outside [``min_depth_m``, ``max_depth_m``]).

Scale. A single image fixes metric scale only through learnt priors (object sizes, the
training cameras' field of view). Two corrections are applied in ``predict``:

* focal: the network learnt depth for the training cameras' mean focal length
  (``DepthNetConfig.train_hfov_deg``); a frame whose intrinsics give another focal length
  at the network's input size gets its depth scaled by the ratio (a narrower lens sees
  things larger, so they would be read as nearer);
* floor (optional, ``camera_height_m``): on a robot the camera's height above the floor is
  known. The pixels whose predicted surface normal points up (within 15 degrees of the
  gravity direction given by ``world_T_cam``, z up) and lie below the camera are the
  floor; the median of their heights below the camera, h_pred, against the known height
  gives the factor ``camera_height_m / h_pred`` (used when at least
  ``floor_min_fraction`` of the valid pixels are floor and the factor lies in
  [0.5, 2]; otherwise the depth is left as predicted and ``DepthPrediction.scale_source``
  says why).

Weights are saved as safetensors (float16 to halve the file; loaded as float32) with a
JSON card holding ``depth_config`` (``DepthNetConfig``) and ``sha256``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.camera import Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError, describe_array
from real3d.core.frame import Frame
from real3d.nn.blocks import EncoderConfig, make_encoder
from real3d.nn.decoder import DecoderConfig, ProgressiveDecoder

_RGB_MEAN = (0.485, 0.456, 0.406)
_RGB_STD = (0.229, 0.224, 0.225)
#: the network's sides are multiples of this (its coarsest stride)
DEPTH_STRIDE = 32
#: the shipped depth weights (``src/real3d/weights/depth-rgb-default.safetensors``)
SHIPPED_DEPTH = ("depth-rgb-default",)


@dataclass(frozen=True)
class DepthNetConfig:
    """Everything needed to build a ``DepthNet``.

    Attributes:
        name: preset name.
        encoder: RGB encoder (``in_channels`` 3).
        decoder: progressive decoder widths.
        infer_hw: (H, W) the network runs at in ``predict`` (multiples of 32); frames are
            resized to it and the depth back to the frame's size.
        min_depth_m, max_depth_m: predicted depth is clamped to this range; pixels at
            either end are declined (0).
        min_confidence: ``predict`` declines pixels whose confidence is below this (0 keeps
            every pixel in range).
        train_hfov_deg: mean horizontal field of view of the training cameras (degrees):
            ``predict`` scales depth by the frame's focal length over the one this gives.
    """

    name: str
    encoder: EncoderConfig
    decoder: DecoderConfig = DecoderConfig(64, 32)
    infer_hw: tuple[int, int] = (128, 160)
    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    min_confidence: float = 0.5
    train_hfov_deg: float = 63.5

    def __post_init__(self) -> None:
        if isinstance(self.infer_hw, list):
            object.__setattr__(self, "infer_hw", tuple(self.infer_hw))
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"DepthNetConfig.name: expected a non-empty string, got {self.name!r}")
        if self.encoder.in_channels != 3:
            raise ConfigError(f"DepthNetConfig.encoder: expected in_channels 3 (RGB), got {self.encoder.in_channels}")
        hw = self.infer_hw
        if not (len(hw) == 2 and all(isinstance(v, int) and v >= DEPTH_STRIDE and v % DEPTH_STRIDE == 0 for v in hw)):
            raise ConfigError(f"DepthNetConfig.infer_hw: expected two multiples of {DEPTH_STRIDE}, got {hw!r}")
        if not 0 < self.min_depth_m < self.max_depth_m:
            raise ConfigError(
                f"DepthNetConfig: expected 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}"
            )
        if not 0 <= self.min_confidence < 1:
            raise ConfigError(f"DepthNetConfig.min_confidence: expected [0, 1), got {self.min_confidence}")
        if not 10 <= self.train_hfov_deg <= 170:
            raise ConfigError(f"DepthNetConfig.train_hfov_deg: expected 10-170 degrees, got {self.train_hfov_deg}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DepthNetConfig:
        """The config a card's ``depth_config`` holds; ConfigError for a malformed one."""
        if not isinstance(d, dict):
            raise ConfigError(f"DepthNetConfig: expected a dict, got {type(d).__name__}")
        try:
            enc = dict(d["encoder"])
            enc["widths"], enc["depths"] = tuple(enc["widths"]), tuple(enc["depths"])
            rest = {k: v for k, v in d.items() if k not in ("encoder", "decoder")}
            return cls(encoder=EncoderConfig(**enc), decoder=DecoderConfig(**d["decoder"]), **rest)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"DepthNetConfig: malformed config ({type(e).__name__}: {e})") from None


#: preset configs (random weights); ``depth-small`` shares the encoder and pyramid widths of
#: ``rgb-small`` so it can start from the shipped RGB segmentation weights
DEPTH_PRESETS: dict[str, DepthNetConfig] = {
    "depth-tiny": DepthNetConfig(
        "depth-tiny", EncoderConfig(3, (16, 24, 48, 96, 128), (1, 1, 1, 1)), DecoderConfig(48, 24)
    ),
    "depth-small": DepthNetConfig("depth-small", EncoderConfig(3, (16, 32, 64, 128, 192), (1, 1, 2, 1))),
}


@dataclass(frozen=True)
class DepthPrediction:
    """Predicted depth of one frame.

    Attributes:
        depth_m: (H, W) float32 metres (frame size), 0 where declined.
        confidence: (H, W) float32 in [0, 1], the network's confidence per pixel.
        scale: factor applied on top of the network's depth (focal x floor).
        scale_source: how the scale was set: ``"focal"`` (focal correction only) or
            ``"floor"`` (also the known camera height), with the reason the floor prior
            was not used after a colon (``"focal: no floor seen"``).
    """

    depth_m: np.ndarray
    confidence: np.ndarray
    scale: float
    scale_source: str

    @property
    def valid_fraction(self) -> float:
        return float(np.count_nonzero(self.depth_m)) / max(1, self.depth_m.size)


class DepthNet(nn.Module):
    """Metric depth network (see the module docstring).

    Attributes:
        config: its ``DepthNetConfig``.
        card: the model card it was loaded with (None for a fresh network).
        exportable: ``forward`` exports to ONNX (a chain of convolutions, resizes, concats).
    """

    exportable = True

    def __init__(self, config: DepthNetConfig):
        super().__init__()
        self.config = config
        self.card: dict | None = None
        self.encoder = make_encoder(config.encoder)
        self.decoder = ProgressiveDecoder(config.encoder.widths, 2, config.decoder)
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_RGB_STD).view(1, 3, 1, 1), persistent=False)
        # start near 2 m and neutral confidence: log-depth output of 0.7 at init
        with torch.no_grad():
            for head in (self.decoder.coarse_head, self.decoder.refine_head):
                head.bias.zero_()
            self.decoder.coarse_head.bias[0] = math.log(2.0)

    @property
    def name(self) -> str:
        named = (self.card or {}).get("name")
        return named if isinstance(named, str) and named else self.config.name

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.config.infer_hw

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float RGB in [0, 1], H and W multiples of 32 -> (B, 2, H, W):
        channel 0 log-depth (natural log of metres, before the focal correction), channel
        1 the confidence logit."""
        x = (rgb - self.mean) / self.std
        feats = self.encoder(x)
        coarse, dec = self.decoder.coarse(feats)
        out = self.decoder.refine(feats, coarse, dec)
        return F.interpolate(out, size=rgb.shape[-2:], mode="bilinear", align_corners=False)

    def predict(
        self,
        frame: Frame | np.ndarray,
        *,
        intrinsics: Intrinsics | None = None,
        camera_height_m: float | None = None,
        world_T_cam: np.ndarray | None = None,
        floor_min_fraction: float = 0.05,
    ) -> DepthPrediction:
        """Depth of one frame of any size (see the module docstring).

        Args:
            frame: a ``Frame`` (its rgb, intrinsics and pose are used) or an (H, W, 3)
                uint8 image.
            intrinsics: the camera of an image (a Frame brings its own); None: no focal
                correction and no floor prior.
            camera_height_m: the camera's known height above the floor (metres) for the
                floor prior; None: no floor prior.
            world_T_cam: (4, 4) pose whose world z axis points up (the frame's own when
                None); only its rotation is used, for the floor prior.
            floor_min_fraction: least share of the valid pixels that must be floor for the
                floor prior to be used.

        Returns:
            ``DepthPrediction`` at the frame's size.

        Raises:
            InputError: not a Frame or an (H, W, 3) uint8 image, an image smaller than
                8 x 8, intrinsics of another size, or a camera height that is not a
                positive finite number.
        """
        rgb, K, pose = _inputs(frame, intrinsics, world_T_cam)
        if camera_height_m is not None and not (
            isinstance(camera_height_m, (int, float)) and math.isfinite(camera_height_m) and camera_height_m > 0
        ):
            raise InputError(f"DepthNet.predict: camera_height_m: expected a positive number, got {camera_height_m!r}")
        h, w = rgb.shape[:2]
        nh, nw = self.config.infer_hw
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255.0)
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        was_training = self.training
        if was_training:
            self.eval()
        try:
            with torch.inference_mode():
                out = self(x)
        finally:
            if was_training:
                self.train()
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
        if not np.isfinite(out).all():
            raise FormatError(f"DepthNet.predict: {self.name} gave non-finite output; its weights are corrupt")
        cfg = self.config
        depth = np.exp(out[0]).astype(np.float32)
        conf = (1.0 / (1.0 + np.exp(-out[1]))).astype(np.float32)
        scale, source = 1.0, "none"
        if K is not None:
            scale, source = focal_scale(K, cfg.train_hfov_deg), "focal"
        depth *= np.float32(scale)
        if camera_height_m is not None and K is not None and pose is not None:
            s, why = floor_scale(depth, K, pose, camera_height_m, conf >= cfg.min_confidence, floor_min_fraction)
            if s is not None:
                depth *= np.float32(s)
                scale *= s
                source = "floor"
            else:
                source = f"{source}: {why}"
        keep = (conf >= cfg.min_confidence) & (depth > cfg.min_depth_m) & (depth < cfg.max_depth_m)
        depth = np.where(keep, depth, np.float32(0.0)).astype(np.float32)
        return DepthPrediction(depth, conf, float(scale), source)


def _inputs(frame, intrinsics, world_T_cam) -> tuple[np.ndarray, Intrinsics | None, np.ndarray | None]:
    if isinstance(frame, Frame):
        rgb, K, pose = frame.rgb, intrinsics or frame.intrinsics, frame.world_T_cam
    elif isinstance(frame, np.ndarray):
        rgb, K, pose = frame, intrinsics, None
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(
                f"DepthNet.predict: expected a Frame or an (H, W, 3) uint8 image, got {describe_array(rgb)}"
            )
    else:
        raise InputError(f"DepthNet.predict: expected a Frame or an (H, W, 3) uint8 image, got {type(frame).__name__}")
    if rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise InputError(f"DepthNet.predict: expected an image of at least 8 x 8 pixels, got {describe_array(rgb)}")
    if K is not None and (K.height, K.width) != rgb.shape[:2]:
        raise InputError(
            f"DepthNet.predict: intrinsics are for {K.height}x{K.width}, the image is {rgb.shape[0]}x{rgb.shape[1]}"
        )
    if world_T_cam is not None:
        pose = np.asarray(world_T_cam, np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise InputError(
                f"DepthNet.predict: world_T_cam: expected a finite (4, 4) pose, got {describe_array(pose)}"
            )
    return np.ascontiguousarray(rgb), K, pose


def focal_scale(intrinsics: Intrinsics, train_hfov_deg: float) -> float:
    """Factor that brings depth learnt for cameras of ``train_hfov_deg`` horizontal field of
    view to a camera with ``intrinsics``: its horizontal focal length over the training one,
    both relative to the image width (a narrower view shows things larger, as if nearer)."""
    f_train = 0.5 / math.tan(0.5 * math.radians(train_hfov_deg))
    return float(intrinsics.fx / intrinsics.width / f_train)


def floor_scale(
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    world_T_cam: np.ndarray,
    camera_height_m: float,
    trusted: np.ndarray | None = None,
    min_fraction: float = 0.05,
    max_angle_deg: float = 15.0,
) -> tuple[float | None, str]:
    """The factor that makes predicted depth agree with a known camera height.

    Args:
        depth_m: (H, W) float32 predicted depth, metres, 0 = none.
        intrinsics: its camera.
        world_T_cam: (4, 4) pose with world z up (only the rotation is used).
        camera_height_m: the camera's height above the floor, metres.
        trusted: (H, W) bool pixels that may count as floor (None: every valid one).
        min_fraction: least share of the valid pixels that must be floor.
        max_angle_deg: a pixel is floor when its normal is within this of straight up.

    Returns:
        (factor, "") or (None, why the floor prior does not apply here).
    """
    from real3d.geometry.projection import unproject_depth

    pts = unproject_depth(depth_m, intrinsics)  # (H, W, 3) camera frame
    up = np.asarray(world_T_cam, np.float64)[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # world up in the camera frame
    # normals from the neighbours' differences; scale does not change their direction
    dx = pts[1:-1, 2:] - pts[1:-1, :-2]
    dy = pts[2:, 1:-1] - pts[:-2, 1:-1]
    n = np.cross(dx, dy)
    norm = np.linalg.norm(n, axis=-1)
    inner = depth_m[1:-1, 1:-1]
    ok = (inner > 0) & (depth_m[1:-1, 2:] > 0) & (depth_m[1:-1, :-2] > 0) & (depth_m[2:, 1:-1] > 0)
    ok &= depth_m[:-2, 1:-1] > 0
    if trusted is not None:
        ok &= trusted[1:-1, 1:-1]
    n_valid = int(np.count_nonzero(ok))
    if n_valid == 0:
        return None, "no valid depth"
    cos = np.abs(n @ up) / np.maximum(norm, 1e-12)
    height = pts[1:-1, 1:-1] @ up  # metres above the camera (negative below)
    floor = ok & (cos >= math.cos(math.radians(max_angle_deg))) & (height < 0)
    if np.count_nonzero(floor) < min_fraction * n_valid:
        return None, "no floor seen"
    # the floor is the lowest level surface: furniture tops face up too
    below = -height[floor]
    h_pred = float(np.median(below[below >= np.quantile(below, 0.5)]))
    if not h_pred > 0:
        return None, "no floor seen"
    s = camera_height_m / h_pred
    if not 0.5 <= s <= 2.0:
        return None, f"floor factor {s:.2f} outside [0.5, 2]"
    return float(s), ""


# ---------------------------------------------------------------------------- weights
def build_depth_net(config: DepthNetConfig | str) -> DepthNet:
    """A freshly initialised network (training mode) for a config or a preset name."""
    if isinstance(config, str):
        try:
            config = DEPTH_PRESETS[config]
        except KeyError:
            raise ConfigError(f"unknown depth preset {config!r}; valid: {', '.join(DEPTH_PRESETS)}") from None
    if not isinstance(config, DepthNetConfig):
        raise ConfigError(f"build_depth_net: expected a DepthNetConfig or a preset name, got {type(config).__name__}")
    return DepthNet(config)


def save_depth_weights(net: DepthNet, path: str | Path, card: dict | None = None) -> Path:
    """Write ``path`` (.safetensors, float16 tensors) and its card (.json: ``card`` plus
    ``depth_config``, ``sha256``, ``params``, ``size_bytes``). Returns the weights path."""
    from safetensors.torch import save

    from real3d.core.files import atomic_write_files
    from real3d.models.cards import DIGEST_KEY, bytes_sha256

    path = Path(path).with_suffix(".safetensors")
    state = {
        k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in net.state_dict().items()
    }
    data = save(state, metadata={"preset": net.config.name})
    meta = dict(card or {})
    meta["kind"] = "depth"
    meta["depth_config"] = net.config.to_dict()
    meta[DIGEST_KEY] = bytes_sha256(data)
    meta["params"] = int(sum(p.numel() for p in net.parameters()))
    meta["size_bytes"] = len(data)
    atomic_write_files({path: data, path.with_suffix(".json"): json.dumps(meta, indent=2) + "\n"})
    return path


def load_depth_model(spec: str | Path | DepthNetConfig | DepthNet) -> DepthNet:
    """A depth network in eval mode from a shipped name (``SHIPPED_DEPTH``), a preset name
    (``DEPTH_PRESETS``: random weights, for tests), a weights path (.safetensors with its
    card), a config or a network (used as is).

    Raises:
        ConfigError: a string that is neither a name nor an existing path (the message lists
            the names).
        FormatError: weights that are missing, corrupt (sha256), or do not fit their card.
    """
    from real3d.models.cards import parse_card
    from real3d.models.pretrained import WEIGHTS_DIR, load_card_weights

    if isinstance(spec, DepthNet):
        return spec.eval()
    if isinstance(spec, DepthNetConfig):
        return DepthNet(spec).eval()
    if not isinstance(spec, (str, Path)):
        raise ConfigError(f"load_depth_model: expected a name, path or DepthNetConfig, got {type(spec).__name__}")
    if isinstance(spec, str) and spec in DEPTH_PRESETS:
        return build_depth_net(spec).eval()
    if isinstance(spec, str) and spec in SHIPPED_DEPTH:
        path = WEIGHTS_DIR / f"{spec}.safetensors"
        if not path.is_file():
            raise ConfigError(f"load_depth_model: the shipped depth weights {path} are not installed")
    else:
        path = Path(spec)
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        if not path.is_file():
            names = ", ".join((*SHIPPED_DEPTH, *DEPTH_PRESETS))
            raise ConfigError(f"load_depth_model: {str(spec)!r} is neither a depth model name ({names}) nor a file")
    card_file = path.with_suffix(".json")
    if not card_file.is_file():
        raise FormatError(f"load_depth_model: expected the card {card_file} beside {path}; missing")
    card = parse_card(card_file.read_bytes(), card_file)
    try:
        config = DepthNetConfig.from_dict(card.get("depth_config"))
    except ConfigError as e:
        raise FormatError(f"load_depth_model: {card_file} has no valid 'depth_config': {e}") from None
    net = DepthNet(config)
    holder = _Float16Loader(net)
    load_card_weights(holder, path, card, "load_depth_model")
    net.card = card
    return net.eval()


class _Float16Loader(nn.Module):
    """Loads a float16 state dict into a float32 network (``load_card_weights`` calls
    ``load_state_dict`` on whatever it gets)."""

    def __init__(self, net: DepthNet):
        super().__init__()
        self.net = net

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):  # noqa: D102
        own = self.net.state_dict()
        cast = {k: (v.to(own[k].dtype) if k in own and v.is_floating_point() else v) for k, v in state.items()}
        return self.net.load_state_dict(cast, strict=strict)
