"""real3d: real-time indoor 3D scene understanding for robots."""

from real3d.core import (
    ConfigError,
    FormatError,
    Frame,
    InputError,
    Intrinsics,
    LabelSet,
    Real3DError,
)

__version__ = "0.1.0"

__all__ = [
    "Frame", "Intrinsics", "LabelSet", "Real3DError", "InputError", "FormatError",
    "ConfigError", "__version__",
]
