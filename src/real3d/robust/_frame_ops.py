"""Array operations the corruptions share: float views of a Frame's colour, resizing and
warping of every per-pixel field with the one rule each field needs.

Colour is resampled bilinearly; depth, labels, instances and normals by nearest neighbour,
so no depth is invented between a foreground and a background surface and no label is
mixed. Pixels that come from outside the source image get 0 (invalid depth, void label,
black colour, no instance, unknown normal).
"""

from __future__ import annotations

import numpy as np

from real3d.core.frame import Frame

#: per-pixel fields of a Frame resampled by nearest neighbour
NEAREST_FIELDS = ("depth_m", "depth_clean_m", "labels", "instances", "normals_cam")


def rgb_to_float(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) float32 in [0, 1]."""
    return rgb.astype(np.float32) / 255.0


def float_to_rgb(x: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] (clipped) -> uint8, rounded to nearest."""
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 Rec. 601 luma in [0, 1] of a uint8 colour image."""
    x = rgb_to_float(rgb)
    return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).astype(np.float32)


def nearest_resize(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) or (H, W, C) array of any dtype, pixel-centre
    aligned (the edges of both images coincide)."""
    h, w = a.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return np.ascontiguousarray(a[rows][:, cols])


def rgb_resize(rgb: np.ndarray, height: int, width: int, shrink: bool = False) -> np.ndarray:
    """Resize a uint8 colour image: box filter when ``shrink`` (a sensor's pixels average
    the light that falls on them), bilinear otherwise."""
    from PIL import Image

    img = Image.fromarray(rgb).resize((width, height), Image.BOX if shrink else Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).copy()


def resize_frame_fields(frame: Frame, height: int, width: int, shrink: bool = False) -> dict:
    """Every per-pixel field of ``frame`` resized to height x width (not the intrinsics)."""
    out = {"rgb": rgb_resize(frame.rgb, height, width, shrink)}
    for name in NEAREST_FIELDS:
        a = getattr(frame, name)
        if a is not None:
            out[name] = nearest_resize(a, height, width)
    return out


def crop_frame_fields(frame: Frame, y0: int, x0: int, height: int, width: int) -> dict:
    """Every per-pixel field of ``frame`` cropped to ``[y0:y0+height, x0:x0+width]``."""
    out = {"rgb": frame.rgb[y0 : y0 + height, x0 : x0 + width]}
    for name in NEAREST_FIELDS:
        a = getattr(frame, name)
        if a is not None:
            out[name] = a[y0 : y0 + height, x0 : x0 + width]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def warp_frame_fields(frame: Frame, src_u: np.ndarray, src_v: np.ndarray) -> dict:
    """Every per-pixel field sampled at source pixel coordinates (``src_u``, ``src_v``),
    each (H', W') float; outside the source image everything is 0."""
    from scipy.ndimage import map_coordinates

    h, w = frame.size_hw
    coords = np.stack([src_v, src_u])
    rgb = np.stack([map_coordinates(frame.rgb[..., c].astype(np.float32), coords, order=1, cval=0.0) for c in range(3)])
    out = {"rgb": np.clip(np.rint(rgb.transpose(1, 2, 0)), 0, 255).astype(np.uint8)}
    ui = np.rint(src_u).astype(np.int64)
    vi = np.rint(src_v).astype(np.int64)
    inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    ui = np.where(inside, ui, 0)
    vi = np.where(inside, vi, 0)
    for name in NEAREST_FIELDS:
        a = getattr(frame, name)
        if a is None:
            continue
        b = a[vi, ui]
        b[~inside] = 0
        out[name] = np.ascontiguousarray(b)
    return out
