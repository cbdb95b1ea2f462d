"""A fingerprint of the code that turns rendered sequences into maps and scene graphs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from real3d.core.sourcehash import update_with_sources

_ROOT = Path(__file__).resolve().parent.parent


def mapping_fingerprint() -> str:
    """12 hex digits: the data engine's fingerprint (``real3d.synth.engine_fingerprint``)
    and the SHA-256 of the code of ``real3d/mapping/*.py`` and ``real3d/scene/*.py``
    (docstrings and comments do not count, see ``real3d.core.sourcehash``). It keys anything
    derived from fused maps and scene graphs of rendered sequences (the box refiner's
    training samples), which a change to fusion or clustering invalidates."""
    from real3d.synth import engine_fingerprint

    h = hashlib.sha256(engine_fingerprint().encode())
    update_with_sources(h, sorted((_ROOT / "mapping").glob("*.py")) + sorted((_ROOT / "scene").glob("*.py")),
                        label=lambda f: f"{f.parent.name}/{f.name}")
    return h.hexdigest()[:12]
