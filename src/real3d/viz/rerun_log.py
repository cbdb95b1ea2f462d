"""Optional rerun recording (``recording.rrd``) of a pipeline run.

rerun-sdk is an optional extra (``pip install 'real3d[viz]'``, about 670 MB); without it
``RerunLogger.create`` returns None and nothing is written. The recording holds, on a
``frame`` timeline, the camera pose, colour image and predicted labels of every
``every``-th processed frame, and at the end the map's labelled surface points.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from real3d.core.labels import NYU13


def rerun_available() -> bool:
    return importlib.util.find_spec("rerun") is not None


class RerunLogger:
    """Logs to a temporary ``.rrd`` next to ``path``; ``finish`` renames it into place."""

    def __init__(self, path, every: int = 5) -> None:
        import rerun as rr

        self.rr = rr
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.every = max(1, int(every))
        self.rec = rr.RecordingStream("real3d")
        self.rec.save(str(self.tmp))
        self._n = 0
        ann = rr.AnnotationContext([(i, n, tuple(int(c) for c in NYU13.colors[i])) for i, n in enumerate(NYU13.names)])
        self.rec.log("/", ann, static=True)
        self.rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)

    @classmethod
    def create(cls, path, every: int = 5):
        """A logger, or None when rerun-sdk is not installed."""
        if not rerun_available():
            return None
        return cls(path, every)

    def _set_time(self, k: int) -> None:
        if hasattr(self.rec, "set_time"):
            self.rec.set_time("frame", sequence=k)
        else:
            self.rec.set_time_sequence("frame", k)

    def log_frame(self, result, frame) -> None:
        """Pose, rgb and labels of every ``every``-th frame that has labels."""
        self._n += 1
        if frame is None or result.labels is None or (self._n - 1) % self.every:
            return
        rr = self.rr
        self._set_time(result.index)
        if frame.world_T_cam is not None:
            T = frame.world_T_cam
            self.rec.log("world/camera", rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]))
            K = frame.intrinsics
            self.rec.log(
                "world/camera",
                rr.Pinhole(
                    focal_length=[K.fx, K.fy],
                    principal_point=[K.cx, K.cy],
                    width=K.width,
                    height=K.height,
                ),
            )
        self.rec.log("world/camera/rgb", rr.Image(frame.rgb))
        self.rec.log("world/camera/labels", rr.SegmentationImage(result.labels))

    def finish(self, pipeline) -> Path:
        """Log the map's surface points and move the recording into place."""
        rr = self.rr
        sp = pipeline.map.semantic_points()
        if len(sp):
            self.rec.log(
                "world/map",
                rr.Points3D(
                    sp.points,
                    colors=NYU13.colorize(sp.labels),
                    class_ids=sp.labels.astype(np.uint16),
                    radii=pipeline.map.voxel_size_m / 2,
                ),
                static=True,
            )
        self.rec.flush()
        if hasattr(self.rec, "disconnect"):
            self.rec.disconnect()
        os.replace(self.tmp, self.path)
        return self.path
