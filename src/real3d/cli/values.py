"""Values given as text on a command line: config fields as ``KEY=VALUE``, seed lists
with ranges, image sizes, counts and rates, each checked before any work starts. Used by
the ``real3d`` command's helpers and the scripts in ``benchmarks/`` and ``tools/``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from real3d.core.errors import ConfigError, InputError


def config_from_overrides(cls, overrides: Iterable[str], **base):
    """A config dataclass (``SceneGraphConfig``, ``CostmapConfig``, ...) from ``key=value``
    strings on top of ``base`` keyword arguments, each value cast to the type of the field's
    default: booleans from 1/true/yes (anything else is false), floats (and fields that
    default to None) from numbers or ``none``, other fields by their default's type.

    Raises:
        ConfigError: an item without ``=`` or with a key that is no field of ``cls`` (the
            message lists the fields).
    """
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    kw = dict(base)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise ConfigError(f"expected KEY=VALUE with KEY one of {sorted(defaults)}, got {item!r}")
        default = defaults[key]
        if isinstance(default, bool):
            kw[key] = value.lower() in ("1", "true", "yes")
        elif default is None or isinstance(default, float):
            kw[key] = None if value.lower() == "none" else float(value)
        else:
            kw[key] = type(default)(value)
    return cls(**kw)


def parse_seeds(items: str | Iterable[str]) -> list[int]:
    """Seeds from text: each item (or comma-separated part) a seed ``N`` or an inclusive
    range ``A..B`` (or ``A-B``); ``"0..2,7"``, ``"0-2,7"`` and ``["0..2", "7"]`` all give
    [0, 1, 2, 7].

    Raises:
        ConfigError: a part that is neither.
    """
    parts = [items] if isinstance(items, str) else list(items)
    out: list[int] = []
    for part in (p.strip() for item in parts for p in item.split(",")):
        a, sep, b = part.partition("..")
        if not sep and part:  # A-B; a leading "-" is a sign, not a range
            head, sep, b = part[1:].partition("-")
            a = part[0] + head
        try:
            out += list(range(int(a), int(b) + 1)) if sep else [int(a)]
        except ValueError:
            raise ConfigError(f"expected a seed N or a range A..B, got {part!r}") from None
    return out


MAX_SIDE = 16384
"""Longest image side a size option takes, pixels."""


def parse_hw(text: str, option: str = "--size", multiple: int = 1) -> tuple[int, int]:
    """``'240x320'`` -> (240, 320) as (H, W): two positive integers up to ``MAX_SIDE``,
    multiples of ``multiple``.

    Raises:
        InputError: anything else (the message names ``option``).
    """
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise InputError(f"{option}: expected HxW such as 240x320, got {text!r}") from None
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE) or h % multiple or w % multiple:
        need = f"multiples of {multiple} " if multiple > 1 else ""
        raise InputError(f"{option}: expected H and W {need}in 1..{MAX_SIDE}, got {text!r}")
    return h, w


def check_count(value: int | None, option: str, minimum: int = 0, *, allow_none: bool = False) -> int | None:
    """``value`` as an int >= ``minimum`` (None passes when ``allow_none``); InputError
    naming ``option`` otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{option}: expected an integer >= {minimum}, got {value!r}")
    return value


def check_rate(
    value: float, option: str, *, minimum: float = 0.0, inclusive: bool = False, maximum: float | None = None
) -> float:
    """``value`` as a finite float > ``minimum`` (>= with ``inclusive``) and <= ``maximum``
    when given; InputError naming ``option`` otherwise (NaN and inf included)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option}: expected a number, got {value!r}") from None
    above = v >= minimum if inclusive else v > minimum
    if not math.isfinite(v) or not above or (maximum is not None and v > maximum):
        rng = f"{'>=' if inclusive else '>'} {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")
        raise InputError(f"{option}: expected a finite number {rng}, got {value!r}")
    return v
