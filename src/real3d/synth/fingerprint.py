"""A fingerprint of the data engine's code, for keys of anything rendered and kept.

A rendered cache is only valid for the engine that drew it: a change to scene sampling,
textures or the sensor model changes what a data spec means. The fingerprint is a hash of
the engine's source files (and the label mapping they use), so a cache made by another
version is rendered again instead of being read as if it were current. Docstrings and
comments do not count: editing them leaves the caches valid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from real3d.core.sourcehash import update_with_sources

_PACKAGE = Path(__file__).resolve().parent


def engine_fingerprint() -> str:
    """12 hex digits of the SHA-256 of ``real3d/synth/*.py``, ``real3d/core/labels.py`` and
    ``real3d/core/gt.py`` (the ground-truth types the engine fills) (file names and code, in
    sorted order: docstrings, comments and blank lines do not count, see
    ``real3d.core.sourcehash``)."""
    core = _PACKAGE.parent / "core"
    files = sorted(_PACKAGE.glob("*.py")) + [core / "labels.py", core / "gt.py"]
    h = hashlib.sha256()
    update_with_sources(h, files)
    return h.hexdigest()[:12]
