"""Corruptions of the depth image: holes, flying pixels, dropout, quantisation, bias, noise.

Each function takes a Frame with depth, a severity in 1..5 and a numpy Generator seeded for
this frame and returns the changed fields (``depth_m`` only; ``depth_clean_m`` stays the
clean reference). Depth stays float32 metres, >= 0 and finite, 0 = invalid; pixels that were
invalid stay invalid. Frames carry no material, so the holes that an active depth camera
leaves on black and on shiny surfaces are placed by the colour image: dark pixels, and
bright, unsaturated highlights. Random draws do not depend on the severity, so the set of
pixels hit only grows with it.
"""

from __future__ import annotations

import numpy as np

from real3d.core.frame import Frame
from real3d.robust._frame_ops import luminance, rgb_to_float

#: luma below which a surface returns no depth (black, IR-absorbing material)
DARK_LUMA = (0.06, 0.10, 0.14, 0.19, 0.25)
#: specular highlights: value (max channel) at least SPECULAR_VALUE, saturation below
#: SPECULAR_MAX_SATURATION, and brighter than the mean of the surroundings (a window of
#: SPECULAR_WINDOW_PX) by SPECULAR_CONTRAST, so that a bright matte wall is not a highlight;
#: holes then grow by SPECULAR_GROW_PX (pixel sizes at a 240-pixel short side)
SPECULAR_VALUE = (0.96, 0.93, 0.9, 0.87, 0.84)
SPECULAR_GROW_PX = (0, 1, 2, 3, 5)
SPECULAR_MAX_SATURATION = 0.2
SPECULAR_CONTRAST = 0.05
SPECULAR_WINDOW_PX = 15
#: share of the pixels at a depth edge that become flying pixels, and the edge band's
#: half-width in pixels (at a 240-pixel short side)
FLYING_SHARE = (0.2, 0.4, 0.6, 0.8, 1.0)
FLYING_BAND_PX = (1, 1, 2, 2, 3)
#: a depth edge: the depth range in the window exceeds this many metres plus 5 % of the depth
FLYING_EDGE_M = 0.1
#: share of the image covered by rectangular dropout blocks
BLOCK_AREA = (0.05, 0.1, 0.2, 0.3, 0.45)
#: disparity step in 1/m (depth step = step * z^2, e.g. 0.003 * 3^2 = 2.7 cm at 3 m)
QUANT_STEP_PER_M = (0.003, 0.006, 0.012, 0.02, 0.035)
#: relative depth scale error (sign drawn per frame)
SCALE_BIAS = (0.02, 0.04, 0.06, 0.09, 0.12)
#: axial noise standard deviation = k * z^2 (k in 1/m)
NOISE_PER_M = (0.002, 0.004, 0.008, 0.012, 0.02)
#: probability that a frame comes without any depth (a stalled or unplugged depth camera)
MISSING_PROB = (0.2, 0.4, 0.6, 0.8, 1.0)


def _px(frame: Frame, length: float) -> int:
    return int(round(length * min(frame.size_hw) / 240.0))


def _holes(frame: Frame, mask: np.ndarray) -> dict:
    return {"depth_m": np.where(mask, np.float32(0.0), frame.depth_m).astype(np.float32)}


