"""Exports of a ``SemanticMap``: point clouds and meshes as binary PLY files.

Every vertex carries x, y, z (float32 metres, the map's frame), red, green, blue (uchar) and
a ``label`` (uchar class id of the label set). The colour is the map's mean observed colour
(``colour="rgb"``, the default) or the class colour (``colour="label"``). The header lists
the label set's classes as comments (``comment label 5 floor``), says what the colour is
(``comment colour rgb ...``) and carries the caller's comments (e.g. the frame, see
``real3d.viz.outputs.frame_comments``). Point clouds leave out void points (label 0, no
class evidence); a mesh keeps its void vertices, which its faces need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.core.files import atomic_path
from real3d.core.labels import NYU13, LabelSet
from real3d.mapping.semantic_map import SemanticMap


#: what a PLY's red, green and blue hold: name -> the header's comment
PLY_COLOURS = {
    "rgb": "colour rgb: the mean colour the camera observed",
    "label": "colour label: the class colour of the label set",
}


def _check_colour(colour: str, where: str) -> str:
    if colour not in PLY_COLOURS:
        raise ConfigError(f"{where}: unknown colour {colour!r}; expected one of {', '.join(map(repr, PLY_COLOURS))}")
    return colour


def label_comments(label_set: LabelSet = NYU13) -> list[str]:
    """The header comments that name the classes: ``label_set NAME``, then ``label ID NAME``
    for every class id, void (0) included."""
    return [f"label_set {label_set.name}"] + [f"label {i} {n}" for i, n in enumerate(label_set.names)]


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
    colour_note: str | None = None,
) -> Path:
    """Binary PLY of labelled points (or a mesh when ``faces`` is given).

    Args:
        points: (N, 3) float map-frame metres.
        labels: (N,) integer class ids of ``label_set``, stored as the ``label`` property;
            the header names every class (``label_comments``).
        colors: optional (N, 3) uint8 red, green, blue; default the label set's class colours.
        faces: optional (F, 3) integer vertex indices.
        comments: lines for the header's ``comment`` entries (ASCII, no line breaks), e.g.
            the frame the points are in (``real3d.viz.outputs.frame_comments``).
        colour_note: the comment that says what the colours are (default: the entry of
            ``PLY_COLOURS`` that fits, "label" without ``colors``).

    Raises:
        InputError: points not (N, 3), labels not (N,) ids of ``label_set``, colors not
            (N, 3), or a comment that is not one ASCII line.
    """
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"write_semantic_ply: expected points (N, 3), got {describe_array(points)}")
    if labels.shape != (points.shape[0],):
        raise InputError(f"write_semantic_ply: expected labels ({points.shape[0]},), got {describe_array(labels)}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(label_set.names)):
        raise InputError(
            f"write_semantic_ply: expected labels in [0, {len(label_set.names) - 1}] ({label_set.name}), "
            f"got [{labels.min()}, {labels.max()}]"
        )
    if colors is None:
        colors = label_set.colorize(labels)
        colour_note = colour_note or PLY_COLOURS["label"]
    colors = np.asarray(colors)
    if colors.shape != (points.shape[0], 3):
        raise InputError(f"write_semantic_ply: expected colors ({points.shape[0]}, 3), got {describe_array(colors)}")
    notes = [*comments, colour_note or "colour: given by the writer", *label_comments(label_set)]
    comment_lines = _comment_lines(notes, "write_semantic_ply")
    return _write_ply(Path(path), points, colors.astype(np.uint8), labels.astype(np.uint8), faces, comment_lines)


def export_point_cloud_ply(
    semantic_map: SemanticMap, path, label_set: LabelSet = NYU13, comments=(), colour: str = "rgb"
) -> Path:
    """The map's labelled surface voxels (``SemanticMap.semantic_points``) as a PLY point
    cloud; void points (no class evidence) are left out.

    Args:
        colour: "rgb" the mean observed colour of each voxel, "label" its class colour.
        comments: as in ``write_semantic_ply``.

    Raises:
        ConfigError: an unknown ``colour``.
    """
    _check_colour(colour, "export_point_cloud_ply")
    p = semantic_map.semantic_points()
    keep = p.labels > 0
    colors = p.colors[keep] if colour == "rgb" else None
    return write_semantic_ply(
        path,
        p.points[keep],
        p.labels[keep],
        colors,
        label_set=label_set,
        comments=comments,
        colour_note=PLY_COLOURS[colour],
    )


def export_mesh_ply(
    semantic_map: SemanticMap, path, label_set: LabelSet = NYU13, comments=(), colour: str = "rgb"
) -> Path:
    """The map's marching-cubes mesh (``extract_mesh``) as a PLY; ``colour`` and
    ``comments`` as in ``export_point_cloud_ply``. Vertices with no class keep label 0
    (and, with ``colour="label"``, the void colour).

    Raises:
        ConfigError: an unknown ``colour``.
    """
    _check_colour(colour, "export_mesh_ply")
    m = extract_mesh(semantic_map)
    return write_semantic_ply(
        path,
        m.vertices,
        m.labels,
        m.colors if colour == "rgb" else None,
        label_set=label_set,
        faces=m.triangles,
        comments=comments,
        colour_note=PLY_COLOURS[colour],
    )
