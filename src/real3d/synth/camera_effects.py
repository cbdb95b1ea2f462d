"""Camera model for synthetic colour images: linear radiance in, an 8-bit JPEG-like image out.

Segmentation networks trained on renders must work on real photographs (NYUv2's Kinect
colour camera, phones, webcams), so the image formation is randomised per frame rather
than modelled after one camera (domain randomisation):

1. auto-exposure: a random luminance percentile is mapped to a random key value;
2. optics: vignetting, defocus blur, occasional motion blur (in linear light, as in a lens);
3. white balance error: the scene illuminant is not fully corrected (warm or cool cast);
4. sensor noise: signal-dependent shot noise plus read noise;
5. tone: saturation, gamma, highlight shoulder, S-shaped contrast, sRGB encoding, 8 bits;
6. JPEG compression at a random quality.

Speed matters (the data engine renders training data on the fly): steps 4-5 run in a
variance-stabilised domain (the generalised Anscombe transform ``t = sqrt(y + c)``), where
shot + read noise has a constant standard deviation, so the noise needs no per-pixel sigma,
and the whole tone curve becomes one 4096-entry lookup table indexed by ``t``. The
per-pixel passes (colour matrix and vignetting, defocus blur, noise and tone curve) are
compiled numba kernels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np
from numba import njit
from PIL import Image
from scipy.special import ndtri

from real3d.core.errors import ConfigError, InputError, describe_array

__all__ = [
    "GAUSS_FROM_BYTE",
    "CameraEffectsConfig",
    "apply_camera_effects",
    "fast_standard_normal",
    "linear_to_srgb",
    "standard_normal_bytes",
]

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
_LUT_SIZE = 4096
# Inverse normal CDF at 256 equally likely levels, see fast_standard_normal.
GAUSS_FROM_BYTE = ndtri((np.arange(256) + 0.5) / 256).astype(np.float32)
GAUSS_FROM_BYTE /= GAUSS_FROM_BYTE.std()
GAUSS_FROM_BYTE.setflags(write=False)
_NO_BYTES = np.zeros(1, dtype=np.uint8)  # the noise argument of a noise-free frame


def standard_normal_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random bytes (uint8) from ``rng``; ``GAUSS_FROM_BYTE[b]`` turns each into an
    approximately standard normal sample (see :func:`fast_standard_normal`). Compiled
    kernels take the bytes and look the samples up as they go."""
    return np.frombuffer(rng.bytes(int(n)), dtype=np.uint8)


