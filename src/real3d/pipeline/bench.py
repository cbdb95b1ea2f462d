"""Throughput and memory of a whole pipeline run (``benchmark``, peak RSS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from real3d.core.machine import peak_rss_mb, peak_rss_reset

if TYPE_CHECKING:
    from real3d.pipeline.runner import Pipeline

__all__ = ["benchmark", "peak_rss_mb", "peak_rss_reset"]


def benchmark(pipeline: Pipeline, frames, warmup: int = 5) -> dict:
    """Throughput and latency of ``pipeline.run`` over ``frames[warmup:]`` (already
    decoded, so the source costs nothing), after ``frames[:warmup]`` went through ``step``
    (allocator and kernel warm-up).

    Returns:
        {"frames", "fps", "wall_s", "latency_ms": {stage: {"p50", "p95", "mean"}},
         "refresh_ms": {kind: {"count", "p50", "p95", "max"}}, "refresh_waits",
         "peak_rss_mb", "counts"}; the map is reset before the measured run
        (``RunSummary.latency_percentiles``, ``refresh_percentiles``).
    """
    frames = list(frames)
    for f in frames[:warmup]:
        pipeline.step(f)
    pipeline.reset()
    peak_rss_reset()
    s = pipeline.run(frames[warmup:])
    return {
        "frames": s.frames_in,
        "fps": s.fps,
        "wall_s": s.wall_s,
        "latency_ms": s.latency_percentiles(),
        "refresh_ms": s.refresh_percentiles(),
        "refresh_waits": s.refresh_waits,
        "peak_rss_mb": peak_rss_mb(),
        "counts": dict(s.counts),
    }
