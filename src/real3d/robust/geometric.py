"""Geometric shifts that one frame allows: camera roll, a narrower field of view, a lower
resolution. Every per-pixel field (colour, depth, labels, instances, normals) moves with the
image and the intrinsics and pose are updated, so the frame stays consistent.

A camera mounted higher or lower, or pitched differently, sees parts of the room that are
not in the frame (and hides others): that needs a new rendering, which the data engine does
(``real3d.synth``, a camera height / pitch of the views), not a corruption of a frame. The
same holds for a wider field of view. Roll about the optical axis is exact on a frame: it
only moves pixels within the image plane.
"""

from __future__ import annotations

import numpy as np

from real3d.core.frame import Frame
from real3d.robust._frame_ops import crop_frame_fields, resize_frame_fields, warp_frame_fields

#: camera roll in degrees (sign drawn per frame)
ROLL_DEG = (2.0, 4.0, 7.0, 10.0, 15.0)
#: share of each side kept by the centre crop (then resized back: a longer lens)
FOV_KEEP = (0.9, 0.8, 0.7, 0.6, 0.5)
#: factor by which the sensor resolution is divided (then upsampled back)
RESOLUTION_DIVISOR = (1.5, 2.0, 3.0, 5.0, 8.0)


def roll(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """The camera turned by ``ROLL_DEG`` about its optical axis. Output pixel p takes the
    source pixel ``K R^T K^-1 p`` (R the roll): exact for any intrinsics, which stay the
    same; z-depth is unchanged by a rotation about z; areas rotated in from outside get 0;
    ``world_T_cam`` becomes ``world_T_cam @ R^-1`` and normals ``R n``."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    a = np.radians(sign * ROLL_DEG[severity - 1])
    R = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    K = frame.intrinsics.K
    h, w = frame.size_hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    src = (K @ R.T @ np.linalg.inv(K)) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    out = warp_frame_fields(frame, (src[0] / src[2]).reshape(h, w), (src[1] / src[2]).reshape(h, w))
    if "normals_cam" in out:
        out["normals_cam"] = (out["normals_cam"] @ R.T.astype(np.float32)).astype(np.float32)
    if frame.world_T_cam is not None:
        T = np.eye(4)
        T[:3, :3] = R.T
        out["world_T_cam"] = frame.world_T_cam @ T
    return out


def field_of_view(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A narrower lens: the centre ``FOV_KEEP`` of each side, resized back to the frame's
    size; the intrinsics are those of the crop, rescaled (focal lengths grow by 1 / keep)."""
    h, w = frame.size_hw
    keep = FOV_KEEP[severity - 1]
    ch, cw = max(1, int(round(h * keep))), max(1, int(round(w * keep)))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    cropped = frame.replace(
        **crop_frame_fields(frame, y0, x0, ch, cw), intrinsics=frame.intrinsics.cropped(x0, y0, cw, ch)
    )
    out = resize_frame_fields(cropped, h, w)
    out["intrinsics"] = cropped.intrinsics.resized(w, h)
    return out


def resolution(frame: Frame, severity: int, rng: np.random.Generator) -> dict:
    """A lower-resolution camera: colour box-averaged and depth sampled down by
    ``RESOLUTION_DIVISOR``, then both resized back to the frame's size (colour bilinear,
    depth nearest), so the network sees the same size with less detail. Labels and the
    intrinsics stay those of the full-size image."""
    h, w = frame.size_hw
    f = RESOLUTION_DIVISOR[severity - 1]
    sh, sw = max(1, int(round(h / f))), max(1, int(round(w / f)))
    small = resize_frame_fields(frame, sh, sw, shrink=True)
    small_frame = frame.replace(
        rgb=small["rgb"],
        depth_m=small.get("depth_m"),
        intrinsics=frame.intrinsics.resized(sw, sh),
        labels=None,
        instances=None,
        depth_clean_m=None,
        normals_cam=None,
    )
    back = resize_frame_fields(small_frame, h, w)
    out = {"rgb": back["rgb"]}
    if "depth_m" in back:
        out["depth_m"] = back["depth_m"]
    return out


GEOMETRIC = {"roll": roll, "field_of_view": field_of_view, "resolution": resolution}
