"""Exports of a ``SemanticMap``: class-coloured point clouds and meshes as PLY files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.files import atomic_path
from real3d.core.labels import NYU13, LabelSet
from real3d.mapping.semantic_map import SemanticMap


@dataclass
class SemanticMesh:
    """Triangle mesh from the TSDF zero level set (world frame, metres).

    Attributes:
        vertices: (V, 3) float64.
        triangles: (F, 3) int64 vertex indices.
        labels: (V,) uint8 class of the voxel under each vertex (0 = none).
        colors: (V, 3) uint8 mean observed colour.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    labels: np.ndarray
    colors: np.ndarray


def extract_mesh(semantic_map: SemanticMap, min_weight: float = 1.0) -> SemanticMesh:
    """Marching cubes (scikit-image) on the map's TSDF.

    The sparse voxels are scattered into a dense block covering their bounding box, with a
    mask of observed voxels so no faces appear between observed and unobserved space. The
    dense block costs 5 bytes per voxel of the bounding box (a 10 x 10 x 3 m scene at 5 cm
    has 2.4 million of them).
    """
    from skimage.measure import marching_cubes

    arr = semantic_map.voxel_arrays()
    keep = arr["weight"] >= min_weight
    coords = arr["coords"][keep]
    if coords.shape[0] < 8:
        return SemanticMesh(
            np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.uint8), np.zeros((0, 3), np.uint8)
        )
    lo = coords.min(axis=0) - 1
    shape = tuple(coords.max(axis=0) - lo + 2)
    vol = np.ones(shape, np.float32)
    mask = np.zeros(shape, bool)
    idx = tuple((coords - lo).T)
    vol[idx] = arr["tsdf"][keep]
    mask[idx] = True
    verts, faces, _, _ = marching_cubes(vol, level=0.0, mask=mask, allow_degenerate=False)
    # Each vertex lies on a grid edge; drop faces with a vertex interpolated towards an
    # unobserved voxel (the fill value), whatever scikit-image's mask test let through.
    lo_idx = np.floor(verts + 1e-6).astype(np.int64)
    hi_idx = np.minimum(np.ceil(verts - 1e-6).astype(np.int64), np.array(shape) - 1)
    good_v = mask[tuple(lo_idx.T)] & mask[tuple(hi_idx.T)]
    faces = faces[good_v[faces].all(axis=1)]
    used = np.unique(faces)
    remap = np.full(len(verts), -1, np.int64)
    remap[used] = np.arange(len(used))
    verts, faces = verts[used], remap[faces]
    vs = semantic_map.voxel_size_m
    # Vertex i, j, k in array coordinates sits at the centre of voxel (lo + ijk).
    world = (verts + lo + 0.5) * vs
    labels, _ = semantic_map.query_labels(world)
    rows = semantic_map.lookup_rows(world)
    colors = np.zeros((world.shape[0], 3), np.uint8)
    hit = rows >= 0
    colors[hit] = np.clip(np.round(arr["color"][rows[hit]]), 0, 255).astype(np.uint8)
    return SemanticMesh(world, faces.astype(np.int64), labels, colors)


def _comment_lines(comments, where: str) -> list[str]:
    lines = [str(c) for c in comments]
    for c in lines:
        if not c.isascii() or "\n" in c or "\r" in c:
            raise InputError(f"{where}: expected ASCII comments without line breaks, got {c!r}")
    return [f"comment {c}" for c in lines]


def _write_ply(
    path: Path,
    vertices: np.ndarray,
    colors: np.ndarray,
    labels: np.ndarray | None,
    faces: np.ndarray | None,
    comments: list[str] = (),
) -> Path:
    n = vertices.shape[0]
    header = [
        "ply",
        "format binary_little_endian 1.0",
        *comments,
        f"element vertex {n}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
    ]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    if labels is not None:
        header.append("property uchar label")
        fields.append(("label", "u1"))
    if faces is not None:
        header += [f"element face {faces.shape[0]}", "property list uchar int vertex_indices"]
    header.append("end_header")
    v = np.empty(n, dtype=fields)
    v["x"], v["y"], v["z"] = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    v["r"], v["g"], v["b"] = colors[:, 0], colors[:, 1], colors[:, 2]
    if labels is not None:
        v["label"] = labels
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(v.tobytes())
        if faces is not None:
            fa = np.empty(faces.shape[0], dtype=[("n", "u1"), ("i", "<i4", (3,))])
            fa["n"] = 3
            fa["i"] = faces
            f.write(fa.tobytes())
    return path


def write_semantic_ply(
    path,
    points: np.ndarray,
    labels: np.ndarray,
    colors: np.ndarray | None = None,
    label_set: LabelSet = NYU13,
    faces: np.ndarray | None = None,
    comments=(),
) -> Path:
    """Binary PLY of points (or a mesh when ``faces`` is given) coloured by class.

    Args:
        points: (N, 3) float world metres.
        labels: (N,) integer class ids of ``label_set`` (also stored as a ``label`` property).
        colors: optional (N, 3) uint8; default the label set's class colours.
        faces: optional (F, 3) integer vertex indices.
        comments: lines for the header's ``comment`` entries (ASCII, no line breaks), e.g.
            the frame the points are in (``real3d.viz.outputs.frame_comments``).
    """
    comment_lines = _comment_lines(comments, "write_semantic_ply")
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"write_semantic_ply: expected points (N, 3), got {describe_array(points)}")
    if labels.shape != (points.shape[0],):
        raise InputError(f"write_semantic_ply: expected labels ({points.shape[0]},), got {describe_array(labels)}")
    if colors is None:
        colors = label_set.colorize(labels)
    return _write_ply(Path(path), points, np.asarray(colors, np.uint8), labels.astype(np.uint8), faces, comment_lines)


def export_point_cloud_ply(semantic_map: SemanticMap, path, label_set: LabelSet = NYU13, comments=()) -> Path:
    """The map's surface voxels as a class-coloured PLY point cloud (``comments`` as in
    ``write_semantic_ply``)."""
    p = semantic_map.semantic_points()
    return write_semantic_ply(path, p.points, p.labels, label_set=label_set, comments=comments)


def export_mesh_ply(semantic_map: SemanticMap, path, label_set: LabelSet = NYU13, comments=()) -> Path:
    """The map's marching-cubes mesh as a class-coloured PLY (``comments`` as in
    ``write_semantic_ply``)."""
    m = extract_mesh(semantic_map)
    return write_semantic_ply(path, m.vertices, m.labels, label_set=label_set, faces=m.triangles, comments=comments)
