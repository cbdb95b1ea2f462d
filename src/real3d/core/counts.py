"""Counts from float ratios, robust to rounding.

A length that is a whole number of steps in decimal rarely is one in binary floating point:
``3 * 0.05 / 0.05`` is 3.0000000000000004, and ``ceil`` of it is 4 (a fourth sample per side
of every ray, a quarter more voxels). Wherever a ratio of two floats becomes a count, the
ratio is first snapped to the nearest integer when it lies within a relative tolerance of it.
"""

from __future__ import annotations

import math

from real3d.core.errors import InputError

RATIO_RTOL = 1e-9


def ratio_count(numerator: float, denominator: float, mode: str = "ceil", rtol: float = RATIO_RTOL) -> int:
    """``ceil`` (or ``floor``) of ``numerator / denominator``, treating a ratio within
    ``rtol`` (relative, at least absolute for ratios below 1) of an integer as that integer.

    Args:
        numerator, denominator: finite real numbers (same unit), denominator != 0.
        mode: ``"ceil"`` (steps needed to cover the length) or ``"floor"`` (whole steps
            that fit in it).
        rtol: relative tolerance of the snap.

    Returns:
        The count as a Python int (may be negative for a negative ratio).

    Raises:
        InputError: non-finite operands, a zero denominator or an unknown mode.
    """
    if mode not in ("ceil", "floor"):
        raise InputError(f"ratio_count: mode must be 'ceil' or 'floor', got {mode!r}")
    a, b = float(numerator), float(denominator)
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0.0:
        raise InputError(f"ratio_count: expected finite operands and a non-zero denominator, got {a} / {b}")
    r = a / b
    if not math.isfinite(r):
        raise InputError(f"ratio_count: {a} / {b} overflows")
    nearest = round(r)
    if abs(r - nearest) <= rtol * max(1.0, abs(r)):
        return int(nearest)
    return int(math.ceil(r)) if mode == "ceil" else int(math.floor(r))
