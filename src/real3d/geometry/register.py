"""Depth from a separate depth camera, registered into the colour camera.

A depth camera that is not the colour camera (a RealSense's stereo module, a Kinect's IR
camera) measures from its own centre, with its own intrinsics and image size. To pair its
depth with colour pixels, every valid depth pixel is back-projected in the depth camera,
moved into the colour camera by the depth-to-colour extrinsics ``color_T_depth``
(p_color = color_T_depth @ p_depth, metres) and projected with the colour intrinsics;
where several land on one colour pixel the nearest wins (a z-buffer, so a foreground edge
hides what lies behind it). The result is z-depth in the colour camera, 0 where no depth
pixel landed (occluded in the depth camera, outside its view, or between the projected
samples when the colour image is finer than the depth image: ``fill_gaps`` closes those
one-pixel gaps).
"""

from __future__ import annotations

import numpy as np

from real3d.core.camera import Intrinsics
from real3d.core.errors import InputError, describe_array
from real3d.core.pose import check_pose


def register_depth(
    depth_m: np.ndarray,
    depth_K: Intrinsics,
    color_K: Intrinsics,
    color_T_depth: np.ndarray,
    *,
    fill_gaps: bool = True,
) -> np.ndarray:
    """Re-project depth from the depth camera into the colour camera.

    Args:
        depth_m: (Hd, Wd) float32 z-depth in metres in the depth camera, 0 = invalid
            (finite, >= 0).
        depth_K: intrinsics of the depth camera, for depth_m's size.
        color_K: intrinsics of the colour camera; the result has its size.
        color_T_depth: (4, 4) rigid transform, p_color = color_T_depth @ p_depth (metres).
        fill_gaps: fill an empty colour pixel whose opposite neighbours (left and right,
            above and below, or across a diagonal) both hold depth within 5 % of each other
            with the nearer of them (the one-pixel gaps a coarser depth image leaves between
            its projected samples); a pixel between two surfaces at different depths (an
            occlusion edge) stays empty. Image border pixels are not filled.

    Returns:
        (color_K.height, color_K.width) float32 z-depth in metres in the colour camera,
        0 where no depth landed.

    Raises:
        InputError: depth_m not (Hd, Wd) float with depth_K's size, negative or non-finite
            values, a color_T_depth that is not a rigid 4x4 transform.
    """
    d = np.asarray(depth_m)
    if d.ndim != 2 or d.dtype.kind != "f":
        raise InputError(f"register_depth: depth_m expected (H, W) float metres, got {describe_array(d)}")
    if d.shape != depth_K.size_hw:
        raise InputError(
            f"register_depth: depth_m is {d.shape[1]} x {d.shape[0]} pixels, depth_K is for "
            f"{depth_K.width} x {depth_K.height}"
        )
    if not np.isfinite(d).all() or (d < 0).any():
        raise InputError("register_depth: depth_m expected finite values >= 0 (0 = invalid)")
    T = check_pose(np.asarray(color_T_depth, np.float64), "register_depth: color_T_depth")
    v, u = np.nonzero(d > 0)
    z = d[v, u].astype(np.float64)
    x = (u - depth_K.cx) / depth_K.fx * z
    y = (v - depth_K.cy) / depth_K.fy * z
    out = zbuffer_to_color(x, y, z, T[:3, :3], T[:3, 3], color_K)
    return _fill_gaps(out) if fill_gaps else out


def zbuffer_to_color(x, y, z, R, t, color_K: Intrinsics) -> np.ndarray:
    """Depth-camera points (x, y, z) ((N,) arrays, metres) moved by p_color = R p + t
    ((3, 3), (3,)) and projected into the colour camera, nearest point per pixel:
    (color_K.height, color_K.width) float32 z-depth, 0 where no point lands. Arithmetic in
    the inputs' dtype (points behind the camera or outside the image are dropped)."""
    # p_color = R p_depth + t, written out: a (3, N) matmul is slower on small machines.
    qx = R[0, 0] * x + R[0, 1] * y + R[0, 2] * z + t[0]
    qy = R[1, 0] * x + R[1, 1] * y + R[1, 2] * z + t[1]
    qz = R[2, 0] * x + R[2, 1] * y + R[2, 2] * z + t[2]
    front = qz > 1e-6
    qx, qy, qz = qx[front], qy[front], qz[front]
    uc = np.rint(color_K.fx * qx / qz + color_K.cx).astype(np.int64)
    vc = np.rint(color_K.fy * qy / qz + color_K.cy).astype(np.int64)
    inside = (uc >= 0) & (uc < color_K.width) & (vc >= 0) & (vc < color_K.height)
    idx = vc[inside] * color_K.width + uc[inside]
    zc = qz[inside].astype(np.float32)
    # z-buffer: sort by pixel, then depth, and keep the first (nearest) entry per pixel
    # (np.minimum.at does the same but is several times slower).
    order = np.lexsort((zc, idx))
    idx, zc = idx[order], zc[order]
    first = np.ones(idx.size, dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    out = np.zeros(color_K.height * color_K.width, np.float32)
    out[idx[first]] = zc[first]
    return out.reshape(color_K.height, color_K.width)


def _fill_gaps(depth: np.ndarray, rel_tol: float = 0.05) -> np.ndarray:
    """Empty pixels between two opposite neighbours that agree within ``rel_tol`` take the
    nearer neighbour's depth; one pass over the input, so gaps of one pixel only."""
    out = depth.copy()
    core = out[1:-1, 1:-1]  # a view: filled in place
    hole = core == 0
    c = depth
    # opposite neighbours: left/right, up/down and the two diagonals
    for a, b in (
        (c[1:-1, :-2], c[1:-1, 2:]),
        (c[:-2, 1:-1], c[2:, 1:-1]),
        (c[:-2, :-2], c[2:, 2:]),
        (c[:-2, 2:], c[2:, :-2]),
    ):
        agree = (a > 0) & (b > 0) & (np.abs(a - b) <= rel_tol * np.minimum(a, b))
        fill = hole & agree & (core == 0)
        core[fill] = np.minimum(a, b)[fill]
    return out
