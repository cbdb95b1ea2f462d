"""Values given as text on a command line: config fields as ``KEY=VALUE`` and seed lists
with ranges. Used by the ``real3d`` command's helpers and the scripts in ``benchmarks/``
and ``tools/``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from real3d.core.errors import ConfigError


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
