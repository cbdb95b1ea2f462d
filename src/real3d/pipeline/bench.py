"""Throughput and memory of a whole pipeline run (``benchmark``, peak RSS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from real3d.pipeline.runner import Pipeline





def peak_rss_reset() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs``); False when
    not possible (then ``peak_rss_mb`` keeps the process-wide peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory since the last ``peak_rss_reset`` (or process start), MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark(pipeline: Pipeline, frames, warmup: int = 5) -> dict:
    """Throughput and latency of ``pipeline.run`` over ``frames[warmup:]`` (already
    decoded, so the source costs nothing), after ``frames[:warmup]`` went through ``step``
    (allocator and kernel warm-up).

    Returns:
        {"frames", "fps", "wall_s", "latency_ms": {stage: {"p50", "p95", "mean"}},
         "peak_rss_mb", "counts"}; the map is reset before the measured run.
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
        "peak_rss_mb": peak_rss_mb(),
        "counts": dict(s.counts),
    }