def fast_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Approximately standard normal float32 samples of ``shape``, drawn from ``rng``.

    One random byte per sample picks one of 256 equiprobable normal quantiles (unit variance,
    tails cut at 2.9 sigma): about four times cheaper than ``rng.standard_normal`` for
    image-sized noise, and indistinguishable from it after 8-bit quantisation.
    """
    n = int(np.prod(shape))
    # intp indices: take() converts narrower index types first, which costs more than this.
    idx = standard_normal_bytes(rng, n).astype(np.intp)
    return GAUSS_FROM_BYTE.take(idx).reshape(shape)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear values -> sRGB-encoded values (IEC 61966-2-1), both in [0, 1] after clipping."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


@dataclass(frozen=True)
class CameraEffectsConfig:
    """Ranges the per-frame camera parameters are drawn from (uniformly unless stated).

    A ``p_*`` field is the probability that an effect is applied to a frame at all.

    Attributes:
        auto_exposure: scale the image so the ``exposure_percentile`` of luminance maps to
            ``exposure_key``; False keeps the radiance scale (times ``2**ev``).
        exposure_percentile: luminance percentile range used by auto-exposure.
        exposure_key: linear value the percentile is mapped to (0.18 = mid grey).
        exposure_ev: extra exposure in stops, range (under/over-exposed frames).
        wb_max_gain: largest red/blue gain of the white-balance error (>= 1); gains are
            log-uniform in [1/g, g] along a warm-cool axis plus a smaller green-magenta tint.
        vignetting: range of the relative brightness loss in the image corners.
        blur_sigma_px: Gaussian defocus blur sigma range in pixels.
        motion_blur_px: range of the motion blur streak length in pixels (random direction).
        shot_noise: range of the shot-noise variance per unit linear signal (log-uniform).
        read_noise: range of the read-noise standard deviation in linear units (log-uniform).
        saturation: saturation factor range (1 = unchanged).
        gamma: range of the exponent applied to linear values before sRGB encoding.
        shoulder: range of the highlight-compression blend (0 = hard clip, 1 = Reinhard).
        contrast: range of the S-curve strength in the encoded domain (0 = none, < 1).
        jpeg_quality: PIL JPEG quality range (1-95).
    """

    auto_exposure: bool = True
    exposure_percentile: tuple[float, float] = (40.0, 75.0)
    exposure_key: tuple[float, float] = (0.12, 0.3)
    exposure_ev: tuple[float, float] = (-0.7, 0.7)
    wb_max_gain: float = 1.25
    p_white_balance: float = 0.8
    vignetting: tuple[float, float] = (0.05, 0.45)
    p_vignetting: float = 0.6
    blur_sigma_px: tuple[float, float] = (0.4, 1.2)
    p_blur: float = 0.25
    motion_blur_px: tuple[int, int] = (2, 7)
    p_motion_blur: float = 0.08
    shot_noise: tuple[float, float] = (2e-4, 4e-3)
    read_noise: tuple[float, float] = (5e-4, 6e-3)
    p_noise: float = 0.9
    saturation: tuple[float, float] = (0.6, 1.35)
    p_saturation: float = 0.7
    gamma: tuple[float, float] = (0.8, 1.2)
    shoulder: tuple[float, float] = (0.0, 0.7)
    contrast: tuple[float, float] = (-0.2, 0.5)
    p_tone: float = 0.8
    jpeg_quality: tuple[int, int] = (45, 95)
    p_jpeg: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= v <= 1.0:
                raise ConfigError(f"CameraEffectsConfig.{f.name}: expected a probability in [0, 1], got {v}")
            if isinstance(v, tuple) and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(
                    f"CameraEffectsConfig.{f.name}: expected a (low, high) range with low <= high, got {v}"
                )
        checks = (
            (
                0 <= self.exposure_percentile[0] and self.exposure_percentile[1] <= 100,
                "exposure_percentile within [0, 100]",
            ),
            (self.exposure_key[0] > 0, "exposure_key > 0"),
            (self.wb_max_gain >= 1.0, "wb_max_gain >= 1"),
            (0 <= self.vignetting[0] and self.vignetting[1] < 1, "vignetting within [0, 1)"),
            (self.blur_sigma_px[0] >= 0, "blur_sigma_px >= 0"),
            (self.motion_blur_px[0] >= 1, "motion_blur_px >= 1"),
            (self.shot_noise[0] > 0 and self.read_noise[0] > 0, "shot_noise, read_noise > 0 (log-uniform ranges)"),
            (self.saturation[0] >= 0, "saturation >= 0"),
            (self.gamma[0] > 0, "gamma > 0"),
            (0 <= self.shoulder[0] and self.shoulder[1] <= 1, "shoulder within [0, 1]"),
            (-1 < self.contrast[0] and self.contrast[1] < 1, "contrast within (-1, 1)"),
            (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 95, "jpeg_quality within [1, 95]"),
        )
        for ok, what in checks:
            if not ok:
                raise ConfigError(f"CameraEffectsConfig: expected {what}")

    @classmethod
    def none(cls) -> CameraEffectsConfig:
        """Clean, deterministic tone mapping: median luminance -> mid grey (0.18), sRGB
        encoding, nothing random."""
        return cls(
            exposure_percentile=(50.0, 50.0),
            exposure_key=(0.18, 0.18),
            exposure_ev=(0.0, 0.0),
            p_white_balance=0.0,
            p_vignetting=0.0,
            p_blur=0.0,
            p_motion_blur=0.0,
            p_noise=0.0,
            p_saturation=0.0,
            p_tone=0.0,
            p_jpeg=0.0,
        )


def _check_image(linear_rgb) -> None:
    if (
        not isinstance(linear_rgb, np.ndarray)
        or linear_rgb.dtype != np.float32
        or linear_rgb.ndim != 3
        or linear_rgb.shape[2] != 3
        or linear_rgb.size == 0
    ):
        raise InputError(
            "apply_camera_effects: expected linear_rgb (H, W, 3) float32 with "
            f"H, W >= 1, got {describe_array(linear_rgb)}"
        )
    lo, hi = float(linear_rgb.min()), float(linear_rgb.max())
    # NaN propagates through min/max, so these two reductions also catch it.
    if not (lo >= 0.0 and np.isfinite(hi)):
        raise InputError(f"apply_camera_effects: expected finite radiance >= 0, got values in [{lo}, {hi}]")


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(lo_hi[0]), np.log(lo_hi[1]))))


def _motion_blur(img: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Average of ``length`` copies shifted along a line through the origin (edge padded)."""
    steps = np.arange(length) - (length - 1) / 2.0
    dx = np.rint(steps * np.cos(angle)).astype(int)
    dy = np.rint(steps * np.sin(angle)).astype(int)
    r = int(max(np.abs(dx).max(), np.abs(dy).max()))
    h, w = img.shape[:2]
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    acc = np.zeros_like(img)
    for ox, oy in zip(dx, dy, strict=True):
        acc += pad[r + oy : r + oy + h, r + ox : r + ox + w]
    acc *= 1.0 / length
    return acc


