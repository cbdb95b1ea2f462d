"""Camera trajectories and viewpoints through free space of a synthetic scene.

Cameras are only placed where the scene's occupancy grid (geometry in the robot height
band, up to 1.8 m) is free for ``clearance_m`` around them, and camera heights stay below
that band's top, so a camera is never inside or touching an object.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from real3d.core.errors import InputError
from real3d.core.pose import camera_from_yaw_pitch
from real3d.synth.types import SceneGT, is_structure

TRAJECTORY_MODES = ("robot", "handheld")


def free_mask(scene: SceneGT, clearance_m: float = 0.3) -> np.ndarray:
    """(H, W) bool: occupancy cells at least ``clearance_m`` from any obstacle or the
    border of the known area, restricted to the largest connected free region."""
    occ = scene.occupancy
    blocked = occ.occupied | ~occ.known
    padded = np.pad(blocked, 1, constant_values=True)
    dist = ndimage.distance_transform_edt(~padded)[1:-1, 1:-1] * occ.resolution_m
    free = dist > clearance_m
    lab, n = ndimage.label(free)
    if n == 0:
        raise InputError(f"scene {scene.seed}: no free space with clearance {clearance_m} m")
    sizes = ndimage.sum(free, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def _cell_to_xy(scene: SceneGT, rc: np.ndarray) -> np.ndarray:
    occ = scene.occupancy
    rc = np.asarray(rc, dtype=np.float64).reshape(-1, 2)
    x = occ.origin_xy[0] + (rc[:, 1] + 0.5) * occ.resolution_m
    y = occ.origin_xy[1] + (rc[:, 0] + 0.5) * occ.resolution_m
    return np.stack([x, y], axis=1)


def _plan(cost: np.ndarray, a, b) -> np.ndarray:
    from skimage.graph import route_through_array

    path, _ = route_through_array(cost, tuple(a), tuple(b), fully_connected=True, geometric=True)
    return np.asarray(path)


def _resample(poly: np.ndarray, step: float) -> np.ndarray:
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 1e-9:
        return poly[:1]
    t = np.arange(0.0, s[-1], step)
    return np.stack([np.interp(t, s, poly[:, 0]), np.interp(t, s, poly[:, 1])], axis=1)


def trajectory(
    scene: SceneGT,
    n_frames: int,
    rng: np.random.Generator,
    *,
    mode: str = "robot",
    fps: float = 15.0,
    speed_mps: float | None = None,
    height_m: float | None = None,
    clearance_m: float = 0.3,
):
    """A smooth camera path through free space, one pose per frame.

    Args:
        scene: scene with an occupancy grid.
        n_frames: number of poses (>= 1).
        rng: random generator (seed it for determinism).
        mode: ``"robot"`` (a base at 0.3-1.5 m moving through free space and looking
            around) or ``"handheld"`` (1.2-1.7 m, more pitch/roll wobble).
        fps: frames per second, for timestamps and speed.
        speed_mps: walking speed; random 0.25-0.6 m/s when None.
        height_m: camera height above the floor; random per mode when None.

    Returns:
        (poses (n_frames, 4, 4) float64 world_T_cam, timestamps_s (n_frames,) float64).
    """
    if mode not in TRAJECTORY_MODES:
        raise InputError(f"trajectory: unknown mode {mode!r}; valid: {', '.join(TRAJECTORY_MODES)}")
    if n_frames < 1:
        raise InputError(f"trajectory: expected n_frames >= 1, got {n_frames}")
    free = free_mask(scene, clearance_m)
    cells = np.argwhere(free)
    speed = float(speed_mps if speed_mps is not None else rng.uniform(0.25, 0.6))
    step = speed / fps
    if height_m is None:
        height_m = rng.uniform(0.3, 1.5) if mode == "robot" else rng.uniform(1.2, 1.7)
    if not 0.1 <= height_m <= 1.75:
        raise InputError(f"trajectory: expected 0.1 <= height_m <= 1.75, got {height_m}")
    # path cost prefers corridor centres, which keeps smoothing away from obstacles
    occ = scene.occupancy
    dist = ndimage.distance_transform_edt(free) * occ.resolution_m
    cost = np.where(free, 1.0 + 2.0 * np.exp(-dist / 0.3), 1e6)
    cur = cells[rng.integers(len(cells))]
    pts = [_cell_to_xy(scene, cur)[0]]
    needed = n_frames * step + 1.0
    length = 0.0
    for _ in range(64):
        if length >= needed:
            break
        far = np.linalg.norm(cells - cur, axis=1) * occ.resolution_m > 1.5
        pool = cells[far] if far.any() else cells
        goal = pool[rng.integers(len(pool))]
        path = _plan(cost, cur, goal)
        xy = _cell_to_xy(scene, path)
        length += float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
        pts.extend(xy[1:])
        cur = goal
    poly = np.asarray(pts)
    if len(poly) < 2:
        poly = np.vstack([poly, poly + 1e-3])
    dense = _resample(poly, 0.02)
    # smooth corners; keep a sample unsmoothed if smoothing moved it into blocked cells
    sm = ndimage.gaussian_filter1d(dense, sigma=10, axis=0, mode="nearest")
    rc = occ.world_to_cell(sm)
    ok = free[np.clip(rc[:, 0], 0, free.shape[0] - 1), np.clip(rc[:, 1], 0, free.shape[1] - 1)]
    sm[~ok] = dense[~ok]
    xy = _resample(sm, step)
    if len(xy) < n_frames:  # a tiny free region: dwell at the end
        xy = np.vstack([xy, np.repeat(xy[-1:], n_frames - len(xy), axis=0)])
    xy = xy[:n_frames]
    t = np.arange(n_frames) / fps
    d = np.gradient(sm[: max(2, len(sm))], axis=0)
    heading_dense = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    heading_dense = ndimage.gaussian_filter1d(heading_dense, 15, mode="nearest")
    # map each frame to its position along the dense path for the heading
    s_frames = np.arange(n_frames) * step
    s_dense = np.arange(len(heading_dense)) * 0.02
    heading = np.interp(s_frames, s_dense, heading_dense)
    amp = rng.uniform(0.3, 1.0)
    period = rng.uniform(4.0, 10.0)
    phase = rng.uniform(0, 2 * np.pi)
    yaw = heading + amp * np.sin(2 * np.pi * t / period + phase)
    pitch0 = rng.uniform(-0.45, -0.05) if height_m > 0.8 else rng.uniform(-0.2, 0.15)
    pitch = pitch0 + 0.08 * np.sin(2 * np.pi * t / rng.uniform(3, 7) + rng.uniform(0, 6))
    roll = np.zeros(n_frames)
    z = np.full(n_frames, height_m)
    if mode == "handheld":
        pitch += 0.05 * np.sin(2 * np.pi * t / 1.3 + rng.uniform(0, 6))
        roll = 0.04 * np.sin(2 * np.pi * t / 2.1 + rng.uniform(0, 6))
        z = z + 0.02 * np.sin(2 * np.pi * t / 0.9 + rng.uniform(0, 6))
    poses = np.stack(
        [camera_from_yaw_pitch((xy[i, 0], xy[i, 1], z[i]), yaw[i], pitch[i], roll[i]) for i in range(n_frames)]
    )
    return poses, t


def random_viewpoint(
    scene: SceneGT, rng: np.random.Generator, free: np.ndarray | None = None, clearance_m: float = 0.3
) -> np.ndarray:
    """One camera pose looking at scene content, like a person photographing a room.

    Mostly (85 %) the camera picks a random object (furniture or clutter), stands in free
    space 0.7-2.8 m from it (larger objects chosen more often) at 0.5-1.7 m height and aims
    at it with some jitter, as NYUv2's hand-held frames do; otherwise it stands anywhere free
    and looks in a random direction, slightly down.

    Returns:
        (4, 4) float64 world_T_cam.
    """
    if free is None:
        free = free_mask(scene, clearance_m)
    cells = np.argwhere(free)
    res = scene.occupancy.resolution_m
    z = float(np.clip(rng.normal(1.3, 0.25), 0.5, 1.7))
    targets = [o for o in scene.objects if not is_structure(o.class_name)]
    if targets and rng.random() < 0.85:
        # larger objects are aimed at more often (a person frames the bed, not the cup)
        w = np.array([np.sqrt(max(t.size[0], t.size[1]) * t.size[2]) for t in targets]) + 0.1
        o = targets[rng.choice(len(targets), p=w / w.sum())]
        centres = _cell_to_xy(scene, cells)
        dist = np.linalg.norm(centres - o.center[:2], axis=1)
        near = np.flatnonzero((dist > 0.7) & (dist < 2.8))
        if len(near):
            pos = centres[near[rng.integers(len(near))]] + rng.uniform(-0.5, 0.5, 2) * res
            d = o.center[:2] - pos
            yaw = float(np.arctan2(d[1], d[0]) + rng.normal(0, 0.2))
            aim_z = o.center[2] + rng.normal(0, 0.2)
            pitch = float(np.arctan2(aim_z - z, max(float(np.linalg.norm(d)), 0.3)) + rng.normal(0, 0.08))
            pitch = float(np.clip(pitch, -0.9, 0.3))
            return camera_from_yaw_pitch((pos[0], pos[1], z), yaw, pitch, float(rng.normal(0, 0.04)))
    pos = _cell_to_xy(scene, cells[rng.integers(len(cells))])[0] + rng.uniform(-0.5, 0.5, 2) * res
    yaw = float(rng.uniform(-np.pi, np.pi))
    pitch = float(np.clip(rng.normal(-0.25, 0.2), -0.9, 0.3))
    return camera_from_yaw_pitch((pos[0], pos[1], z), yaw, pitch, float(rng.normal(0, 0.04)))
