"""Shared fixtures of the robustness tests: a few frames of the real captures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def real_captures() -> list:
    """(name, Frame) for the first frame of each real capture beside the checkout
    (../shared/data/real, opened with ``real3d.io.real_samples`` options); skipped without them."""
    from real3d.io import open_sequence
    from real3d.io.real_samples import SAMPLE_OPTIONS, real_samples_dir

    root = real_samples_dir(REPO)
    frames = []
    for name in sorted(SAMPLE_OPTIONS):
        if (root / name).is_dir():
            with open_sequence(root / name, max_frames=1, **SAMPLE_OPTIONS[name]) as seq:
                frames.append((name, next(iter(seq))))
    if not frames:
        pytest.skip(f"real captures not found under {root}")
    return frames
