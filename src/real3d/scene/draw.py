"""Scene-graph drawing (PIL): nodes at their top-down positions, edges by predicate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from real3d.core.files import atomic_path
from real3d.core.labels import NYU13
from real3d.scene.graph import SceneGraph

_EDGE_COLORS = {"on": (200, 60, 0), "next_to": (60, 120, 220), "in": (170, 170, 170)}


def render_scene_graph(graph: SceneGraph, size_px: int = 900, margin_px: int = 60):
    """PIL image of the graph seen from above (+y up): rooms as large grey discs, objects
    and structure as discs in their class colour with "id class" captions, edges as lines
    coloured by predicate (on: orange, next_to: blue, in: grey)."""
    from PIL import Image, ImageDraw

    nodes = list(graph.nodes.values())
    img = Image.new("RGB", (size_px, size_px), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if not nodes:
        return img
    xy = np.array([n.centroid[:2] for n in nodes])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    s = (size_px - 2 * margin_px) / span

    # Centre the drawing on the canvas along the shorter extent.
    off = (size_px - 2 * margin_px - (hi - lo) * s) / 2

    def px(p):
        return (margin_px + off[0] + (p[0] - lo[0]) * s, size_px - margin_px - off[1] - (p[1] - lo[1]) * s)

    # Objects stacked on others share a footprint: lift them up the picture by their height
    # so "on" edges stay visible.
    pos = {}
    for n in nodes:
        x, y = px(n.centroid)
        if n.kind == "object":
            y -= 40 * float(n.box.z_min > graph.floor_z_m + 0.2)
        pos[n.id] = (x, y)
    for e in graph.edges:
        if e.subject in pos and e.object in pos:
            draw.line([pos[e.subject], pos[e.object]], fill=_EDGE_COLORS.get(e.predicate, (0, 0, 0)), width=2)
    for n in sorted(nodes, key=lambda n: n.kind != "room"):
        x, y = pos[n.id]
        if n.kind == "room":
            r = 22
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(225, 225, 225), outline=(120, 120, 120))
            draw.text((x - 18, y - 5), f"room {n.id}", fill=(0, 0, 0))
            continue
        r = 10 if n.kind == "object" else 7
        col = tuple(int(c) for c in NYU13.colors[n.label])
        draw.ellipse((x - r, y - r, x + r, y + r), fill=col, outline=(0, 0, 0))
        draw.text((x + r + 2, y - 6), f"{n.id} {n.class_name}", fill=(0, 0, 0))
    draw.text((10, 10), "edges: on (orange), next_to (blue), in room (grey)", fill=(0, 0, 0))
    return img


def save_scene_graph_png(graph: SceneGraph, path) -> Path:
    """Write ``render_scene_graph(graph)`` as a PNG; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        render_scene_graph(graph).save(tmp, format="PNG")
    return path
