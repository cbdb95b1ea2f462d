"""Gravity-aligned 3D boxes with yaw: fitting (minimum-area rectangle) and 3D IoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array


@dataclass(frozen=True)
class Box3D:
    """A box whose z axis is world +z.

    Attributes:
        center: (3,) float64 world metres.
        size: (3,) float64 extents along the box's own x, y (after yaw) and world z, metres.
        yaw_rad: rotation about world +z.
    """

    center: np.ndarray
    size: np.ndarray
    yaw_rad: float

    def footprint(self) -> np.ndarray:
        """(4, 2) corners of the footprint in counter-clockwise order, world xy metres."""
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        hx, hy = self.size[0] / 2, self.size[1] / 2
        local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
        R = np.array([[c, -s], [s, c]])
        return local @ R.T + np.asarray(self.center[:2])

    @property
    def z_min(self) -> float:
        return float(self.center[2] - self.size[2] / 2)

    @property
    def z_max(self) -> float:
        return float(self.center[2] + self.size[2] / 2)

    @property
    def volume(self) -> float:
        return float(np.prod(self.size))

    def to_dict(self) -> dict:
        return {
            "center": [float(v) for v in self.center],
            "size": [float(v) for v in self.size],
            "yaw_rad": float(self.yaw_rad),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Box3D:
        """The box ``to_dict`` describes."""
        return cls(np.asarray(d["center"], np.float64), np.asarray(d["size"], np.float64), float(d["yaw_rad"]))


def convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (M, 2) of (N, 2) points (Qhull); degenerate (collinear
    or fewer than 3 distinct) inputs return their distinct points."""
    from scipy.spatial import ConvexHull, QhullError

    p = np.asarray(points, np.float64)
    if len(p) < 3:
        return np.unique(p, axis=0)
    try:
        hull = ConvexHull(p)
    except QhullError:
        return np.unique(p, axis=0)
    return p[hull.vertices]


def min_area_rect(points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-area enclosing rectangle of (N, 2) points.

    Returns:
        (center (2,), size (2,) with size[0] >= size[1], yaw_rad in (-pi/2, pi/2]) where yaw
        is the direction of the long side.
    """
    pts = np.asarray(points_xy, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise InputError(f"min_area_rect: expected (N, 2) points with N > 0, got {describe_array(pts)}")
    hull = convex_hull_2d(pts)
    if len(hull) < 3:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return (lo + hi) / 2, hi - lo, 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    c, s = np.cos(angles), np.sin(angles)
    # Hull in each candidate frame: x' = c x + s y, y' = -s x + c y.
    xr = hull[None, :, 0] * c[:, None] + hull[None, :, 1] * s[:, None]
    yr = -hull[None, :, 0] * s[:, None] + hull[None, :, 1] * c[:, None]
    w = xr.max(1) - xr.min(1)
    h = yr.max(1) - yr.min(1)
    k = int(np.argmin(w * h))
    a = float(angles[k])
    cx_r, cy_r = (xr[k].max() + xr[k].min()) / 2, (yr[k].max() + yr[k].min()) / 2
    center = np.array([cx_r * np.cos(a) - cy_r * np.sin(a), cx_r * np.sin(a) + cy_r * np.cos(a)])
    size = np.array([w[k], h[k]])
    if size[1] > size[0]:
        size = size[::-1]
        a += np.pi / 2
    a = float(np.mod(a + np.pi / 2, np.pi) - np.pi / 2)
    return center, size, a


def fit_box(points: np.ndarray, pad_m: float = 0.0, trim: float = 0.0, max_points: int = 4000) -> Box3D:
    """Gravity-aligned box with yaw around (N, 3) world points.

    The yaw is that of the minimum-area rectangle of the footprint. Extents along the box
    axes and z span the points, or with ``trim`` > 0 the [trim, 1 - trim] quantiles (a
    few stray surface voxels at edges otherwise widen the box by a voxel); each side is
    grown by ``pad_m``.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(f"fit_box: expected (N, 3) points with N > 0, got {describe_array(pts)}")
    if len(pts) > max_points:
        # A regular subsample keeps hull and quantiles to within a voxel and bounds the cost.
        pts = pts[:: int(np.ceil(len(pts) / max_points))]
    if not 0 <= trim < 0.5:
        raise InputError(f"fit_box: expected 0 <= trim < 0.5, got {trim}")

    def to_local(yaw):
        c, s = np.cos(yaw), np.sin(yaw)
        return np.stack([c * pts[:, 0] + s * pts[:, 1], -s * pts[:, 0] + c * pts[:, 1], pts[:, 2]], axis=1)

    _, _, yaw = min_area_rect(pts[:, :2])
    local = to_local(yaw)
    if trim > 0:
        # Strays also tilt the minimum-area rectangle: fit again without the points the
        # trimmed box leaves out.
        lo, hi = np.quantile(local[:, :2], [trim, 1 - trim], axis=0)
        inner = np.all((local[:, :2] >= lo) & (local[:, :2] <= hi), axis=1)
        if inner.sum() >= 3:
            _, _, yaw = min_area_rect(pts[inner, :2])
            local = to_local(yaw)
        lo, hi = np.quantile(local, [trim, 1 - trim], axis=0)
    else:
        lo, hi = local.min(axis=0), local.max(axis=0)
    c, s = np.cos(yaw), np.sin(yaw)
    mid = (lo + hi) / 2
    center = np.array([c * mid[0] - s * mid[1], s * mid[0] + c * mid[1], mid[2]])
    return Box3D(center, hi - lo + 2 * pad_m, float(yaw))


def _clip(subject: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Keep the part of polygon ``subject`` left of the directed edge a -> b."""
    if len(subject) == 0:
        return subject

    def side(p):
        return (b[0] - a[0]) * (p[..., 1] - a[1]) - (b[1] - a[1]) * (p[..., 0] - a[0])

    out = []
    n = len(subject)
    sv = side(subject)
    for i in range(n):
        p, q = subject[i], subject[(i + 1) % n]
        sp, sq = sv[i], sv[(i + 1) % n]
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            out.append(p + t * (q - p))
    return np.array(out) if out else np.zeros((0, 2))


def polygon_area(poly: np.ndarray) -> float:
    """Area of a simple polygon (M, 2) (shoelace formula)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def convex_intersection(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Intersection polygon of two counter-clockwise convex polygons (Sutherland-Hodgman)."""
    out = np.asarray(p, np.float64)
    for i in range(len(q)):
        out = _clip(out, q[i], q[(i + 1) % len(q)])
        if len(out) == 0:
            break
    return out


def footprint_intersection_area(a: Box3D, b: Box3D) -> float:
    return polygon_area(convex_intersection(a.footprint(), b.footprint()))


def box_iou_3d(a: Box3D, b: Box3D) -> float:
    """3D IoU of two yaw boxes: footprint intersection area times z overlap, over the union."""
    dz = min(a.z_max, b.z_max) - max(a.z_min, b.z_min)
    if dz <= 0:
        return 0.0
    inter = footprint_intersection_area(a, b) * dz
    union = a.volume + b.volume - inter
    return float(inter / union) if union > 0 else 0.0
