"""NYU Depth v2's published tables, shipped in ``real3d/io/data``: the 894 -> 40 class
mapping and class names, the official train/test split and the per-frame gravity rotations.

Kept apart from the NYU readers so that the shared label conversion
(``real3d.io.base.map_label_ids``) can use the class mapping without importing them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

_DATA = "real3d.io.data"


@lru_cache(maxsize=1)
def nyu894_to_40() -> np.ndarray:
    """uint8 (895,) table: NYU 894-class id -> NYUv2-40 id (0 -> 0)."""
    with resources.files(_DATA).joinpath("nyu894_to_40.npy").open("rb") as f:
        return np.load(f)


@lru_cache(maxsize=1)
def nyu894_names() -> tuple[str, ...]:
    """Names of the 894 classes; ``names[i]`` is class id ``i + 1``."""
    return tuple(json.loads(resources.files(_DATA).joinpath("nyu894_names.json").read_text()))


@lru_cache(maxsize=1)
def nyu_splits() -> dict[str, tuple[int, ...]]:
    """Official split: {"train": 795, "test": 654} 0-based indices into the 1,449 frames."""
    d = json.loads(resources.files(_DATA).joinpath("nyu_splits.json").read_text())
    return {k: tuple(v) for k, v in d.items()}


@lru_cache(maxsize=1)
def nyu_gravity_rotations() -> np.ndarray:
    """float64 (1449, 3, 3): per labeled frame, R with ``p_g = R @ p_cam`` where the
    gravity-aligned frame g keeps the camera's axes names with +y pointing down along gravity.

    Direction checked on the data: read this way the median camera looks 8 degrees below
    the horizon, as a hand-held Kinect does (the transpose would have it look up).
    """
    with resources.files(_DATA).joinpath("nyu_gravity_rotations.npy").open("rb") as f:
        return np.load(f).astype(np.float64)
