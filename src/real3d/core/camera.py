"""Pinhole camera intrinsics and the camera convention.

Convention (OpenCV): +x right, +y down, +z forward. A pixel (u, v) has its centre at integer
coordinates, so a camera point (x, y, z) lands at ``u = fx * x / z + cx``,
``v = fy * y / z + cy``. Depth is the z coordinate in metres, not the ray length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError
from real3d.core.values import real_array, real_number, whole_number


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels, pixel centres at integers.
        width, height: image size in pixels (> 0).

    Raises:
        InputError: a value that is not a real number (a string, a bool, None, a complex
            number), NaN or inf, fx or fy <= 0, a width or height that is not a whole
            number > 0.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            object.__setattr__(self, name, real_number(getattr(self, name), f"Intrinsics.{name}", "pixels"))
        if self.fx <= 0 or self.fy <= 0:
            raise InputError(f"Intrinsics: expected fx, fy > 0, got fx={self.fx}, fy={self.fy}")
        for name in ("width", "height"):
            object.__setattr__(self, name, whole_number(getattr(self, name), f"Intrinsics.{name}", "pixels"))
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"Intrinsics: expected width, height > 0, got {self.width}x{self.height}")

    @property
    def size_hw(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return (self.height, self.width)

    @property
    def K(self) -> np.ndarray:
        """3x3 float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64)

    @classmethod
    def from_K(cls, K, width: int, height: int) -> Intrinsics:
        """Build from a 3x3 (or 4x4, ScanNet-style) camera matrix."""
        K = real_array(K, "Intrinsics.from_K: K")
        if K.shape not in ((3, 3), (4, 4)):
            raise InputError(f"Intrinsics.from_K: expected a 3x3 or 4x4 matrix, got {K.shape}")
        return cls(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_rad: float) -> Intrinsics:
        """Square pixels, principal point at the image centre, horizontal FOV in radians."""
        width = whole_number(width, "Intrinsics.from_fov: width", "pixels")
        height = whole_number(height, "Intrinsics.from_fov: height", "pixels")
        hfov_rad = real_number(hfov_rad, "Intrinsics.from_fov: hfov_rad", "radians")
        if not 0 < hfov_rad < np.pi:
            raise InputError(f"Intrinsics.from_fov: expected 0 < hfov_rad < pi, got {hfov_rad}")
        f = 0.5 * width / np.tan(0.5 * hfov_rad)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @property
    def hfov_rad(self) -> float:
        return float(2.0 * np.arctan(0.5 * self.width / self.fx))

    @property
    def vfov_rad(self) -> float:
        return float(2.0 * np.arctan(0.5 * self.height / self.fy))

    def resized(self, width: int, height: int) -> Intrinsics:
        """Intrinsics of the same camera after resizing the image to width x height.

        Pixel-centre convention: the image edge at -0.5 maps to -0.5, so
        ``c' = (c + 0.5) * s - 0.5``.
        """
        width = whole_number(width, "Intrinsics.resized: width", "pixels")
        height = whole_number(height, "Intrinsics.resized: height", "pixels")
        if width <= 0 or height <= 0:
            raise InputError(f"Intrinsics.resized: expected width, height > 0, got {width}x{height}")
        sx = width / self.width
        sy = height / self.height
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            width,
            height,
        )

    def scaled(self, factor: float) -> Intrinsics:
        """Resize by a factor (rounded to whole pixels)."""
        factor = real_number(factor, "Intrinsics.scaled: factor", "a ratio")
        if factor <= 0:
            raise InputError(f"Intrinsics.scaled: expected factor > 0, got {factor}")
        return self.resized(max(1, round(self.width * factor)), max(1, round(self.height * factor)))

    def cropped(self, x0: int, y0: int, width: int, height: int) -> Intrinsics:
        """Intrinsics of the crop ``image[y0:y0+height, x0:x0+width]``."""
        x0, y0, width, height = (
            whole_number(v, f"Intrinsics.cropped: {n}", "pixels")
            for v, n in ((x0, "x0"), (y0, "y0"), (width, "width"), (height, "height"))
        )
        if x0 < 0 or y0 < 0 or x0 + width > self.width or y0 + height > self.height:
            raise InputError(
                f"Intrinsics.cropped: crop ({x0}, {y0}, {width}, {height}) leaves the {self.width}x{self.height} image"
            )
        return Intrinsics(self.fx, self.fy, self.cx - x0, self.cy - y0, width, height)

    def to_dict(self) -> dict:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Intrinsics:
        """From ``{"fx", "fy", "cx", "cy", "width", "height"}`` (what ``to_dict`` writes).

        Raises:
            InputError: not a mapping, a missing key or a value of the wrong type.
        """
        if not isinstance(d, Mapping):
            raise InputError(
                "Intrinsics.from_dict: expected a mapping with keys fx, fy, cx, cy, width, height, "
                f"got {type(d).__name__}"
            )
        try:
            return cls(d["fx"], d["fy"], d["cx"], d["cy"], d["width"], d["height"])
        except KeyError as e:
            raise InputError(f"Intrinsics.from_dict: missing key {e}; got keys {sorted(map(str, d))}") from e
