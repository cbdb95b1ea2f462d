"""A per-frame sensor health check: is this frame's depth usable, is the colour image exposed,
sharp and quiet enough to trust?

``check_health(frame, config)`` measures, in a few milliseconds at 240x320 and with numpy only:

- depth: the share of valid pixels (depth > 0), the share of the image inside holes (8x8
  pixel blocks without any valid depth), and the share of valid depth outside a plausible
  range for an indoor RGB-D camera;
- exposure: the mean luma and the shares of under-exposed (nearly black) and over-exposed
  (nearly white) pixels;
- blur: the mean squared Laplacian of the luma over its mean squared gradient (a sharpness
  ratio with the unit 1/pixel^2 that a gain, offset or contrast change does not move and
  that blur lowers: the second derivative falls faster than the first), on the luma
  box-shrunk so that its short side is about 240 pixels (so that the ratio does not depend
  on the resolution);
- noise: Immerkaer's estimate of the standard deviation of white noise in the luma
  (J. Immerkaer, "Fast noise variance estimation", CVIU 1996), in luma units [0, 1].

Each measure is compared with the thresholds of a ``HealthConfig``; the result, a
``FrameHealth``, carries the measures, a flag per kind of fault and a one-line reason.
``depth_ok`` says whether the depth may be fused (a frame whose depth is not can go to an
RGB-only model). docs/robustness.md gives the thresholds' rationale and measured figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from real3d.core.errors import InputError
from real3d.core.frame import Frame
from real3d.core.values import real_number

#: side of the square blocks in which a hole is a block without any valid depth (pixels)
HOLE_BLOCK_PX = 8
#: the blur and noise measures are taken at about this short side (pixels)
ANALYSIS_SHORT_SIDE_PX = 240


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of the health check. A measure beyond its threshold flags the frame.

    Attributes:
        min_valid_depth: least share of pixels with valid depth (0..1).
        max_hole_share: largest share of the image covered by holes, 8x8 pixel blocks
            without any valid depth (0..1).
        depth_range_m: (near, far) metres of plausible indoor depth.
        max_implausible_depth: largest share of the valid depth outside ``depth_range_m``.
        dark_luma / bright_luma: luma (0..1) below / above which a pixel is under- /
            over-exposed.
        max_underexposed / max_overexposed: largest share of under- / over-exposed pixels.
        mean_luma_range: (low, high) plausible mean luma (0..1).
        min_sharpness: least ratio of mean squared Laplacian to mean squared gradient of the
            luma (1/pixel^2; lower = blurrier).
        min_luma_std: below this luma standard deviation the image has too little structure
            to judge blur (a blank wall) and blur is not flagged.
        max_noise_sigma: largest estimated white-noise standard deviation (luma, 0..1).
    """

    min_valid_depth: float = 0.2
    max_hole_share: float = 0.7
    depth_range_m: tuple[float, float] = (0.1, 12.0)
    max_implausible_depth: float = 0.2
    dark_luma: float = 0.04
    bright_luma: float = 0.97
    max_underexposed: float = 0.4
    max_overexposed: float = 0.35
    mean_luma_range: tuple[float, float] = (0.05, 0.92)
    min_sharpness: float = 1.4
    min_luma_std: float = 0.02
    max_noise_sigma: float = 0.04

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("depth_range_m", "mean_luma_range"):
                if not isinstance(v, (tuple, list)) or len(v) != 2:
                    raise InputError(f"HealthConfig.{f.name}: expected a (low, high) pair, got {v!r}")
                lo = real_number(v[0], f"HealthConfig.{f.name}[0]")
                hi = real_number(v[1], f"HealthConfig.{f.name}[1]")
                if not 0.0 <= lo < hi or (f.name == "mean_luma_range" and hi > 1.0):
                    raise InputError(
                        f"HealthConfig.{f.name}: expected 0 <= low < high"
                        f"{' <= 1' if f.name == 'mean_luma_range' else ''}, got {v!r}"
                    )
                object.__setattr__(self, f.name, (lo, hi))
                continue
            x = real_number(v, f"HealthConfig.{f.name}")
            if f.name == "min_sharpness":
                if x < 0.0:
                    raise InputError(f"HealthConfig.min_sharpness: expected a value >= 0, got {x}")
            elif not 0.0 <= x <= 1.0:
                raise InputError(f"HealthConfig.{f.name}: expected a value in [0, 1], got {x}")
            object.__setattr__(self, f.name, x)
        if self.dark_luma >= self.bright_luma:
            raise InputError(
                f"HealthConfig: expected dark_luma < bright_luma, got {self.dark_luma} >= {self.bright_luma}"
            )