@njit(cache=True, nogil=True)
def _colour_and_vignetting(src, colour, fall_x, fall_y, out):
    """out[v, u] = max(colour @ src[v, u], 0) * fall_y[v] * fall_x[u] for (H, W, 3) float32
    images; ``colour`` (3, 3) float32."""
    h, w = src.shape[:2]
    for v in range(h):
        for u in range(w):
            f = fall_y[v] * fall_x[u]
            r, g, b = src[v, u, 0], src[v, u, 1], src[v, u, 2]
            for i in range(3):
                y = colour[i, 0] * r + colour[i, 1] * g + colour[i, 2] * b
                out[v, u, i] = max(y, np.float32(0.0)) * f


@njit(cache=True, nogil=True)
def _gaussian_blur(img, taps, out):
    """Separable blur of an (H, W, 3) float32 image with the symmetric normalised kernel
    ``taps`` (2r + 1,) along rows and columns, edge pixels repeated (scipy's "nearest").
    Both passes run over contiguous rows of H x 3W values (the horizontal one with a stride
    of 3 between taps) so the compiler can vectorise them."""
    h, w = img.shape[:2]
    r = taps.shape[0] // 2
    n = 3 * w
    src = img.reshape(h, n)
    dst = out.reshape(h, n)
    row = np.empty(n + 6 * r, dtype=np.float32)  # one row of the vertical pass, edge-padded
    for v in range(h):
        mid = row[3 * r : 3 * r + n]
        mid[:] = 0.0
        for k in range(-r, r + 1):
            t = taps[k + r]
            s = src[min(max(v + k, 0), h - 1)]
            for i in range(n):
                mid[i] += t * s[i]
        for k in range(r):
            for c in range(3):
                row[3 * k + c] = mid[c]
                row[3 * r + n + 3 * k + c] = mid[n - 3 + c]
        d = dst[v]
        d[:] = 0.0
        for k in range(2 * r + 1):
            t = taps[k]
            shifted = row[3 * k : 3 * k + n]
            for i in range(n):
                d[i] += t * shifted[i]


