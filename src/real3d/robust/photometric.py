"""Corruptions of the colour image: sensor noise, blur, exposure, colour and compression.

Each function takes a Frame, a severity in 1..5 and a numpy Generator seeded for this frame
and returns the changed fields as a dict (``rgb`` only). The random draws do not depend on
the severity, so a stronger severity scales the same noise field or the same blur
direction: the change grows with the severity on every frame. Pixel sizes (blur lengths)
are for a 240-pixel short side and scale with the image.
"""

from __future__ import annotations

import io

import numpy as np

from real3d.core.frame import Frame
from real3d.robust._frame_ops import float_to_rgb, rgb_to_float

#: standard deviation of additive Gaussian noise, in units of the full 0-255 range
GAUSSIAN_SIGMA = (0.03, 0.06, 0.09, 0.12, 0.16)
#: photons collected at full white (Poisson shot noise; fewer is noisier)
SHOT_PHOTONS = (120.0, 60.0, 30.0, 15.0, 8.0)
#: motion-blur streak length in pixels at a 240-pixel short side
MOTION_LENGTH_PX = (3.0, 5.0, 9.0, 13.0, 19.0)
#: defocus disk radius in pixels at a 240-pixel short side
DEFOCUS_RADIUS_PX = (1.0, 1.5, 2.5, 3.5, 5.0)
#: brightness added to every channel (fraction of the full range); highlights clip
BRIGHTNESS_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
#: factor on the distance of each pixel from the image's mean colour
CONTRAST_FACTOR = (0.6, 0.45, 0.3, 0.2, 0.1)
#: light reaching the sensor (fraction of normal exposure) under low light
LOW_LIGHT_GAIN = (0.5, 0.35, 0.25, 0.15, 0.08)
#: photons at full white under normal exposure, and read noise (fraction of full range)
LOW_LIGHT_PHOTONS = 400.0
LOW_LIGHT_READ_NOISE = 0.01
#: relative red/blue gain change of a wrong white balance (warm or cool, drawn per frame)
WHITE_BALANCE_SHIFT = (0.1, 0.2, 0.3, 0.4, 0.5)
#: JPEG quality (1-95, PIL)
JPEG_QUALITY = (25, 18, 12, 8, 5)


def _px(frame: Frame, length: float) -> float:
    return length * min(frame.size_hw) / 240.0


def gaussian_noise(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Additive white Gaussian noise of ``GAUSSIAN_SIGMA`` per pixel and channel."""
    x = rgb_to_float(frame.rgb)
    n = rng.standard_normal(x.shape, dtype=np.float32)
    return {"rgb": float_to_rgb(x + GAUSSIAN_SIGMA[severity - 1] * n)}


def _poisson_like(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise of Poisson(x * photons) / photons in its Gaussian form, x + sqrt(x / photons) * z:
    one standard normal field z, so fewer photons give a larger deviation from the same draw
    (a Poisson draw per severity would not be monotone)."""
    z = rng.standard_normal(x.shape, dtype=np.float32)
    return x + np.sqrt(np.maximum(x, 0.0) / photons) * z


def shot_noise(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Photon (shot) noise: variance proportional to the brightness, ``SHOT_PHOTONS`` at white."""
    x = rgb_to_float(frame.rgb)
    return {"rgb": float_to_rgb(_poisson_like(x, SHOT_PHOTONS[severity - 1], rng))}


def _shifted(x: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``x`` moved by (dy, dx) pixels, fractions by linear interpolation, its border repeated."""
    h, w = x.shape[:2]
    out = np.zeros_like(x)
    y0, x0 = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - y0, dx - x0
    for oy, wy in ((y0, 1.0 - fy), (y0 + 1, fy)):
        for ox, wx in ((x0, 1.0 - fx), (x0 + 1, fx)):
            if wy * wx > 0:
                rows = np.clip(np.arange(h) - oy, 0, h - 1)
                cols = np.clip(np.arange(w) - ox, 0, w - 1)
                out += np.float32(wy * wx) * x[rows][:, cols]
    return out


def motion_blur(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Linear camera motion during the exposure: the mean of the image along a streak of
    ``MOTION_LENGTH_PX`` in a direction drawn per frame (sub-pixel steps interpolated)."""
    angle = rng.uniform(0.0, np.pi)
    length = _px(frame, MOTION_LENGTH_PX[severity - 1])
    n = max(2, int(np.ceil(length)) + 1)
    x = rgb_to_float(frame.rgb)
    acc = np.zeros_like(x)
    for t in np.linspace(-length / 2, length / 2, n):
        acc += _shifted(x, t * np.sin(angle), t * np.cos(angle))
    return {"rgb": float_to_rgb(acc / n)}


def defocus_blur(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Out-of-focus lens: convolution with a disk of radius ``DEFOCUS_RADIUS_PX``."""
    from scipy.signal import fftconvolve

    r = _px(frame, DEFOCUS_RADIUS_PX[severity - 1])
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    disk = (xx**2 + yy**2 <= r**2 + 0.5).astype(np.float32)
    disk /= disk.sum()
    x = np.pad(rgb_to_float(frame.rgb), ((k, k), (k, k), (0, 0)), mode="edge")
    out = np.stack([fftconvolve(x[..., c], disk, mode="valid") for c in range(3)], axis=-1)
    return {"rgb": float_to_rgb(out)}


def brightness(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Over-exposure: ``BRIGHTNESS_SHIFT`` added to every channel, highlights clipped."""
    return {"rgb": float_to_rgb(rgb_to_float(frame.rgb) + BRIGHTNESS_SHIFT[severity - 1])}


def contrast(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Washed-out image (haze, flare): every pixel pulled towards the mean colour,
    its distance multiplied by ``CONTRAST_FACTOR``."""
    x = rgb_to_float(frame.rgb)
    mean = x.mean(axis=(0, 1), keepdims=True)
    return {"rgb": float_to_rgb((x - mean) * CONTRAST_FACTOR[severity - 1] + mean)}


def low_light(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A dark room: ``LOW_LIGHT_GAIN`` of the light, with the shot noise of that fewer
    photons (``LOW_LIGHT_PHOTONS`` at white under normal exposure) and a read noise."""
    gain = LOW_LIGHT_GAIN[severity - 1]
    x = rgb_to_float(frame.rgb) * gain
    x = _poisson_like(x, LOW_LIGHT_PHOTONS, rng)
    x = x + LOW_LIGHT_READ_NOISE * rng.standard_normal(x.shape, dtype=np.float32)
    return {"rgb": float_to_rgb(x)}


def white_balance(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A wrong white balance: red gain ``1 + s`` and blue gain ``1 - s`` (warm) or the
    reverse (cool), the direction drawn per frame, ``s`` = ``WHITE_BALANCE_SHIFT``."""
    s = WHITE_BALANCE_SHIFT[severity - 1] * (1.0 if rng.random() < 0.5 else -1.0)
    gains = np.array([1.0 + s, 1.0, 1.0 - s], dtype=np.float32)
    return {"rgb": float_to_rgb(rgb_to_float(frame.rgb) * gains)}


def jpeg(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """JPEG compression of a streamed image at ``JPEG_QUALITY`` (PIL, 4:2:0 chroma)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame.rgb).save(buf, format="JPEG", quality=JPEG_QUALITY[severity - 1])
    buf.seek(0)
    return {"rgb": np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8).copy()}


PHOTOMETRIC = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "motion_blur": motion_blur,
    "defocus_blur": defocus_blur,
    "brightness": brightness,
    "contrast": contrast,
    "low_light": low_light,
    "white_balance": white_balance,
    "jpeg": jpeg,
}