@dataclass(frozen=True)
class FrameHealth:
    """The health of one frame.

    Attributes:
        index: the frame's index.
        has_depth: the frame came with a depth image.
        valid_depth: share of pixels with depth > 0 (0 without depth).
        hole_share: share of the image in 8x8 blocks without valid depth (1 without depth).
        implausible_depth: share of the valid depth outside ``depth_range_m``.
        mean_luma: mean Rec. 601 luma, 0..1.
        underexposed / overexposed: shares of nearly black / nearly white pixels.
        sharpness: mean squared Laplacian over mean squared gradient of the luma (1/pixel^2).
        noise_sigma: estimated white-noise standard deviation of the luma, 0..1.
        depth_flag / exposure_flag / blur_flag / noise_flag: the frame fails that check.
        reason: one line naming every failed check and its measure ("ok" when none failed).
    """

    index: int
    has_depth: bool
    valid_depth: float
    hole_share: float
    implausible_depth: float
    mean_luma: float
    underexposed: float
    overexposed: float
    sharpness: float
    noise_sigma: float
    depth_flag: bool
    exposure_flag: bool
    blur_flag: bool
    noise_flag: bool
    reason: str

    @property
    def flagged(self) -> bool:
        """Any check failed."""
        return self.depth_flag or self.exposure_flag or self.blur_flag or self.noise_flag

    @property
    def depth_ok(self) -> bool:
        """The frame has depth and it passed the depth check (it may be fused)."""
        return self.has_depth and not self.depth_flag

    @property
    def faults(self) -> tuple[str, ...]:
        """Names of the failed checks: among ``depth``, ``exposure``, ``blur``, ``noise``."""
        flags = (self.depth_flag, self.exposure_flag, self.blur_flag, self.noise_flag)
        return tuple(n for n, f in zip(("depth", "exposure", "blur", "noise"), flags, strict=True) if f)

    def to_dict(self) -> dict:
        """JSON-ready dict of every field plus ``flagged``."""
        d = asdict(self)
        d["flagged"] = self.flagged
        return d


#: Rec. 601 luma weights of uint8 R, G, B, giving luma in [0, 1]
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32) / np.float32(255.0)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 Rec. 601 luma in [0, 1] of a uint8 colour image."""
    return rgb @ _LUMA_WEIGHTS


def _shrink(a: np.ndarray, factor: int) -> np.ndarray:
    """Box-average (H, W) ``a`` over factor x factor blocks (the ragged edge dropped)."""
    if factor <= 1:
        return a
    h, w = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    # strided slices summed: several times faster than reshape(...).mean(axis=(1, 3))
    out = np.zeros((h // factor, w // factor), np.float32)
    for dy in range(factor):
        for dx in range(factor):
            out += a[dy:h:factor, dx:w:factor]
    return out / np.float32(factor * factor)


def sharpness_ratio(luma: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of (H, W) ``luma`` over its mean squared forward-
    difference gradient, in 1/pixel^2 (0 for a constant image). Blur lowers it; a gain or an
    offset of the image does not move it (white noise raises it towards 5)."""
    c = luma[1:-1, 1:-1]
    lap = luma[1:-1, :-2] + luma[1:-1, 2:] + luma[:-2, 1:-1] + luma[2:, 1:-1] - 4.0 * c
    gx = luma[1:-1, 2:] - c
    gy = luma[2:, 1:-1] - c
    g2 = float(np.mean(gx * gx + gy * gy))
    return float(np.mean(lap * lap)) / g2 if g2 > 0 else 0.0


def noise_sigma(luma: np.ndarray) -> float:
    """Immerkaer's white-noise standard deviation of (H, W) ``luma`` (same units): the mean
    absolute response to the difference of two Laplacians, which cancels smooth structure."""
    h, w = luma.shape
    if h < 3 or w < 3:
        return 0.0
    c = luma
    resp = (
        c[:-2, :-2]
        + c[:-2, 2:]
        + c[2:, :-2]
        + c[2:, 2:]
        - 2.0 * (c[:-2, 1:-1] + c[2:, 1:-1] + c[1:-1, :-2] + c[1:-1, 2:])
        + 4.0 * c[1:-1, 1:-1]
    )
    return float(np.sqrt(np.pi / 2.0) * np.abs(resp).mean() / 6.0)


