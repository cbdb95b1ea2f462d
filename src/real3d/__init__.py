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
    "Frame",
    "Intrinsics",
    "LabelSet",
    "Real3DError",
    "InputError",
    "FormatError",
    "ConfigError",
    "Pipeline",
    "__version__",
]


def __getattr__(name: str):
    # Pipeline pulls in torch and every stage: import it only when asked for.
    if name == "Pipeline":
        from real3d.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'real3d' has no attribute {name!r}")
