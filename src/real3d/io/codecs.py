"""Image decoding and the depth encodings of real sensors and datasets.

Every function here either returns exactly what its docstring promises or raises
:class:`FormatError` (missing file, truncated or corrupt image, wrong bit depth). The depth
decoders return ``(depth_m, invalid_encoded)``: float32 metres with 0 where the encoding marks
a pixel invalid, and how many such pixels there were. NaN / inf / negative values are left
for :func:`real3d.core.sanitize_depth` at the reader boundary, which counts them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from real3d.core import FormatError

# Kinect v1 disparity -> metres as published with NYU Depth v2: depth = P1 / (P2 - d).
NYU_DISPARITY_P1 = 351.3
NYU_DISPARITY_P2 = 1092.5
#: raw Kinect disparity at or above this value means "no measurement"
NYU_DISPARITY_INVALID = 2047
#: TUM RGB-D stores depth as uint16 with 5000 units per metre
TUM_DEPTH_SCALE = 5000.0


def _source_name(src) -> str:
    return str(src) if isinstance(src, (str, Path)) else f"<{len(src)} bytes>"


def open_image(src, what: str = "image") -> Image.Image:
    """Open and fully decode an image from a path or bytes.

    Raises FormatError for a missing file or a truncated / corrupt / unknown image, naming it.
    """
    name = _source_name(src)
    if isinstance(src, (str, Path)):
        if not Path(src).is_file():
            raise FormatError(f"{what}: file not found: {src}")
        fp = src
    else:
        fp = io.BytesIO(bytes(src))
    try:
        im = Image.open(fp)
        im.load()  # decode now so truncation is found here, not later
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise FormatError(f"{what}: cannot decode {name}: truncated or corrupt ({e})") from None
    return im


def decode_rgb(src, what: str = "colour image") -> np.ndarray:
    """Colour image (path or encoded bytes: PNG, JPEG, PPM, ...) -> (H, W, 3) uint8 RGB.

    8-bit grey, palette and RGBA images are converted to RGB; 16-bit images raise
    FormatError (a depth map given as colour is a mistake worth reporting).
    """
    im = open_image(src, what)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise FormatError(f"{what}: {_source_name(src)} has {im.mode} pixels; expected an 8-bit colour image")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def decode_u16(src, what: str = "depth image") -> np.ndarray:
    """16-bit single-channel image (PNG; path or bytes) -> (H, W) uint16.

    Raises FormatError for 8-bit or colour images (wrong bit depth).
    """
    im = open_image(src, what)
    if im.mode in ("I;16", "I;16L", "I;16B"):
        return np.asarray(im).astype(np.uint16)
    if im.mode == "I":
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise FormatError(f"{what}: {_source_name(src)} has values outside uint16")
        return a.astype(np.uint16)
    raise FormatError(f"{what}: {_source_name(src)} is a {im.mode} image; expected 16-bit single channel")


_PNM_HEADER = re.compile(
    rb"^(P[56])\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+"
    rb"(?:#[^\n]*\n\s*)*(\d+)\s"
)


def read_pgm16(path, byteorder: str = "big") -> np.ndarray:
    """16-bit binary PGM (P5, maxval > 255) -> (H, W) uint16.

    The PGM standard stores 16-bit samples big-endian (``byteorder="big"``); NYU Depth v2's
    raw Kinect dumps are byte-swapped (``byteorder="little"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"PGM: file not found: {path}")
    data = path.read_bytes()
    m = _PNM_HEADER.match(data[:512])
    if m is None or m.group(1) != b"P5":
        raise FormatError(f"PGM: {path} has no binary greyscale (P5) header")
    w, h, maxval = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if maxval < 256:
        raise FormatError(f"PGM: {path} is 8-bit (maxval {maxval}); expected 16-bit depth")
    need = w * h * 2
    body = data[m.end() :]
    if len(body) < need:
        raise FormatError(f"PGM: {path} truncated: {len(body)} of {need} pixel bytes")
    dt = ">u2" if byteorder == "big" else "<u2"
    return np.frombuffer(body[:need], dtype=dt).reshape(h, w).astype(np.uint16)


def decode_depth_scaled(raw: np.ndarray, units_per_m: float) -> tuple[np.ndarray, int]:
    """uint16 depth with ``units_per_m`` units per metre (1000 = mm, 5000 = TUM), 0 = invalid.

    Returns (float32 (H, W) metres, number of 0 pixels).
    """
    raw = _check_u16(raw)
    return (raw.astype(np.float32) / np.float32(units_per_m)), int((raw == 0).sum())


def decode_depth_mm(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """uint16 millimetres (Kinect, ScanNet, Redwood, SUN after unshifting), 0 = invalid."""
    return decode_depth_scaled(raw, 1000.0)


def decode_depth_tum(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """TUM RGB-D: uint16 with 5000 units per metre, 0 = invalid."""
    return decode_depth_scaled(raw, TUM_DEPTH_SCALE)


def sun_unshift(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D's stored uint16 -> millimetres: a 3-bit rotation right of the 16-bit word,
    ``mm = (d >> 3) | (d << 13)`` in uint16 arithmetic."""
    raw = _check_u16(raw)
    return ((raw >> np.uint16(3)) | (raw << np.uint16(13))).astype(np.uint16)


def decode_depth_sun(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """SUN RGB-D bit-shifted uint16 -> metres (via :func:`sun_unshift`), 0 = invalid."""
    return decode_depth_mm(sun_unshift(raw))


def decode_depth_nyu_disparity(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """Raw Kinect v1 disparity (NYU Depth v2 raw dumps) -> metres.

    ``depth_m = 351.3 / (1092.5 - d)``; ``d >= 2047`` is "no measurement" (-> 0, counted).
    Disparities in (1092.5, 2047) give negative depth, which the reader boundary sets to 0 and
    counts as non-finite/negative. The depth is in the depth camera's frame.
    """
    raw = _check_u16(raw)
    invalid = raw >= NYU_DISPARITY_INVALID
    d = raw.astype(np.float32)
    with np.errstate(divide="ignore"):
        depth = np.float32(NYU_DISPARITY_P1) / (np.float32(NYU_DISPARITY_P2) - d)
    depth[invalid] = 0.0
    return depth.astype(np.float32), int(invalid.sum())


def decode_depth_float(depth_m: np.ndarray) -> tuple[np.ndarray, int]:
    """float depth already in metres (32FC1, h5 arrays), 0 = invalid."""
    d = np.asarray(depth_m, dtype=np.float32)
    return d, int((d == 0).sum())


def _check_u16(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise FormatError(f"depth: expected (H, W) uint16, got {raw.dtype} {raw.shape}")
    return raw


#: depth encodings by name, for readers with a ``depth_encoding`` option
DEPTH_DECODERS = {
    "mm": decode_depth_mm,
    "tum": decode_depth_tum,
    "sun": decode_depth_sun,
    "nyu_disparity": decode_depth_nyu_disparity,
}
