"""Frames as they enter the pipeline: reading them from a source for ``Pipeline.run`` (an
undecodable frame becomes a report, not the end of the stream), the per-frame work record,
and the pose helpers of keyframe selection and floor alignment."""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError, Real3DError
from real3d.core.frame import Frame


class _ReadError:
    """Stands in for a frame the source could not deliver (reader error)."""

    def __init__(self, index: int, reason: str):
        self.index, self.reason = index, reason


def _iterate(source, max_frames: int | None):
    """Frames of ``source``; indexable sources are read by index so that one undecodable
    frame becomes a ``_ReadError`` instead of ending the iteration."""
    n_max = max_frames if max_frames is not None else None
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        n = len(source)
        if n_max is not None:
            n = min(n, n_max)
        for k in range(n):
            try:
                yield source[k]
            except (Real3DError, OSError, ValueError) as e:
                yield _ReadError(k, f"read error: {e}")
        return
    it = iter(source)
    k = 0
    while n_max is None or k < n_max:
        try:
            obj = next(it)
        except StopIteration:
            return
        except (Real3DError, OSError, ValueError) as e:
            # A generator cannot continue after raising: report it and stop.
            yield _ReadError(k, f"read error (source ended): {e}")
            return
        yield obj
        k += 1


def _pose_delta(a_T: np.ndarray, b_T: np.ndarray) -> tuple[float, float]:
    """(translation metres, rotation degrees) between two poses."""
    t = float(np.linalg.norm(a_T[:3, 3] - b_T[:3, 3]))
    r = a_T[:3, :3].T @ b_T[:3, :3]
    ang = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))
    return t, ang


#: a floor fit is trusted when its plane holds at least this share of the depth points ...
FLOOR_MIN_SHARE = 0.08
#: ... and at most this share lies more than FLOOR_BELOW_M below it (a floor has nothing under it)
FLOOR_MAX_BELOW = 0.02
FLOOR_BELOW_M = 0.05


def _floor_pose(frame: Frame, strict: bool = True) -> np.ndarray:
    """world_T_cam of a camera whose world is the gravity frame of its own floor plane
    (z up, floor z = 0); raises InputError when no floor is found, or (``strict``) when
    the plane found is not convincingly the floor (it holds under ``FLOOR_MIN_SHARE`` of the depth points,
    or more than ``FLOOR_MAX_BELOW`` of them lie ``FLOOR_BELOW_M`` below it): with little
    floor in view, the best plane is often a tilted one through furniture, and a gravity
    frame fitted to it would tilt the whole map."""
    from real3d.geometry.projection import depth_to_world_points
    from real3d.nav.gravity import floor_alignment

    d = np.zeros_like(frame.depth_m)
    d[::4, ::4] = frame.depth_m[::4, ::4]
    pts, _ = depth_to_world_points(d, frame.intrinsics, np.eye(4))
    if len(pts) < 100:
        raise InputError("too few depth points for a floor fit")
    # Camera frame as world: image-up (-y) is the rough up direction.
    world_T_gravity, gravity_T_cam = floor_alignment(pts, up_hint=(0.0, -1.0, 0.0))
    height = (pts - world_T_gravity[:3, 3]) @ world_T_gravity[:3, 2]
    share = float((np.abs(height) < 0.02).mean())
    below = float((height < -FLOOR_BELOW_M).mean())
    if strict and (share < FLOOR_MIN_SHARE or below > FLOOR_MAX_BELOW):
        raise InputError(
            f"no convincing floor (the best plane holds {100 * share:.0f} % of the depth points, "
            f"{100 * below:.0f} % lie below it)"
        )
    return gravity_T_cam


# ---------------------------------------------------------------------------- pipeline
class _Item:
    """A frame travelling between the stages, with its timings."""

    __slots__ = (
        "index",
        "frame",
        "t_in",
        "lat",
        "labels",
        "segmentation",
        "model",
        "status",
        "reason",
        "pose",
        "health",
        "predicted",
    )

    def __init__(self, index: int, frame, t_in: float):
        self.index, self.frame, self.t_in = index, frame, t_in
        self.lat: dict = {}
        self.labels = None  # (H, W) uint8
        self.segmentation = None  # SegmentationResult; None: the frame's own labels
        self.model = ""
        self.status = ""
        self.reason = None
        self.pose = None
        self.health = None  # real3d.robust.FrameHealth with PipelineConfig.health_check
        self.predicted = None  # real3d.models.depth.DepthPrediction of a frame without usable depth