@njit(cache=True, nogil=True)
def _noise_and_tone(y, c, noise_bytes, gauss, noise_std_t, t0, lut_scale, lut, out):
    """Per value of the flat linear image ``y``: ``t = sqrt(y + c)``, plus
    ``noise_std_t * gauss[noise_bytes[i]]`` when ``noise_std_t > 0``, then the tone curve
    ``lut`` at the nearest of its steps over [t0, t1] (values below t0 clip to its first
    entry: noise around black stays black, as on a sensor)."""
    top = np.float32(lut.shape[0] - 1)
    for i in range(y.shape[0]):
        t = np.sqrt(y[i] + c)
        if noise_std_t > 0:
            t += noise_std_t * gauss[noise_bytes[i]]
        x = min(max((t - t0) * lut_scale + np.float32(0.5), np.float32(0.0)), top)
        out[i] = lut[int(x)]


def _tone_lut(t0: float, t1: float, c: float, gamma: float, shoulder: float, contrast: float) -> np.ndarray:
    """uint8 sRGB value for each of ``_LUT_SIZE`` steps of ``t = sqrt(y + c)`` in [t0, t1].

    Every stage is non-decreasing in y, so the whole camera response is monotone.
    """
    t = np.linspace(t0, t1, _LUT_SIZE)
    y = np.maximum(t * t - c, 0.0)
    if shoulder > 0:
        # Reinhard with white point 4: values far above the exposure key roll off instead of
        # clipping, like a camera's highlight compression.
        y = (1 - shoulder) * y + shoulder * y * (1 + y / 16.0) / (1 + y)
    if gamma != 1.0:
        y = np.clip(y, 0.0, 1.0) ** gamma
    e = linear_to_srgb(y)
    if contrast != 0.0:
        # S-curve with fixed end points; derivative 1 - a*cos(2*pi*e) > 0 for |a| < 1.
        e = e - contrast * np.sin(2 * np.pi * e) / (2 * np.pi)
    return np.clip(np.rint(e * 255.0), 0, 255).astype(np.uint8)


