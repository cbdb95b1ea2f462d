"""A bounded record of a pipeline run, for its report and its scores.

``RunRecorder`` watches a ``Pipeline.run`` (pass ``recorder.on_result`` as its callback)
and keeps only bounded summaries: per-frame latencies and statuses, a handful of
segmentation samples, the 2D confusion matrix against ground-truth labels, a thinned set
of observed surface points (for 3D scoring) and the process memory over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from real3d.core.machine import current_rss_mb


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
    """

    expected_frames: int | None = None
    n_samples: int = 6
    sample_every: int = 50
    rss_every: int = 10
    surface_stride: int = 8
    max_surface_points: int = 400_000
    index: list = field(default_factory=list)
    status: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    map_voxels: list = field(default_factory=list)
    rss: list = field(default_factory=list)  # (frame count, MiB)
    samples: list = field(default_factory=list)
    confusion: np.ndarray | None = None
    surface_points: list = field(default_factory=list)
    n_surface: int = 0
    trajectory: list = field(default_factory=list)
    t_start: float = field(default_factory=time.perf_counter)

    def _want_sample(self, k: int) -> bool:
        if self.expected_frames:
            picks = np.linspace(0, self.expected_frames - 1, self.n_samples).round().astype(int)
            return k in set(picks.tolist())
        return k % self.sample_every == 0 and len(self.samples) < self.n_samples

    def on_result(self, result, frame) -> None:
        from real3d.eval.metrics import confusion_matrix

        k = len(self.index)
        self.index.append(result.index)
        self.status.append(result.status)
        for name, v in result.latency_ms.items():
            self.latency.setdefault(name, [np.nan] * k).append(v)
        for v in self.latency.values():
            if len(v) < k + 1:
                v.append(np.nan)
        self.map_voxels.append(result.map_voxels)
        if k % self.rss_every == 0:
            self.rss.append((k, current_rss_mb()))
        if frame is None or result.labels is None:
            return
        gt = frame.labels
        if gt is not None and gt.shape == result.labels.shape:
            c = confusion_matrix(result.labels, gt, 13)
            self.confusion = c if self.confusion is None else self.confusion + c
        if self._want_sample(k) or (
            self.expected_frames and k == self.expected_frames - 1 and not self.samples
        ):
            self.samples.append(
                {
                    "index": result.index,
                    "status": result.status,
                    "rgb": frame.rgb.copy(),
                    "pred": result.labels.copy(),
                    "gt": None if gt is None else gt.copy(),
                }
            )
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
        if result.status == "fused" and frame.world_T_cam is not None:
            self.trajectory.append(frame.world_T_cam[:3, 3].copy())

    def latency_arrays(self) -> dict:
        return {k: np.asarray(v, np.float64) for k, v in self.latency.items()}
