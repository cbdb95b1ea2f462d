"""The map seen from above.

The semantic map: each floor cell takes the class of the highest labelled surface point over
it, ceiling left out, so furniture shows over the floor. The scene graph: its nodes at their
positions, with captions placed so that none overlaps another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError
from real3d.core.labels import NYU13, LabelSet, get_label_set


def _from_above(
    semantic_map, use_refinement: bool, colour, cell_m, max_px: int, min_px: int, who: str, label_set=NYU13
) -> np.ndarray:
    """(H, W, 3) uint8 image of the map's labelled surface from above (x right, y up, world
    frame; ceiling left out): each cell coloured by ``colour(points, rows)`` -> (n, 3) of
    the highest point over it, white where nothing was labelled. Cells of ``cell_m``
    metres (default: the voxel size, enlarged so the image fits ``max_px``; a small map is
    enlarged by whole pixels towards ``min_px``). ``label_set``: that of the map's ids (its
    ceiling class, when it has one, is left out)."""
    return _placed_from_above(semantic_map, use_refinement, colour, cell_m, max_px, min_px, who, label_set)[0]


def _placed_from_above(semantic_map, use_refinement, colour, cell_m, max_px, min_px, who, label_set=NYU13):
    """``_from_above``'s image, the map-frame (x, y) metres of its lower-left corner and its
    pixels per metre."""
    sp = semantic_map.semantic_points(use_refinement=use_refinement)
    keep = sp.labels > 0
    if "ceiling" in label_set.names:
        keep &= sp.labels != label_set.index("ceiling")
    pts = sp.points[keep]
    if not len(pts):
        raise InputError(f"{who}: the map has no labelled surface point")
    lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
    cell = float(cell_m or semantic_map.voxel_size_m)
    cell = max(cell, float((hi - lo).max()) / max_px)
    ij = np.floor((pts[:, :2] - lo) / cell).astype(np.int64)
    w, h = (ij.max(0) + 1).tolist()
    order = np.argsort(pts[:, 2], kind="stable")  # later (higher) points overwrite lower ones
    img = np.full((h, w, 3), 255, np.uint8)
    img[h - 1 - ij[order, 1], ij[order, 0]] = colour(sp.labels[keep][order], sp.rows[keep][order])
    k = max(1, min_px // max(h, w))
    img = np.repeat(np.repeat(img, k, axis=0), k, axis=1) if k > 1 else img
    return img, (float(lo[0]), float(lo[1])), k / cell


def side_by_side(a: np.ndarray, b: np.ndarray, gap: int) -> np.ndarray:
    """Two (H, W, 3) uint8 pictures next to each other on white, ``gap`` pixels apart."""
    h = max(a.shape[0], b.shape[0])
    out = np.full((h, a.shape[1] + gap + b.shape[1], 3), 255, np.uint8)
    out[: a.shape[0], : a.shape[1]] = a
    out[: b.shape[0], a.shape[1] + gap :] = b
    return out


def topdown_labels(
    semantic_map,
    cell_m: float | None = None,
    use_refinement: bool = True,
    max_px: int = 440,
    min_px: int = 300,
    label_set: LabelSet = NYU13,
) -> np.ndarray:
    """(H, W, 3) uint8 image of the map from above (x right, y up, world frame), cells of
    ``cell_m`` metres (default: the map's voxel size, enlarged so the image fits
    ``max_px``; a small map is enlarged by whole pixels towards ``min_px``), in the class
    colours of ``label_set`` (that of the map's ids; NYUv2-13 by default); white where
    nothing was labelled. ``use_refinement`` False draws the fusion's labels even where a
    3D network refined the map."""
    colors = _class_colours(semantic_map, label_set, "topdown_labels")
    return _from_above(
        semantic_map,
        use_refinement,
        lambda lab, rows: colors[lab],
        cell_m,
        max_px,
        min_px,
        "topdown_labels",
        label_set,
    )


def _class_colours(semantic_map, label_set: LabelSet, who: str) -> np.ndarray:
    """(C, 3) uint8 colours of ``label_set``; InputError when the map holds more classes."""
    if not isinstance(label_set, LabelSet):
        raise InputError(f"{who}: expected label_set to be a LabelSet, got {type(label_set).__name__}")
    colors = np.asarray(label_set.colors, np.uint8)
    n = getattr(getattr(semantic_map, "config", None), "num_classes", len(colors))
    if n > len(colors):
        raise InputError(
            f"{who}: the map holds {n} classes (void included), label set {label_set.name!r} names {len(colors)}"
        )
    return colors


#: pale yellow (sure) -> orange -> dark red (all classes equally likely)
_ENTROPY_STOPS = np.array([[255, 247, 188], [254, 153, 41], [153, 0, 13]], np.float64)


def topdown_uncertainty(
    semantic_map,
    cell_m: float | None = None,
    max_px: int = 440,
    min_px: int = 300,
    label_set: LabelSet = NYU13,
) -> np.ndarray:
    """(H, W, 3) uint8 image of the map from above, laid out as ``topdown_labels`` (with the
    same ``label_set``): each cell shows the normalised label entropy
    (``SemanticMap.label_entropy``, of the fusion) of the highest labelled surface point
    over it, from pale (sure, 0) through orange to dark red (all classes equally likely,
    1); white where nothing was labelled."""

    def colour(lab, rows):
        return _entropy_colours(semantic_map.label_entropy(rows))

    return _from_above(semantic_map, False, colour, cell_m, max_px, min_px, "topdown_uncertainty", label_set)


def _entropy_colours(e: np.ndarray) -> np.ndarray:
    """(N,) normalised entropies in [0, 1] -> (N, 3) uint8 colours of ``_ENTROPY_STOPS``."""
    e = np.clip(e, 0.0, 1.0)[:, None]
    s = _ENTROPY_STOPS
    rgb = np.where(e < 0.5, s[0] + (s[1] - s[0]) * (e / 0.5), s[1] + (s[2] - s[1]) * ((e - 0.5) / 0.5))
    return rgb.round().astype(np.uint8)


def _framed(img: np.ndarray, corner, px_per_m: float, legend: list, title: str):
    from PIL import Image

    from real3d.nav.draw import LegendEntry, frame_map

    if (img == 255).all(axis=2).any():
        legend = [*legend, LegendEntry("nothing labelled", "fill", ((255, 255, 255),))]
    return frame_map(Image.fromarray(img), corner, px_per_m, legend, title, legend_below=True)


def topdown_labels_figure(
    semantic_map,
    use_refinement: bool = True,
    title: str = "Labels from above",
    max_px: int = 440,
    min_px: int = 300,
    label_set: LabelSet = NYU13,
):
    """``topdown_labels`` framed for a person (``real3d.nav.draw.frame_map``): metre axes of
    the map frame, the origin, a scale bar and a legend of the classes in the picture,
    named and coloured as in ``label_set`` (that of the map's ids). Returns a
    ``real3d.nav.draw.TopdownFigure``.

    Raises:
        InputError: the map has no labelled surface point, or holds more classes than
            ``label_set`` names.
    """
    from real3d.nav.draw import LegendEntry

    colors = _class_colours(semantic_map, label_set, "topdown_labels_figure")
    img, corner, ppm = _placed_from_above(
        semantic_map,
        use_refinement,
        lambda lab, rows: colors[lab],
        None,
        max_px,
        min_px,
        "topdown_labels_figure",
        label_set,
    )
    legend = [
        LegendEntry(label_set.names[c], "fill", (tuple(int(v) for v in colors[c]),))
        for c in range(1, len(colors))
        if (img == colors[c]).all(axis=2).any()
    ]
    return _framed(img, corner, ppm, legend, title)


def topdown_uncertainty_figure(
    semantic_map,
    title: str = "Label uncertainty from above",
    max_px: int = 440,
    min_px: int = 300,
    label_set: LabelSet = NYU13,
):
    """``topdown_uncertainty`` framed as ``topdown_labels_figure``, the legend giving the
    entropy scale. Returns a ``real3d.nav.draw.TopdownFigure``.

    Raises:
        InputError: the map has no labelled surface point.
    """
    from real3d.nav.draw import LegendEntry

    img, corner, ppm = _placed_from_above(
        semantic_map,
        False,
        lambda lab, rows: _entropy_colours(semantic_map.label_entropy(rows)),
        None,
        max_px,
        min_px,
        "topdown_uncertainty_figure",
        label_set,
    )
    stops = [tuple(int(v) for v in c) for c in _ENTROPY_STOPS]
    legend = [
        LegendEntry("label entropy 0 (sure) to 0.5", "gradient", (stops[0], stops[1])),
        LegendEntry("0.5 to 1 (all classes alike)", "gradient", (stops[1], stops[2])),
    ]
    return _framed(img, corner, ppm, legend, title)


def labels_and_uncertainty(semantic_map, max_px: int = 440, gap: int = 8) -> np.ndarray:
    """The fusion's labels (left) and their uncertainty (right) side by side."""
    return side_by_side(
        topdown_labels(semantic_map, use_refinement=False, max_px=max_px),
        topdown_uncertainty(semantic_map, max_px=max_px),
        gap,
    )


def before_after(semantic_map, max_px: int = 440, gap: int = 8) -> np.ndarray:
    """The fusion's labels (left) and the refined ones (right) side by side; the map must
    have a refinement."""
    if semantic_map.refinement is None:
        raise InputError("before_after: the map has no refinement")
    return side_by_side(
        topdown_labels(semantic_map, use_refinement=False, max_px=max_px),
        topdown_labels(semantic_map, use_refinement=True, max_px=max_px),
        gap,
    )


# ---------------------------------------------------------------------------- scene graph
#: edge colours by predicate, and their legend text
EDGE_STYLE = {
    "on": ((200, 60, 0), "on"),
    "next_to": ((60, 120, 220), "next to"),
    "in": ((170, 170, 170), "in room"),
}
_ROOM_FILL = (225, 225, 225)


@dataclass
class SceneGraphFigure:
    """A drawing of a scene graph and where its parts went.

    Attributes:
        image: the RGB PIL image.
        positions: node id -> (x, y) pixel centre of its disc.
        radii: node id -> disc radius, pixels.
        labels: node id -> (caption, (x0, y0, x1, y1) pixel box of the caption); no two
            boxes overlap, and none covers a disc.
        unplaced: ids of the nodes whose caption found no free spot near them; they are
            listed under the drawing.
        px_per_m: pixels per metre of the node positions.
    """

    image: object
    positions: dict
    radii: dict
    labels: dict
    unplaced: list
    px_per_m: float


def scene_graph_figure(graph, size_px: int = 900, margin_px: int = 50) -> SceneGraphFigure:
    """The graph seen from above (+y up), captions placed so they never overlap.

    Rooms are grey discs, objects and structure discs in their class colour (structure
    smaller), each with an "id class" caption placed by ``real3d.viz.plots.place_labels``
    (a leader line joins a caption set further out to its disc); captions with no free spot
    are listed under the drawing. Objects resting on another object (bottom over 0.2 m above
    the floor) are drawn 40 px higher up the picture so the "on" edge between them shows.
    Edges are lines coloured by predicate (legend at the top, for the predicates present); a
    scale bar gives metres.

    Args:
        graph: a ``SceneGraph`` (its ``nodes``, ``edges`` and ``floor_z_m``).
        size_px: width and height of the square picture.
    """
    from PIL import Image, ImageDraw

    from real3d.viz.plots import _font, place_labels

    # Node colours in the graph's label set (NYUv2-13 unless its config names another).
    label_set = get_label_set(getattr(getattr(graph, "config", None), "label_set", "nyu13"))
    img = Image.new("RGB", (size_px, size_px), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, f_small = _font(13), _font(12)
    head, foot = 34, 40  # legend band at the top, list of unplaced captions at the bottom
    x = 10
    shown = {e.predicate for e in graph.edges}
    for pred, (col, text) in EDGE_STYLE.items():
        if pred not in shown:
            continue
        draw.line([(x, 17), (x + 22, 17)], fill=col, width=3)
        draw.text((x + 28, 10), text, fill=(0, 0, 0), font=f_small)
        x += 40 + int(draw.textlength(text, font=f_small))
    draw.ellipse((x, 9, x + 16, 25), fill=_ROOM_FILL, outline=(120, 120, 120))
    draw.text((x + 22, 10), "room", fill=(0, 0, 0), font=f_small)
    x += 70
    draw.text((x, 10), "discs: objects (large), structure (small), in class colours", fill=(0, 0, 0), font=f_small)
    nodes = list(graph.nodes.values())
    fig = SceneGraphFigure(img, {}, {}, {}, [], 0.0)
    if not nodes:
        draw.text((margin_px, size_px // 2), "no nodes", fill=(120, 120, 120), font=font)
        return fig
    xy = np.array([np.asarray(n.centroid, float)[:2] for n in nodes])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    inner = size_px - 2 * margin_px
    top, bottom = head + margin_px, size_px - foot - margin_px
    s = min(inner, bottom - top) / span
    fig.px_per_m = s
    off = ((inner - (hi - lo)[0] * s) / 2, ((bottom - top) - (hi - lo)[1] * s) / 2)
    floor_z = float(getattr(graph, "floor_z_m", 0.0))
    for n in nodes:
        px = margin_px + off[0] + (n.centroid[0] - lo[0]) * s
        py = bottom - off[1] - (n.centroid[1] - lo[1]) * s
        box = getattr(n, "box", None)
        if n.kind == "object" and box is not None and box.z_min > floor_z + 0.2:
            py -= 40
        fig.positions[n.id] = (float(px), float(py))
        fig.radii[n.id] = 22.0 if n.kind == "room" else 10.0 if n.kind == "object" else 7.0
    # captions: rooms first, then objects, then structure, each kind by id; no caption may
    # cover an object or structure disc (a room's large disc may be covered)
    order = sorted(nodes, key=lambda n: ({"room": 0, "object": 1}.get(n.kind, 2), n.id))
    discs = [
        (x - fig.radii[i], y - fig.radii[i], x + fig.radii[i], y + fig.radii[i])
        for i, (x, y) in fig.positions.items()
        if graph.nodes[i].kind != "room"
    ]
    texts = [f"room {n.id}" if n.kind == "room" else f"{n.id} {n.class_name}" for n in order]
    ink_boxes = [draw.textbbox((0, 0), t, font=font) for t in texts]
    sizes = [(r - l, b - t) for l, t, r, b in ink_boxes]
    anchors = [(*fig.positions[n.id], fig.radii[n.id]) for n in order]
    boxes = place_labels(anchors, sizes, (2, head + 2, size_px - 2, size_px - foot - 2), obstacles=discs)

    for e in graph.edges:
        if e.subject in fig.positions and e.object in fig.positions:
            col = EDGE_STYLE.get(e.predicate, ((0, 0, 0), ""))[0]
            draw.line([fig.positions[e.subject], fig.positions[e.object]], fill=col, width=2)
    for n, box in zip(order, boxes):
        x, y = fig.positions[n.id]
        if box is None:
            continue
        bx, by = min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])  # the box's point nearest the disc
        if np.hypot(bx - x, by - y) > fig.radii[n.id] + 8:
            draw.line([(x, y), (bx, by)], fill=(90, 90, 90), width=1)
    for n in sorted(nodes, key=lambda n: n.kind != "room"):
        x, y = fig.positions[n.id]
        r = fig.radii[n.id]
        if n.kind == "room":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_ROOM_FILL, outline=(120, 120, 120))
        else:
            col = tuple(int(c) for c in label_set.colors[n.label])
            draw.ellipse((x - r, y - r, x + r, y + r), fill=col, outline=(0, 0, 0))
    for n, text, ink, box in zip(order, texts, ink_boxes, boxes):
        if box is None:
            fig.unplaced.append(n.id)
            continue
        draw.text((box[0] - ink[0], box[1] - ink[1]), text, fill=(0, 0, 0), font=font)
        fig.labels[n.id] = (text, box)
    if fig.unplaced:
        names = {n.id: f"{n.id} {n.class_name}" for n in nodes}
        listed = ", ".join(names[i] for i in fig.unplaced)
        if len(listed) > 140:
            listed = listed[:140].rsplit(",", 1)[0] + f", ... ({len(fig.unplaced)} in all)"
        draw.text((10, size_px - foot + 4), f"no room for the captions of: {listed}", fill=(60, 60, 60), font=f_small)
    # scale bar, bottom right
    bar_m = next((m for m in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0) if m * s >= 60), 100.0)
    bx1, by = size_px - 20, size_px - 12
    draw.line([(bx1 - bar_m * s, by), (bx1, by)], fill=(0, 0, 0), width=3)
    draw.text((bx1 - bar_m * s - 6, by), f"{bar_m:g} m", fill=(0, 0, 0), font=f_small, anchor="rm")
    return fig


def render_scene_graph(graph, size_px: int = 900):
    """``scene_graph_figure(graph, size_px).image``."""
    return scene_graph_figure(graph, size_px).image
