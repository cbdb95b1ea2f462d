"""The real RGB-D samples kept in the shared data beside a checkout (``../shared/data/real``)
and the reader options each one needs that its files do not say (camera, depth encoding).
Benchmarks and tools open them as ``open_sequence(real_samples_dir(repo) / name,
**SAMPLE_OPTIONS[name])``."""

from __future__ import annotations

from pathlib import Path

from real3d.core import Intrinsics

#: open_sequence options per sample folder (samples not listed need none)
SAMPLE_OPTIONS: dict[str, dict] = {
    "iclnuim_synthetic_seq": {},
    # a Kinect v1 sequence without calibration: NYU-like intrinsics
    "joinmap_kinect_seq": {"intrinsics": Intrinsics(518.0, 519.0, 325.5, 253.5, 640, 480)},
    "sunrgbd": {},
    # the TUM Freiburg 2 colour camera; TUM depth has 5000 units per metre
    "tum_pair": {"intrinsics": Intrinsics(520.9, 521.0, 325.1, 249.7, 640, 480), "depth_encoding": "tum"},
}


def real_samples_dir(repo_root: str | Path) -> Path:
    """Where the shared data keep the real samples for a checkout at ``repo_root``."""
    return Path(repo_root).resolve().parent / "shared" / "data" / "real"


def sample_options(name: str) -> dict:
    """A copy of the ``open_sequence`` options of sample folder ``name`` ({} when it needs none)."""
    return dict(SAMPLE_OPTIONS.get(name, {}))
