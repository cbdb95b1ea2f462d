"""The corruption registry: ``CORRUPTIONS`` name -> function, and ``corrupt``.

Every corruption is ``f(frame, severity, seed=0) -> Frame``: a new, valid Frame (same
dtypes and units, depth float32 metres with 0 = invalid, intrinsics matching the image),
deterministic for a given (seed, frame.index, corruption name), with severities 1 (mild)
to 5 (severe). Groups (``GROUPS``): ``rgb`` changes the colour image, ``depth`` the depth
image (the frame must have depth), ``geometry`` moves every per-pixel field together with
the intrinsics. The corrupted frame's ``meta["corruption"]`` says what was applied.
docs/robustness.md lists what each does at each severity.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

from real3d.core.errors import ConfigError, InputError
from real3d.core.frame import Frame
from real3d.robust.depth import DEPTH
from real3d.robust.geometric import GEOMETRIC
from real3d.robust.photometric import PHOTOMETRIC

SEVERITIES = (1, 2, 3, 4, 5)

GROUPS: dict[str, tuple[str, ...]] = {
    "rgb": tuple(PHOTOMETRIC),
    "depth": tuple(DEPTH),
    "geometry": tuple(GEOMETRIC),
}

_IMPLEMENTATIONS: dict[str, Callable[[Frame, int, np.random.Generator], dict]] = {
    **PHOTOMETRIC,
    **DEPTH,
    **GEOMETRIC,
}


def check_severity(severity, where: str = "severity") -> int:
    """``severity`` as an int in 1..5; InputError otherwise (a bool, a float, 0, 6, ...)."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise InputError(f"{where}: expected an integer severity in 1..5, got {severity!r}")
    return int(severity)


def check_corruption(name) -> str:
    """``name`` if it is a known corruption; ConfigError listing the valid names otherwise."""
    if not isinstance(name, str) or name not in _IMPLEMENTATIONS:
        raise ConfigError(f"unknown corruption {name!r}; valid: {', '.join(_IMPLEMENTATIONS)}")
    return name


def corruption_rng(name: str, seed: int, index: int) -> np.random.Generator:
    """The Generator of corruption ``name`` on the frame at ``index`` for ``seed``: the same
    triple gives the same draws, and no two corruptions share theirs."""
    return np.random.default_rng([int(seed), int(index), zlib.crc32(name.encode())])


def corrupt(frame: Frame, name: str, severity: int, seed: int = 0) -> Frame:
    """Frame ``frame`` under corruption ``name`` at ``severity`` (1..5).

    Args:
        frame: any ``real3d.core.Frame``; depth corruptions need ``frame.depth_m``.
        name: a key of ``CORRUPTIONS``.
        severity: 1 (mild) to 5 (severe).
        seed: with ``frame.index``, selects the random draws (noise, directions, blocks).

    Returns:
        A new Frame; ``frame`` is not changed. ``meta["corruption"]`` holds
        ``{"name", "severity", "seed"}``.

    Raises:
        ConfigError: an unknown corruption name (the message lists the valid ones).
        InputError: a severity outside 1..5, a seed that is not an integer >= 0, ``frame``
            not a Frame, or a depth corruption on a frame without depth.
    """
    check_corruption(name)
    severity = check_severity(severity)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"corrupt: expected an integer seed >= 0, got {seed!r}")
    if not isinstance(frame, Frame):
        raise InputError(f"corrupt: expected a real3d Frame, got {type(frame).__name__}")
    if name in DEPTH and frame.depth_m is None:
        raise InputError(f"corrupt: {name} corrupts depth but the frame has none (depth_m is None)")
    changes = _IMPLEMENTATIONS[name](frame, severity, corruption_rng(name, seed, frame.index))
    meta = dict(frame.meta)
    meta["corruption"] = {"name": name, "severity": severity, "seed": int(seed)}
    return frame.replace(**changes, meta=meta)


def _entry(name: str) -> Callable[..., Frame]:
    def apply(frame: Frame, severity: int, seed: int = 0) -> Frame:
        return corrupt(frame, name, severity, seed)

    apply.__name__ = name
    apply.__doc__ = _IMPLEMENTATIONS[name].__doc__
    return apply


#: name -> ``f(frame, severity, seed=0) -> Frame``, in the order rgb, depth, geometry
CORRUPTIONS: dict[str, Callable[..., Frame]] = {name: _entry(name) for name in _IMPLEMENTATIONS}


def parse_corruptions(text: str) -> tuple[str, ...]:
    """``"jpeg,depth_missing"`` -> names; ``"all"`` or a group name (``rgb``, ``depth``,
    ``geometry``) expands. ConfigError for an unknown name."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "all":
            names.extend(CORRUPTIONS)
        elif part in GROUPS:
            names.extend(GROUPS[part])
        else:
            names.append(check_corruption(part))
    if not names:
        raise ConfigError(f"expected corruption names, 'all' or a group ({', '.join(GROUPS)}), got {text!r}")
    return tuple(dict.fromkeys(names))
