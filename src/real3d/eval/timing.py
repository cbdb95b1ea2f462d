"""Timing helpers shared by the benchmarks: the median wall time of a call, and the fixed
random inputs a segmentation network is timed on."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall-clock milliseconds of ``fn()`` over ``repeats`` calls, after ``warmup``
    untimed calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def random_inputs(config, size_hw: tuple[int, int], seed: int = 0):
    """(rgb, depth) for timing a network built from ``config`` (a ``SegNetConfig``): rgb
    (1, 3, H, W) float32 in [0, 1] and depth (1, 1, H, W) float32 metres in [0.5, 5.5], each
    None where the network does not use it; the same for the same seed."""
    import torch

    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1, 3, *size_hw, generator=g) if config.uses_rgb else None
    depth = torch.rand(1, 1, *size_hw, generator=g) * 5 + 0.5 if config.uses_depth else None
    return rgb, depth
