"""Shared fixtures: the real RGB-D samples kept next to the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


@pytest.fixture
def real() -> Path:
    """Folder of real samples (../shared/data/real); the test is skipped without it."""
    if not REAL.is_dir():
        pytest.skip(f"real samples not found at {REAL}")
    return REAL