def check_health(frame: Frame, config: HealthConfig | None = None) -> FrameHealth:
    """Measure the sensor health of ``frame`` and flag what fails ``config``'s thresholds.

    Args:
        frame: a ``real3d.core.Frame``; ``rgb`` (H, W, 3) uint8, ``depth_m`` (H, W) float32
            metres with 0 = invalid, or None (the depth check then fails: no depth).
        config: thresholds (``HealthConfig()`` when None).

    Returns:
        A ``FrameHealth`` with the measures, the flags and a one-line reason.

    Raises:
        InputError: ``frame`` is not a Frame or ``config`` not a HealthConfig.
    """
    if not isinstance(frame, Frame):
        raise InputError(f"check_health: expected a real3d Frame, got {type(frame).__name__}")
    cfg = HealthConfig() if config is None else config
    if not isinstance(cfg, HealthConfig):
        raise InputError(f"check_health: expected a HealthConfig, got {type(cfg).__name__}")
    reasons: list[str] = []

    depth = frame.depth_m
    if depth is None:
        valid_share, hole_share, implausible = 0.0, 1.0, 0.0
        reasons.append("no depth")
    else:
        valid = depth > 0
        n_valid = int(np.count_nonzero(valid))
        valid_share = n_valid / valid.size
        b = HOLE_BLOCK_PX
        h, w = (depth.shape[0] // b) * b, (depth.shape[1] // b) * b
        if h and w:
            blocks = valid[:h, :w].reshape(h // b, b, w // b, b).any(axis=(1, 3))
            hole_share = 1.0 - float(blocks.mean())
        else:  # smaller than one block: a hole is no valid pixel at all
            hole_share = 0.0 if n_valid else 1.0
        if n_valid:
            z = depth[valid]
            near, far = cfg.depth_range_m
            implausible = float(np.count_nonzero((z < near) | (z > far))) / n_valid
        else:
            implausible = 0.0
        if valid_share < cfg.min_valid_depth:
            reasons.append(f"valid depth {100 * valid_share:.0f} % < {100 * cfg.min_valid_depth:.0f} %")
        if hole_share > cfg.max_hole_share:
            reasons.append(f"depth holes {100 * hole_share:.0f} % > {100 * cfg.max_hole_share:.0f} %")
        if implausible > cfg.max_implausible_depth:
            reasons.append(
                f"depth outside {cfg.depth_range_m[0]:g}-{cfg.depth_range_m[1]:g} m "
                f"{100 * implausible:.0f} % > {100 * cfg.max_implausible_depth:.0f} %"
            )
    depth_flag = bool(reasons)

    luma = _luma(frame.rgb)
    n_exposure = len(reasons)
    mean_luma = float(luma.mean())
    under = float(np.count_nonzero(luma < cfg.dark_luma)) / luma.size
    over = float(np.count_nonzero(luma > cfg.bright_luma)) / luma.size
    if under > cfg.max_underexposed:
        reasons.append(f"under-exposed {100 * under:.0f} % > {100 * cfg.max_underexposed:.0f} %")
    if over > cfg.max_overexposed:
        reasons.append(f"over-exposed {100 * over:.0f} % > {100 * cfg.max_overexposed:.0f} %")
    lo, hi = cfg.mean_luma_range
    if not lo <= mean_luma <= hi:
        reasons.append(f"mean brightness {mean_luma:.2f} outside {lo:g}-{hi:g}")
    exposure_flag = len(reasons) > n_exposure

    small = _shrink(luma, max(1, int(round(min(luma.shape) / ANALYSIS_SHORT_SIDE_PX))))
    sharp = sharpness_ratio(small)
    blur_flag = bool(float(small.std()) >= cfg.min_luma_std and sharp < cfg.min_sharpness)
    if blur_flag:
        reasons.append(f"blur: sharpness {sharp:.3f} < {cfg.min_sharpness:g}")
    sigma = noise_sigma(small)
    noise_flag = sigma > cfg.max_noise_sigma
    if noise_flag:
        reasons.append(f"noise sigma {sigma:.3f} > {cfg.max_noise_sigma:g}")

    return FrameHealth(
        index=int(frame.index),
        has_depth=depth is not None,
        valid_depth=valid_share,
        hole_share=hole_share,
        implausible_depth=implausible,
        mean_luma=mean_luma,
        underexposed=under,
        overexposed=over,
        sharpness=sharp,
        noise_sigma=sigma,
        depth_flag=depth_flag,
        exposure_flag=exposure_flag,
        blur_flag=blur_flag,
        noise_flag=noise_flag,
        reason="; ".join(reasons) if reasons else "ok",
    )
