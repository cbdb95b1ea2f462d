"""Top-down pictures: costmap, object boxes, planned path and robot trajectory (PIL)."""

from __future__ import annotations

from pathlib import Path as FsPath

import numpy as np

from real3d.core.files import atomic_path
from real3d.core.labels import NYU13
from real3d.nav.costmap import Costmap
from real3d.nav.planner import Path


def render_topdown(
    costmap: Costmap,
    objects=(),
    path: Path | None = None,
    trajectory=None,
    goal_xy=None,
    scale: int = 4,
    max_px: int = 4096,
):
    """RGB picture (PIL.Image) of a costmap, north (+y) up, ``scale`` pixels per cell
    (less where the picture's longer side would exceed ``max_px``, down to 1).

    Colours: unknown grey, free white, soft inflation shades of blue, lethal inflation light
    red, occupied dark red; object boxes (nodes with ``box`` and ``label``) outlined in their
    class colour; trajectory (N, 2|3) in orange, path in green, goal as a green disc.
    """
    from PIL import Image, ImageDraw

    g = costmap.grid
    h, w = g.shape
    scale = max(1, min(int(scale), int(max_px) // max(h, w)))
    img = np.full((h, w, 3), 160, np.uint8)
    img[g.free] = (255, 255, 255)
    finite = np.isfinite(costmap.cost)
    soft = finite & (costmap.cost > 1.0) & g.free
    t = np.clip((costmap.cost[soft] - 1.0) / max(costmap.config.inflation_weight, 1e-6), 0, 1)
    img[soft] = np.stack([255 - 90 * t, 255 - 60 * t, np.full_like(t, 255)], axis=1).astype(np.uint8)
    img[~finite & ~g.occupied & ~(~g.free & ~g.occupied)] = (250, 190, 190)
    img[g.occupied] = (130, 20, 20)
    img = img[::-1]  # row 0 is the lowest y: flip so +y points up
    pil = Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(pil)

    def to_px(xy):
        xy = np.asarray(xy, float).reshape(-1, 2)
        x = (xy[:, 0] - g.origin_xy[0]) / g.resolution_m * scale
        y = (h - (xy[:, 1] - g.origin_xy[1]) / g.resolution_m) * scale
        return [(float(a), float(b)) for a, b in zip(x, y)]

    for n in objects:
        box = getattr(n, "box", None)
        if box is None:
            continue
        col = tuple(int(c) for c in NYU13.colors[int(n.label)])
        fp = to_px(box.footprint())
        draw.line(fp + fp[:1], fill=col, width=2)
    if trajectory is not None and len(trajectory) > 1:
        draw.line(to_px(np.asarray(trajectory)[:, :2]), fill=(255, 140, 0), width=2)
    if path is not None and len(path.waypoints) > 1:
        draw.line(to_px(path.waypoints), fill=(0, 170, 0), width=3)
        for x, y in to_px(path.waypoints):
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(0, 120, 0))
    if goal_xy is not None:
        ((x, y),) = to_px(goal_xy)
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=(0, 170, 0), width=3)
    return pil


def save_topdown_png(png_path, costmap: Costmap, **kw) -> FsPath:
    """Write ``render_topdown(costmap, **kw)`` as a PNG; returns its path."""
    png_path = FsPath(png_path)
    with atomic_path(png_path) as tmp:
        render_topdown(costmap, **kw).save(tmp, format="PNG")
    return png_path
