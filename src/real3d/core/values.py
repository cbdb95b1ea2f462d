"""Checks of scalar and array arguments that raise ``InputError`` naming the argument, what
was expected and what came (instead of a TypeError from deep inside numpy, or a silent
cast: ``True`` taken as 1, ``"100"`` as a string, a complex array cast to its real part)."""

from __future__ import annotations

import numbers

import numpy as np

from real3d.core.errors import InputError, describe_array


def _shown(x) -> str:
    r = repr(x)
    return f"{type(x).__name__} {r[:40] + '...' if len(r) > 40 else r}"


def _scalar(x):
    """A 0-d numeric numpy array as its Python scalar; anything else unchanged."""
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf":
        return x.item()
    return x


def real_number(x, name: str, unit: str = "") -> float:
    """``x`` as a finite float: ints, floats and numpy real scalars pass; bools, strings,
    None, complex numbers, NaN and inf raise InputError naming ``name`` (and its ``unit``)."""
    x = _scalar(x)
    what = f"a finite real number{f' ({unit})' if unit else ''}"
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise InputError(f"{name}: expected {what}, got {_shown(x)}")
    v = float(x)
    if not np.isfinite(v):
        raise InputError(f"{name}: expected {what}, got {v}")
    return v


def is_int(v, lo: int | None = None, hi: int | None = None) -> bool:
    """``v`` is a Python int (not a bool) within [``lo``, ``hi``] (either bound optional):
    the test config dataclasses use before they raise their own error."""
    if isinstance(v, bool) or not isinstance(v, int):
        return False
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def whole_number(x, name: str, unit: str = "") -> int:
    """``x`` as an int: ints, numpy integers and integral floats (640.0) pass; bools,
    strings, None, fractional or non-finite floats raise InputError naming ``name``."""
    x = _scalar(x)
    what = f"an integer{f' ({unit})' if unit else ''}"
    if isinstance(x, (bool, np.bool_)):
        raise InputError(f"{name}: expected {what}, got bool {x}")
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real) and np.isfinite(float(x)) and float(x).is_integer():
        return int(x)
    raise InputError(f"{name}: expected {what}, got {_shown(x)}")


def real_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array. Integer and float arrays (and nested lists of numbers)
    pass; ragged nesting, strings, objects, bools and complex values raise InputError.
    Finiteness and shape are the caller's to check."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: expected a real-valued array, got {type(x).__name__} ({e})") from None
    if a.dtype.kind not in "iuf":
        kind = {"c": "complex", "b": "bool", "O": "object", "U": "string", "S": "bytes"}.get(a.dtype.kind, str(a.dtype))
        raise InputError(f"{name}: expected a real-valued (integer or float) array, got {kind} {describe_array(a)}")
    return a.astype(np.float64)
