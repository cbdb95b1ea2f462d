"""A bounded record of a pipeline run, for its report and its scores.

``RunRecorder`` watches a ``Pipeline.run`` (pass ``recorder.on_result`` as its callback)
and keeps only bounded summaries: per-frame latencies and statuses, a handful of
segmentation samples, the 2D confusion matrix against ground-truth labels, a thinned set
of observed surface points (for 3D scoring), the pixels each ground-truth object was seen
on (which objects the scene graph is scored against) and the process memory over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from real3d.core.errors import InputError
from real3d.core.labels import get_label_set
from real3d.core.machine import current_rss_mb


#: the per-frame sensor health measures a recorder keeps (``FrameHealth`` attributes)
HEALTH_SERIES = ("valid_depth", "mean_luma", "sharpness", "noise_sigma", "flagged")


@dataclass
class RunRecorder:
    """Bounded record of a run, fed by ``on_result(result, frame)``.

    Args:
        expected_frames: frames the source will deliver (spreads the segmentation samples
            evenly); None keeps every ``sample_every``-th processed frame.
        n_samples: segmentation samples to keep.
        rss_every: sample the process memory every this many frames.
        surface_stride, max_surface_points: thinning of the ground-truth surface points
            seen by the camera (synthetic data with ``depth_clean_m``) for 3D scoring.
        max_rows: per-frame rows (``position``, ``index``, ``status``, ``latency``,
            ``map_voxels``, ``health``) kept before they are thinned: then every other row is dropped
            and only every ``row_stride``-th frame is recorded (the stride doubles each
            time they fill up again), so a run of any length keeps an evenly spaced
            sample. ``rss`` is thinned the same way at ``max(20, max_rows // 50)`` samples.

    ``instance_pixels`` counts, per ground-truth instance id, the pixels with a depth
    reading on which the fused frames saw it (frames with an ``instances`` image only);
    ``seen_instances()`` turns it into the set of objects the map can know about.

    ``position`` is each kept row's place in the stream (0-based, dropped frames included).
    ``health`` holds, per row, the sensor health measures of frames the pipeline checked
    (``PipelineConfig.health_check``; NaN for the others): ``valid_depth`` (share of pixels),
    ``mean_luma`` (0..1), ``sharpness`` (1/pixel^2), ``noise_sigma`` (0..1) and ``flagged``
    (1.0 or 0.0); empty when no frame was checked.
    """

    expected_frames: int | None = None
    n_samples: int = 6
    sample_every: int = 50
    rss_every: int = 10
    surface_stride: int = 8
    max_surface_points: int = 400_000
    max_rows: int = 20_000
    position: list = field(default_factory=list)
    index: list = field(default_factory=list)
    status: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    map_voxels: list = field(default_factory=list)
    health: dict = field(default_factory=dict)
    rss: list = field(default_factory=list)  # (frame count, MiB)
    samples: list = field(default_factory=list)
    confusion: np.ndarray | None = None
    surface_points: list = field(default_factory=list)
    n_surface: int = 0
    instance_pixels: dict = field(default_factory=dict)
    #: whether any fused frame carried a ground-truth ``instances`` image
    has_instances: bool = False
    frames_seen: int = 0
    row_stride: int = 1
    #: capture time (seconds, the source's clock) of the last fused frame; None before one
    last_fused_s: float | None = None
    t_start: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if isinstance(self.max_rows, bool) or int(self.max_rows) != self.max_rows or self.max_rows < 100:
            raise InputError(f"RunRecorder: max_rows must be an integer >= 100, got {self.max_rows!r}")
        if isinstance(self.rss_every, bool) or int(self.rss_every) != self.rss_every or self.rss_every < 1:
            raise InputError(f"RunRecorder: rss_every must be an integer >= 1, got {self.rss_every!r}")

    def _record_row(self, k: int, result) -> None:
        if k % self.row_stride:
            return
        n = len(self.position)
        self.position.append(k)
        self.index.append(result.index)
        self.status.append(result.status)
        for name, v in result.latency_ms.items():
            self.latency.setdefault(name, [np.nan] * n).append(v)
        for v in self.latency.values():
            if len(v) < n + 1:
                v.append(np.nan)
        self.map_voxels.append(result.map_voxels)
        h = getattr(result, "health", None)
        if h is not None and not self.health:
            self.health = {k: [np.nan] * n for k in HEALTH_SERIES}
        if self.health:
            for k, v in self.health.items():
                v.append(np.nan if h is None else float(h.flagged if k == "flagged" else getattr(h, k)))
        if len(self.position) >= self.max_rows:
            for name in ("position", "index", "status", "map_voxels"):
                setattr(self, name, getattr(self, name)[::2])
            self.latency = {name: v[::2] for name, v in self.latency.items()}
            self.health = {name: v[::2] for name, v in self.health.items()}
            self.row_stride *= 2

    def _want_sample(self, k: int) -> bool:
        if self.expected_frames:
            picks = np.linspace(0, self.expected_frames - 1, self.n_samples).round().astype(int)
            return k in set(picks.tolist())
        return k % self.sample_every == 0 and len(self.samples) < self.n_samples

    def on_result(self, result, frame) -> None:
        from real3d.eval.metrics import confusion_matrix

        k = self.frames_seen
        self.frames_seen += 1
        self._record_row(k, result)
        if result.status == "fused" and getattr(result, "timestamp_s", None) is not None:
            self.last_fused_s = float(result.timestamp_s)
        if k % self.rss_every == 0:
            self.rss.append((k, current_rss_mb()))
            if len(self.rss) >= max(20, self.max_rows // 50):
                self.rss = self.rss[::2]
                self.rss_every *= 2
        if frame is None or result.labels is None:
            return
        gt = frame.labels
        if gt is not None and gt.shape == result.labels.shape:
            c = confusion_matrix(result.labels, gt, get_label_set(getattr(frame, "label_set", "nyu13")).num_classes)
            self.confusion = c if self.confusion is None else self.confusion + c
        if self._want_sample(k) or (self.expected_frames and k == self.expected_frames - 1 and not self.samples):
            self.samples.append(
                {
                    "index": result.index,
                    "status": result.status,
                    "rgb": frame.rgb.copy(),
                    "pred": result.labels.copy(),
                    "gt": None if gt is None else gt.copy(),
                }
            )
        if result.status == "fused" and getattr(frame, "instances", None) is not None:
            from real3d.scene.evaluate import add_instance_pixels

            self.has_instances = True
            add_instance_pixels(self.instance_pixels, frame)
        if (
            result.status == "fused"
            and frame.depth_clean_m is not None
            and frame.world_T_cam is not None
            and self.n_surface < self.max_surface_points
        ):
            from real3d.mapping.evaluate import observed_surface_points

            p = observed_surface_points([frame], stride=self.surface_stride)
            self.surface_points.append(p.astype(np.float32))
            self.n_surface += len(p)

    def seen_instances(self, min_pixels: int | None = None) -> set[int] | None:
        """Ground-truth instance ids seen on at least ``min_pixels`` depth pixels over the
        fused frames (default ``real3d.scene.evaluate.MIN_SEEN_PIXELS``); None when no fused
        frame carried an ``instances`` image (then nothing says which objects were seen)."""
        from real3d.scene.evaluate import MIN_SEEN_PIXELS

        if not self.has_instances:
            return None
        k = MIN_SEEN_PIXELS if min_pixels is None else min_pixels
        return {i for i, c in self.instance_pixels.items() if c >= k}

    def latency_arrays(self) -> dict:
        return {k: np.asarray(v, np.float64) for k, v in self.latency.items()}