def holes_dark(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """No depth where the colour image's luma (3x3 mean) is below ``DARK_LUMA``."""
    from scipy.ndimage import uniform_filter

    luma = uniform_filter(luminance(frame.rgb), size=3, mode="nearest")
    return _holes(frame, luma < DARK_LUMA[severity - 1])


def holes_specular(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """No depth on glossy highlights: pixels of value (max channel) at least
    ``SPECULAR_VALUE``, saturation below ``SPECULAR_MAX_SATURATION`` and brighter than their
    surroundings by ``SPECULAR_CONTRAST``, grown by ``SPECULAR_GROW_PX``."""
    from scipy.ndimage import binary_dilation, uniform_filter

    x = rgb_to_float(frame.rgb)
    v = x.max(axis=-1)
    sat = np.where(v > 0, (v - x.min(axis=-1)) / np.maximum(v, 1e-6), 0.0)
    around = uniform_filter(v, size=2 * max(1, _px(frame, SPECULAR_WINDOW_PX)) + 1, mode="nearest")
    mask = (v >= SPECULAR_VALUE[severity - 1]) & (sat < SPECULAR_MAX_SATURATION) & (v - around >= SPECULAR_CONTRAST)
    grow = _px(frame, SPECULAR_GROW_PX[severity - 1])
    if grow > 0 and mask.any():
        mask = binary_dilation(mask, iterations=grow)
    return _holes(frame, mask)


def flying_pixels(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Mixed pixels at depth discontinuities: within ``FLYING_BAND_PX`` of an edge, a share
    ``FLYING_SHARE`` of the valid pixels take a depth between the nearest foreground and
    background, ``near + a * (far - near)`` with ``a`` uniform in [0, 1]."""
    from scipy.ndimage import maximum_filter, minimum_filter

    d = frame.depth_m
    size = 2 * max(1, _px(frame, FLYING_BAND_PX[severity - 1])) + 1
    valid = d > 0
    near = minimum_filter(np.where(valid, d, np.inf), size=size, mode="nearest")
    far = maximum_filter(d, size=size, mode="nearest")
    near = np.where(np.isfinite(near), near, far)
    edge = valid & (far - near > FLYING_EDGE_M + 0.05 * near)
    u = rng.random(d.shape)
    a = rng.random(d.shape).astype(np.float32)
    hit = edge & (u < FLYING_SHARE[severity - 1])
    mixed = np.where(hit, near + a * (far - near), d)
    return {"depth_m": mixed.astype(np.float32)}


def block_dropout(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Rectangular regions without depth (interference, a saturated projector, packet
    loss) until ``BLOCK_AREA`` of the image is covered. The blocks come from one sequence
    drawn per frame, so a stronger severity adds blocks to those of a weaker one."""
    h, w = frame.size_hw
    mask = np.zeros((h, w), dtype=bool)
    target = BLOCK_AREA[severity - 1] * h * w
    for _ in range(10_000):
        if mask.sum() >= target:
            break
        bh = max(1, int(rng.uniform(0.05, 0.25) * h))
        bw = max(1, int(rng.uniform(0.05, 0.25) * w))
        y0 = int(rng.integers(0, h - bh + 1))
        x0 = int(rng.integers(0, w - bw + 1))
        mask[y0 : y0 + bh, x0 : x0 + bw] = True
    return _holes(frame, mask)


def quantisation(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Coarse disparity steps, as a structured-light or stereo camera has: depth rounded to
    steps of ``QUANT_STEP_PER_M * z^2`` metres (uniform steps in 1/z)."""
    d = frame.depth_m
    step = QUANT_STEP_PER_M[severity - 1]
    valid = d > 0
    disparity = np.where(valid, 1.0 / np.where(valid, d, 1.0), 0.0) / step
    q = np.maximum(np.rint(disparity), 1.0) * step
    return {"depth_m": np.where(valid, 1.0 / q, 0.0).astype(np.float32)}


def scale_bias(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A miscalibrated depth camera: every depth times ``1 +- SCALE_BIAS`` (sign per frame)."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return {"depth_m": (frame.depth_m * np.float32(1.0 + sign * SCALE_BIAS[severity - 1])).astype(np.float32)}


def depth_noise(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """Axial noise growing with range: Gaussian of standard deviation ``NOISE_PER_M * z^2``;
    a depth pushed to or below 0 becomes invalid."""
    d = frame.depth_m
    n = rng.standard_normal(d.shape, dtype=np.float32)
    noisy = d + NOISE_PER_M[severity - 1] * d * d * n
    return {"depth_m": np.where((d > 0) & (noisy > 0), noisy, 0.0).astype(np.float32)}


def depth_missing(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A depth camera that drops out: with probability ``MISSING_PROB`` (always at severity 5)
    the frame's depth is all 0 (invalid). The frame keeps a depth image, as a pipeline that
    zero-fills a missing depth message feeds the network."""
    if rng.random() < MISSING_PROB[severity - 1]:
        return {"depth_m": np.zeros_like(frame.depth_m)}
    return {}


DEPTH = {
    "depth_holes_dark": holes_dark,
    "depth_holes_specular": holes_specular,
    "depth_flying_pixels": flying_pixels,
    "depth_block_dropout": block_dropout,
    "depth_quantisation": quantisation,
    "depth_scale_bias": scale_bias,
    "depth_noise": depth_noise,
    "depth_missing": depth_missing,
}
