"""What the pipeline reports: ``StepResult`` per frame, ``RunSummary`` per run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.errors import InputError
from real3d.pipeline.config import STATUSES


@dataclass(frozen=True)
class StepResult:
    """What the pipeline did with one frame.

    Attributes:
        index: the frame's position in the stream in ``run`` (0-based, counting every item
            the source delivered or failed to deliver); ``Frame.index`` in ``step``.
        timestamp_s: the frame's capture time (0 when unknown).
        status: ``"fused"``, ``"rgb_only"``, ``"skipped"`` or ``"dropped"``.
        reason: why a frame was skipped, dropped or not fused; None when fused, except for
            a frame that re-anchored the pose check (``"pose re-anchored: ..."``).
        labels: (H, W) uint8 labels of the pipeline's label set (``Pipeline.label_set``,
            NYUv2-13 by default), None for skipped / dropped frames.
        latency_ms: milliseconds per stage that ran (keys of ``STAGES``) and ``"total"``:
            from the frame's arrival to its result in realtime mode (queue waits included),
            from the start of its processing in offline mode (where the source is read
            ahead) and in ``step``.
        model: which segmentation model ran (``"rgbd"``, ``"rgb"`` or ``""``).
        map_voxels: fine voxels in the map after this frame.
        map_bytes: bytes of voxel storage after this frame.
        depth_source: the depth the map fused: ``"sensor"``, ``"predicted"`` (the depth
            model's, for a frame without usable depth: ``PipelineConfig.depth_model``) or
            ``""`` (not fused).
        health: the frame's sensor health (a ``real3d.robust.FrameHealth``) with
            ``PipelineConfig.health_check``, else None.
        n_objects: object nodes in the scene graph in use after this frame (with
            ``background_refresh``, the last refresh put in place: see
            ``real3d.pipeline.refresh``).
    """

    index: int
    timestamp_s: float
    status: str
    reason: str | None = None
    labels: np.ndarray | None = None
    latency_ms: dict = field(default_factory=dict)
    model: str = ""
    map_voxels: int = 0
    map_bytes: int = 0
    n_objects: int = 0
    depth_source: str = ""
    health: object | None = None


#: gaps listed by ``RunSummary.gaps`` (all are counted)
MAX_GAPS_LISTED = 100
#: frames listed by ``RunSummary.skipped`` / ``rgb_only`` / ``dropped`` each (all are counted)
MAX_FRAMES_LISTED = 1000
#: the checks of the sensor health check, as ``RunSummary.health["by_fault"]`` counts them
HEALTH_FAULTS = ("depth", "exposure", "blur", "noise")


def count_health(tally: dict, res: StepResult) -> dict:
    """Add ``res.health`` (when the frame was checked) to ``tally``, the dict of
    ``RunSummary.health`` (filled in on the first checked frame); returns ``tally``."""
    h = res.health
    if h is None:
        return tally
    if not tally:
        tally.update(checked=0, flagged=0, by_fault=dict.fromkeys(HEALTH_FAULTS, 0), depth_switched=0, frames=[])
    tally["checked"] += 1
    for k in h.faults:
        tally["by_fault"][k] += 1
    if h.flagged:
        tally["flagged"] += 1
        if len(tally["frames"]) < MAX_FRAMES_LISTED:
            tally["frames"].append({"index": res.index, "reason": h.reason})
    if h.has_depth and h.depth_flag and res.status in ("fused", "rgb_only") and res.model == "rgb":
        tally["depth_switched"] += 1
    return tally


#: per-frame latency rows ``RunSummary.latency_ms`` keeps before it thins them
MAX_LATENCY_ROWS = 20_000


class ThinnedRows:
    """Per-frame rows of named values that stay bounded over a run of any length.

    Every row is kept until ``capacity`` rows are held; then every other row is dropped
    and from then on only every ``stride``-th offered row is kept (the stride doubles each
    time the rows fill up again). The rows left are an evenly spaced sample of the whole
    run, so percentiles over them estimate the run's; ``positions`` says which offered row
    (0-based) each kept row was.
    """

    def __init__(self, names, capacity: int = MAX_LATENCY_ROWS) -> None:
        if isinstance(capacity, bool) or int(capacity) != capacity or capacity < 2:
            raise InputError(f"ThinnedRows: capacity must be an integer >= 2, got {capacity!r}")
        self.capacity = int(capacity)
        self.stride = 1
        self.offered = 0
        self.positions: list[int] = []
        self.values: dict[str, list[float]] = {k: [] for k in names}

    def add(self, row: dict) -> None:
        """Offer one row ({name: value}; a missing name counts 0)."""
        k = self.offered
        self.offered += 1
        if k % self.stride:
            return
        self.positions.append(k)
        for name, v in self.values.items():
            v.append(float(row.get(name, 0.0)))
        if len(self.positions) >= self.capacity:
            self.positions = self.positions[::2]
            for name in self.values:
                self.values[name] = self.values[name][::2]
            self.stride *= 2

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float64) for k, v in self.values.items()}


@dataclass
class RunSummary:
    """Counts and timings of a ``Pipeline.run``.

    Attributes:
        frames_in: items taken from the source.
        counts: {status: frames}.
        skipped: (index, reason) of the first ``MAX_FRAMES_LISTED`` skipped frames.
        dropped: indices of the first ``MAX_FRAMES_LISTED`` dropped frames.
        rgb_only: (index, reason) of the first ``MAX_FRAMES_LISTED`` frames segmented
            without depth and not fused. ``counts`` counts them all.
        wall_s: wall-clock seconds of the run.
        fps: processed (fused + rgb_only) frames per wall-clock second.
        latency_ms: {stage: (N,) float64 per processed frame, 0 where the stage did not run};
            over ``MAX_LATENCY_ROWS`` processed frames, an evenly spaced sample of them
            (``latency_stride``: every how many processed frames a row was kept).
        mode, overload_policy: how the run was made.
        stopped: the run was stopped early (``Pipeline.run``'s ``stop``) before the source
            ended: the counts and outputs cover the frames taken so far.
        gaps: (index, seconds) of the first ``MAX_GAPS_LISTED`` realtime replay gaps longer
            than ``PipelineConfig.max_gap_s``: the frame came that long after the previous
            one in the recording, the replay waited only ``max_gap_s``. n_gaps: all of them.
        refresh_ms: {kind: (R,) float64 milliseconds of each refresh put in place during
            the run}: ``"snapshot"`` (copying the map, on the frame path), ``"refine"``,
            ``"graph"``, ``"costmap"`` (their own time, on the background thread with
            ``background_refresh``, else inside the frame).
        predicted_depth: frames fused with the depth model's depth (no usable depth of their own).
        health: with ``PipelineConfig.health_check``: ``checked``, ``flagged`` (frames),
            ``by_fault`` (frames per failed check: depth, exposure, blur, noise),
            ``depth_switched`` (frames with depth that failed the check and went to the RGB
            model), ``frames`` ({index, reason} of the first flagged frames); else empty.
        refresh_waits: frames that had to wait for a background refresh still running
            (see ``real3d.pipeline.refresh``); refresh_errors: background refreshes that
            failed (``Pipeline.notes["refresh"]`` says why).
    """

    frames_in: int = 0
    counts: dict = field(default_factory=lambda: {s: 0 for s in STATUSES})
    skipped: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    rgb_only: list = field(default_factory=list)
    wall_s: float = 0.0
    latency_ms: dict = field(default_factory=dict)
    mode: str = "offline"
    overload_policy: str = "drop"
    stopped: bool = False
    gaps: list = field(default_factory=list)
    n_gaps: int = 0
    latency_stride: int = 1
    refresh_ms: dict = field(default_factory=dict)
    refresh_waits: int = 0
    refresh_errors: int = 0
    predicted_depth: int = 0
    health: dict = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.counts["fused"] + self.counts["rgb_only"]

    @property
    def fps(self) -> float:
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def latency_percentiles(self, q=(50, 95)) -> dict:
        """{stage: {"p50": ms, "p95": ms, "mean": ms}} over the frames where it ran; the
        refreshes (``"refine"``, ``"graph"``, ``"costmap"``) that ran on the background
        thread instead, over their ``refresh_ms``: each refresh's own duration either way."""
        out = {}
        series = dict(self.latency_ms)
        for k in ("refine", "graph", "costmap"):
            v = np.asarray(series.get(k, ()), np.float64)
            if not (v > 0).any() and len(self.refresh_ms.get(k, ())):
                series[k] = self.refresh_ms[k]
        for k, v in series.items():
            v = np.asarray(v, np.float64)
            v = v[v > 0] if k in ("refine", "graph", "costmap", "refresh") else v
            if len(v):
                out[k] = {f"p{p}": float(np.percentile(v, p)) for p in q}
                out[k]["mean"] = float(v.mean())
        return out

    def refresh_percentiles(self, q=(50, 95)) -> dict:
        """{kind: {"count", "p50": ms, "p95": ms, "max": ms}} of ``refresh_ms``."""
        out = {}
        for k, v in self.refresh_ms.items():
            v = np.asarray(v, np.float64)
            if len(v):
                out[k] = {"count": len(v), **{f"p{p}": float(np.percentile(v, p)) for p in q}, "max": float(v.max())}
        return out

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "overload_policy": self.overload_policy,
            "frames_in": self.frames_in,
            "counts": dict(self.counts),
            "processed": self.processed,
            "wall_s": self.wall_s,
            "fps": self.fps,
            "skipped": [{"index": i, "reason": r} for i, r in self.skipped],
            "rgb_only": [{"index": i, "reason": r} for i, r in self.rgb_only],
            "dropped": list(self.dropped),
            "latency_ms": self.latency_percentiles(),
            "latency_stride": self.latency_stride,
            "refresh_ms": self.refresh_percentiles(),
            "refresh_waits": self.refresh_waits,
            "refresh_errors": self.refresh_errors,
            "stopped": self.stopped,
            "n_gaps": self.n_gaps,
            "gaps": [{"index": i, "gap_s": g} for i, g in self.gaps],
            "predicted_depth": self.predicted_depth,
            **({"sensor_health": self.health} if self.health else {}),
        }


# ---------------------------------------------------------------------------- models
