"""Gravity from the floor: RANSAC plane fit and the alignment it gives.

Real sequences come in an arbitrary world frame. Navigation needs z up with the floor at
z = 0; ``floor_alignment`` finds the floor plane among back-projected points and returns
``world_T_gravity`` (p_world = world_T_gravity @ p_gravity) and its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.pose import invert_pose


@dataclass(frozen=True)
class PlaneFit:
    """Plane n . p + d = 0 with unit normal ``normal`` (3,), offset ``d`` (metres), inlier
    mask (N,) bool over the input points."""

    normal: np.ndarray
    d: float
    inliers: np.ndarray


def ransac_plane(
    points: np.ndarray,
    threshold_m: float = 0.02,
    iterations: int = 300,
    up_hint=None,
    max_angle_rad: float = np.deg2rad(30),
    seed: int = 0,
    floor_band_m: float = 0.15,
) -> PlaneFit:
    """Largest plane among (N, 3) points; with ``up_hint`` only planes whose normal lies
    within ``max_angle_rad`` of it count, and the normal is oriented along the hint.

    With a hint, the floor rather than a large table top: among planes with at least half
    the best support, those within ``floor_band_m`` of the lowest form the floor level, and
    the best supported of them wins (a plane tilted through part of the floor can pass
    lower under the camera than the floor itself; it must not win on height alone).
    """
    p = np.asarray(points, np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) < 3:
        raise InputError(f"ransac_plane: expected (N >= 3, 3) points, got {describe_array(p)}")
    rng = np.random.default_rng(seed)
    up = None if up_hint is None else np.asarray(up_hint, float) / np.linalg.norm(up_hint)
    sub = p if len(p) <= 20000 else p[rng.choice(len(p), 20000, replace=False)]
    candidates = []
    for a, b, c in rng.integers(0, len(p), size=(iterations, 3)):
        n = np.cross(p[b] - p[a], p[c] - p[a])
        nn = np.linalg.norm(n)
        if nn < 1e-9:
            continue
        n /= nn
        if up is not None:
            if n @ up < 0:
                n = -n
            if np.arccos(np.clip(n @ up, -1, 1)) > max_angle_rad:
                continue
        d = -float(n @ p[a])
        count = int((np.abs(sub @ n + d) < threshold_m).sum())
        candidates.append((count, -d, n, d))  # -d: height of the plane along its normal
    if not candidates:
        raise InputError("ransac_plane: no plane found (degenerate points or no plane within the angle)")
    top = max(c[0] for c in candidates)
    if up is not None:
        # Floor, not a table top: the best supported plane near the lowest level among
        # the planes with at least half the best support.
        strong = [c for c in candidates if c[0] >= 0.5 * top]
        low = min(c[1] for c in strong)
        best = max((c for c in strong if c[1] <= low + floor_band_m), key=lambda c: c[0])
    else:
        best = max(candidates, key=lambda c: c[0])
    _, _, n, d = best
    inl = np.abs(p @ n + d) < threshold_m
    # Least-squares refinement on the inliers.
    q = p[inl]
    if len(q) >= 3:
        centroid = q.mean(axis=0)
        _, _, vt = np.linalg.svd(q - centroid, full_matrices=False)
        n2 = vt[2] if vt[2] @ n > 0 else -vt[2]
        n, d = n2, -float(n2 @ centroid)
        inl = np.abs(p @ n + d) < threshold_m
    return PlaneFit(n, d, inl)


def floor_alignment(points_world: np.ndarray, up_hint=(0.0, 0.0, 1.0), **ransac_kw) -> tuple[np.ndarray, np.ndarray]:
    """Gravity frame from the floor plane.

    Args:
        points_world: (N, 3) world points (e.g. back-projected depth of a few frames).
        up_hint: rough up direction in the world frame (for a camera-as-world sequence,
            (0, -1, 0), the image-up direction of the first camera).

    Returns:
        (world_T_gravity, gravity_T_world) 4x4 float64: in the gravity frame the floor is
        z = 0 with +z up; x follows the world x axis projected onto the floor.
    """
    fit = ransac_plane(points_world, up_hint=up_hint, **ransac_kw)
    z = fit.normal
    x = np.array([1.0, 0.0, 0.0]) - z[0] * z
    if np.linalg.norm(x) < 1e-6:
        x = np.array([0.0, 1.0, 0.0]) - z[1] * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)  # gravity axes in world coordinates
    origin = -fit.d * z  # the floor point closest to the world origin
    world_T_gravity = np.eye(4)
    world_T_gravity[:3, :3] = R
    world_T_gravity[:3, 3] = origin
    return world_T_gravity, invert_pose(world_T_gravity)