def apply_camera_effects(
    linear_rgb: np.ndarray,
    rng: np.random.Generator,
    cfg: CameraEffectsConfig = CameraEffectsConfig(),
) -> np.ndarray:
    """Turn rendered radiance into a camera-like 8-bit sRGB image.

    Args:
        linear_rgb: (H, W, 3) float32 linear radiance, finite, >= 0, any scale (the
            auto-exposure normalises it).
        rng: the only source of randomness; the same generator state gives the same bytes.
        cfg: effect ranges and probabilities; ``CameraEffectsConfig.none()`` is a clean,
            deterministic tone mapping.

    Returns:
        (H, W, 3) uint8 sRGB image.

    Raises:
        InputError: wrong shape or dtype, NaN, inf or negative radiance.
    """
    _check_image(linear_rgb)
    h, w = linear_rgb.shape[:2]

    # -- draw every per-frame parameter first, in a fixed order (determinism) ---------------
    pct = rng.uniform(*cfg.exposure_percentile)
    key = rng.uniform(*cfg.exposure_key)
    ev = rng.uniform(*cfg.exposure_ev)
    use_wb, use_vig, use_blur, use_motion, use_noise, use_sat, use_tone, use_jpeg = rng.random(8) < [
        cfg.p_white_balance,
        cfg.p_vignetting,
        cfg.p_blur,
        cfg.p_motion_blur,
        cfg.p_noise,
        cfg.p_saturation,
        cfg.p_tone,
        cfg.p_jpeg,
    ]
    warm, tint = rng.uniform(-1.0, 1.0, size=2)
    vig = rng.uniform(*cfg.vignetting)
    blur_sigma = rng.uniform(*cfg.blur_sigma_px)
    motion_len = int(rng.integers(cfg.motion_blur_px[0], cfg.motion_blur_px[1] + 1))
    motion_angle = rng.uniform(0, np.pi)
    shot = _log_uniform(rng, cfg.shot_noise)
    read = _log_uniform(rng, cfg.read_noise)
    sat = rng.uniform(*cfg.saturation)
    gamma = rng.uniform(*cfg.gamma)
    shoulder = rng.uniform(*cfg.shoulder)
    contrast = rng.uniform(*cfg.contrast)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))

    # -- exposure and white balance as one per-channel gain ---------------------------------
    scale = 2.0**ev
    if cfg.auto_exposure:
        # A strided subsample is plenty for a percentile and 16x cheaper.
        step = max(1, min(h, w) // 60)
        sub = linear_rgb[::step, ::step]
        lum = (sub[..., 0] * _LUMA[0] + sub[..., 1] * _LUMA[1] + sub[..., 2] * _LUMA[2]).ravel()
        k = int(round(pct / 100.0 * (lum.size - 1)))
        ref = float(np.partition(lum, k)[k])  # a percentile without np.percentile's overhead
        if ref <= 0.0:
            ref = float(lum.max())
        scale *= key / ref if ref > 0.0 else 1.0
    gains = np.ones(3)
    if use_wb:
        lg = np.log(cfg.wb_max_gain)
        gains = np.exp(np.array([warm * lg, 0.35 * tint * lg, -warm * lg]))
        gains /= gains @ _LUMA  # a colour cast, not an exposure change
    gain = (scale * gains).astype(np.float32)

    # Per-pixel work: one compiled pass applies exposure, white balance and saturation as
    # one 3x3 colour matrix, and the vignetting. Vignetting is made separable,
    # (1 - v*x^2)(1 - v*y^2) instead of 1 - v*r^2 (a slightly different but equally
    # plausible fall-off), so it is a row and a column factor.
    if use_sat:
        sat_m = np.float32(sat) * np.eye(3, dtype=np.float32) + np.float32(1.0 - sat) * np.outer(
            np.ones(3, np.float32), _LUMA
        )
        colour = (sat_m * gain[None, :]).astype(np.float32)
    else:
        colour = np.diag(gain).astype(np.float32)
    fall_x = np.ones(w, dtype=np.float32)
    fall_y = np.ones(h, dtype=np.float32)
    if use_vig:
        radius = 0.5 * np.hypot(h, w)
        yy = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / np.float32(radius)
        xx = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / np.float32(radius)
        fall_x = 1.0 - np.float32(vig) * xx * xx
        fall_y = 1.0 - np.float32(vig) * yy * yy
    img = np.empty((h, w, 3), dtype=np.float32)
    _colour_and_vignetting(linear_rgb, colour, fall_x, fall_y, img)
    if use_blur and blur_sigma > 0:
        # A kernel cut at 2 sigma (renormalised) looks the same as a full one and is about
        # a quarter cheaper.
        radius = int(2.0 * blur_sigma + 0.5)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / blur_sigma) ** 2)
        blurred = np.empty_like(img)
        _gaussian_blur(img, (taps / taps.sum()).astype(np.float32), blurred)
        img = blurred
    if use_motion and motion_len > 1:
        img = _motion_blur(img, motion_len, motion_angle)

    # -- noise and tone curve in the variance-stabilised domain -----------------------------
    if use_noise:
        # var(y) = shot*y + read^2  =>  t = sqrt(y + c), c = read^2/shot, has std sqrt(shot)/2.
        c = read * read / shot
        noise_std_t = 0.5 * np.sqrt(shot)
    else:
        c, noise_std_t = 1e-6, 0.0
    y_max = 16.0  # brightest linear value the LUT distinguishes (after exposure)
    t0, t1 = np.sqrt(c), np.sqrt(y_max + c)
    lut = _tone_lut(t0, t1, c, gamma if use_tone else 1.0, shoulder if use_tone else 0.0, contrast if use_tone else 0.0)
    noise = standard_normal_bytes(rng, img.size) if noise_std_t > 0 else _NO_BYTES
    out = np.empty((h, w, 3), dtype=np.uint8)
    _noise_and_tone(
        img.reshape(-1),
        np.float32(c),
        noise,
        GAUSS_FROM_BYTE,
        np.float32(noise_std_t),
        np.float32(t0),
        np.float32((_LUT_SIZE - 1) / (t1 - t0)),
        lut,
        out.reshape(-1),
    )

    if use_jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as im:
            out = np.array(im if im.mode == "RGB" else im.convert("RGB"))
    return out
