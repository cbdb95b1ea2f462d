"""Error types raised by real3d.

Every public entry point raises one of these, with a message that says what was expected
and what came. They subclass the matching built-in so ``except ValueError`` still works.
"""

from __future__ import annotations


class Real3DError(Exception):
    """Base class of every error real3d raises on purpose."""


class InputError(Real3DError, ValueError):
    """An argument has the wrong shape, dtype, value range or is missing."""


class FormatError(Real3DError, ValueError):
    """A file or stream is missing, truncated, corrupt or of an unknown format."""


class ConfigError(Real3DError, ValueError):
    """An unknown name (preset, backend, format) or an inconsistent configuration."""


class OutputError(Real3DError, OSError):
    """Writing a result failed (disk full, permission lost, a rename refused); whatever was
    complete on disk before is kept and no temporary file is left."""


class NoPathError(Real3DError):
    """A planner found no path between the requested start and goal."""


def describe_array(x) -> str:
    """Short description of an array-like for error messages: ``float64 (3, 4)``."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None:
        return type(x).__name__
    return f"{dtype} {tuple(shape)}"
