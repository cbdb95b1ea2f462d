"""A fingerprint of the data engine's code, for keys of anything rendered and kept.

A rendered cache is only valid for the engine that drew it: a change to scene sampling,
textures or the sensor model changes what a data spec means. The fingerprint is a hash of
the engine's source files (and the label mapping they use), so a cache made by another
version is rendered again instead of being read as if it were current.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def engine_fingerprint() -> str:
    """12 hex digits of the SHA-256 of ``real3d/synth/*.py`` and ``real3d/core/labels.py``
    (file names and bytes, in sorted order)."""
    files = sorted(_PACKAGE.glob("*.py")) + [_PACKAGE.parent / "core" / "labels.py"]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]
