"""Accuracy of a semantic map against a labelled ground-truth mesh."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from real3d.core.frame import Frame
from real3d.core.gt import SceneMesh
from real3d.geometry.o3d import import_open3d
from real3d.geometry.projection import depth_to_world_points
from real3d.mapping.semantic_map import SemanticMap


@dataclass
class MapMetrics:
    """Map quality figures.

    Attributes:
        n_voxels: labelled surface voxels evaluated.
        semantic_accuracy: fraction of those whose class equals the nearest face's label.
        miou: mean IoU over classes present in the ground truth or the prediction.
        iou_per_class: {class id: IoU}.
        accuracy_cm_mean, accuracy_cm_median: distance of map surface voxels to the mesh, cm.
        completeness: fraction of reference surface points with a map voxel within
            ``completeness_threshold_cm``.
        completeness_cm_mean: mean distance of reference points to the nearest map voxel, cm.
        completeness_threshold_cm: the threshold used.
    """

    n_voxels: int
    semantic_accuracy: float
    miou: float
    iou_per_class: dict
    accuracy_cm_mean: float
    accuracy_cm_median: float
    completeness: float
    completeness_cm_mean: float
    completeness_threshold_cm: float

    def to_dict(self) -> dict:
        return asdict(self)


def closest_face(mesh: SceneMesh, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest triangle of ``mesh`` to each point: (face ids (N,) int64, distances (N,) m)."""
    o3d = import_open3d()
    scene = o3d.t.geometry.RaycastingScene()
    tm = o3d.t.geometry.TriangleMesh()
    tm.vertex.positions = o3d.core.Tensor(mesh.vertices.astype(np.float32))
    tm.triangle.indices = o3d.core.Tensor(mesh.triangles.astype(np.int32))
    scene.add_triangles(tm)
    q = o3d.core.Tensor(np.asarray(points, np.float32))
    ans = scene.compute_closest_points(q)
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    dist = np.linalg.norm(ans["points"].numpy() - np.asarray(points, np.float32), axis=1)
    return prim, dist


def observed_surface_points(frames: list[Frame], stride: int = 4, max_depth_m: float = 6.0) -> np.ndarray:
    """World points of the noise-free depth of ``frames`` (every ``stride``-th pixel): the
    part of the ground-truth surface the sequence actually saw. (N, 3) float64 metres."""
    pts = []
    for f in frames:
        d = f.depth_clean_m if f.depth_clean_m is not None else f.depth_m
        sub = np.zeros_like(d)
        sub[::stride, ::stride] = d[::stride, ::stride]
        sub[sub > max_depth_m] = 0
        p, _ = depth_to_world_points(sub, f.intrinsics, f.world_T_cam)
        pts.append(p)
    return np.concatenate(pts) if pts else np.zeros((0, 3))


def evaluate_map(
    semantic_map: SemanticMap,
    mesh: SceneMesh,
    reference_points: np.ndarray | None = None,
    completeness_threshold_cm: float = 5.0,
    num_classes: int = 14,
) -> MapMetrics:
    """Compare the map's labelled surface voxels with a labelled mesh.

    Args:
        semantic_map: the fused map.
        mesh: ground-truth mesh with ``face_label`` (NYUv2-13).
        reference_points: (M, 3) world points for completeness (e.g.
            ``observed_surface_points(frames)``); default: 200k area-weighted mesh samples,
            which penalises parts of the scene the camera never saw.
    """
    sp = semantic_map.semantic_points()
    pts = sp.points
    prim, dist = closest_face(mesh, pts) if len(pts) else (np.zeros(0, int), np.zeros(0))
    gt = mesh.face_label[prim] if len(pts) else np.zeros(0, np.uint8)
    pred = sp.labels
    valid = (pred > 0) & (gt > 0)
    acc = float((pred[valid] == gt[valid]).mean()) if valid.any() else 0.0
    conf = np.bincount(
        gt[valid].astype(np.int64) * num_classes + pred[valid], minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)
    inter = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    ious = {int(c): float(inter[c] / union[c]) for c in range(1, num_classes) if union[c] > 0}
    miou = float(np.mean(list(ious.values()))) if ious else 0.0

    if reference_points is None:
        reference_points = sample_mesh_surface(mesh, 200_000)
    if len(pts) and len(reference_points):
        d_ref, _ = cKDTree(pts).query(reference_points, k=1)
    else:
        d_ref = np.full(len(reference_points), np.inf)
    thr = completeness_threshold_cm / 100.0
    return MapMetrics(
        n_voxels=int(valid.sum()),
        semantic_accuracy=acc,
        miou=miou,
        iou_per_class=ious,
        accuracy_cm_mean=float(dist.mean() * 100) if len(dist) else float("nan"),
        accuracy_cm_median=float(np.median(dist) * 100) if len(dist) else float("nan"),
        completeness=float((d_ref <= thr).mean()) if len(d_ref) else 0.0,
        completeness_cm_mean=float(np.mean(d_ref) * 100) if len(d_ref) else float("nan"),
        completeness_threshold_cm=completeness_threshold_cm,
    )


def sample_mesh_surface(mesh: SceneMesh, n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) float64 points sampled uniformly by area on the mesh."""
    v = mesh.vertices.astype(np.float64)
    t = mesh.triangles
    a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    rng = np.random.default_rng(seed)
    f = rng.choice(len(t), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    return (1 - s)[:, None] * a[f] + (s * (1 - r2))[:, None] * b[f] + (s * r2)[:, None] * c[f]
