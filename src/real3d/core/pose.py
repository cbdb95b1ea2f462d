"""Rigid transforms as 4x4 float64 matrices named ``a_T_b`` (p_a = a_T_b @ p_b)."""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.values import real_array


def check_pose(T, name: str = "pose", tol: float = 1e-4) -> np.ndarray:
    """Validate a 4x4 rigid transform and return it as a new float64 array.

    Integer, float32 and float64 (and wider float) entries are accepted; float16 is refused:
    its 11-bit mantissa cannot hold a rotation to ``tol`` nor a translation to a millimetre
    beyond 2 m, so the caller converts from float32 or float64 data instead.

    Raises:
        InputError: wrong shape; a dtype that is not real (complex, bool, string, object) or
            is float16; non-finite entries; a bottom row other than [0, 0, 0, 1]; a rotation
            block that is not orthonormal with det +1 (within ``tol``).
    """
    try:
        T = np.asarray(T)
    except (TypeError, ValueError) as e:  # ragged nesting, an unconvertible object
        raise InputError(f"{name}: expected a (4, 4) rigid transform, got {type(T).__name__} ({e})") from None
    if T.shape != (4, 4):
        raise InputError(f"{name}: expected a (4, 4) rigid transform, got {describe_array(T)}")
    if T.dtype == np.float16:
        raise InputError(f"{name}: float16 is too imprecise for a pose; pass float32 or float64")
    if T.dtype.kind not in "iuf":
        raise InputError(f"{name}: expected a real-valued (integer or float) (4, 4) transform, got {describe_array(T)}")
    T = T.astype(np.float64)
    if not np.isfinite(T).all():
        raise InputError(f"{name}: expected finite values, got NaN/inf")
    if not np.allclose(T[3], [0, 0, 0, 1], atol=tol):
        raise InputError(f"{name}: expected bottom row [0, 0, 0, 1], got {T[3].tolist()}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=tol) or np.linalg.det(R) < 0:
        raise InputError(f"{name}: rotation block is not a proper rotation (R R^T != I or det < 0)")
    return T


def make_pose(R, t) -> np.ndarray:
    """4x4 transform from a 3x3 rotation and a translation (3,) (not checked for rigidity:
    see ``check_pose``). Raises InputError for non-real values or wrong shapes."""
    R = real_array(R, "make_pose: R")
    t = real_array(t, "make_pose: t")
    if R.shape != (3, 3) or t.size != 3:
        raise InputError(f"make_pose: expected R (3, 3) and t (3,), got {describe_array(R)} and {describe_array(t)}")
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t.reshape(3)
    return T


def invert_pose(a_T_b: np.ndarray) -> np.ndarray:
    """b_T_a from a_T_b, using the rigid structure (no general matrix inverse)."""
    R = a_T_b[:3, :3]
    t = a_T_b[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def transform_points(a_T_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Apply a_T_b to points (..., 3) given in frame b; returns points in frame a."""
    points_b = np.asarray(points_b)
    if points_b.dtype.kind not in "iuf" or points_b.ndim == 0 or points_b.shape[-1] != 3:
        raise InputError(f"transform_points: expected points (..., 3), got {describe_array(points_b)}")
    return points_b @ a_T_b[:3, :3].T + a_T_b[:3, 3]


def quat_to_rotation(q_xyzw) -> np.ndarray:
    """Unit quaternion (qx, qy, qz, qw) -> 3x3 rotation. The quaternion is normalised first."""
    q = real_array(q_xyzw, "quat_to_rotation: q_xyzw")
    if q.size != 4:
        raise InputError(f"quat_to_rotation: expected 4 values (qx, qy, qz, qw), got {describe_array(q)}")
    q = q.reshape(4)
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise InputError(f"quat_to_rotation: expected a non-zero quaternion, got {q.tolist()}")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_quat(R: np.ndarray) -> np.ndarray:
    """3x3 rotation -> unit quaternion (qx, qy, qz, qw) with qw >= 0."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """world_T_cam for an OpenCV camera at ``eye`` looking at ``target`` (world, z up).

    The camera's +z points at the target, +x to the right and +y down in the image.
    """
    eye, target, up = (real_array(v, f"look_at: {n}") for v, n in ((eye, "eye"), (target, "target"), (up, "up")))
    if eye.shape != (3,) or target.shape != (3,) or up.shape != (3,):
        raise InputError(
            f"look_at: expected eye, target and up of shape (3,), got {eye.shape}, {target.shape}, {up.shape}"
        )
    if not (np.isfinite(eye).all() and np.isfinite(target).all() and np.isfinite(up).all()):
        raise InputError("look_at: eye, target and up must be finite")
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-9:
        raise InputError("look_at: eye and target coincide")
    z /= n
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        raise InputError("look_at: viewing direction is parallel to the up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_pose(np.stack([x, y, z], axis=1), eye)


def camera_from_yaw_pitch(position, yaw_rad: float, pitch_rad: float, roll_rad: float = 0.0):
    """world_T_cam for a camera at ``position`` (world, z up) with heading ``yaw_rad``
    (0 = looking along +x, counter-clockwise), ``pitch_rad`` (> 0 looks up) and roll about
    the optical axis."""
    cy, sy = np.cos(yaw_rad), np.sin(yaw_rad)
    cp, sp = np.cos(pitch_rad), np.sin(pitch_rad)
    fwd = np.array([cy * cp, sy * cp, sp])
    right = np.array([sy, -cy, 0.0])
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd], axis=1)
    if roll_rad:
        c, s = np.cos(roll_rad), np.sin(roll_rad)
        Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        R = R @ Rz
    return make_pose(R, position)
