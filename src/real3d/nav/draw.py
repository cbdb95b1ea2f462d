"""Top-down pictures: costmap, object boxes, planned path and robot trajectory (PIL).

``topdown_figure`` draws the costmap for a person: metre axes in the map frame (the
gravity-aligned frame the costmap is in), the frame's origin, a scale bar and a legend with
an entry for every colour the picture uses (``frame_map`` puts any map picture in that
frame). ``render_topdown`` returns its image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.files import atomic_path
from real3d.core.labels import NYU13
from real3d.nav.costmap import Costmap
from real3d.nav.planner import Path

#: colours of the costmap's cell states and of what is drawn over them (RGB)
UNKNOWN_RGB = (160, 160, 160)
FREE_RGB = (255, 255, 255)
LETHAL_RGB = (250, 190, 190)
OCCUPIED_RGB = (130, 20, 20)
TRAJECTORY_RGB = (255, 140, 0)
PATH_RGB = (0, 170, 0)
WAYPOINT_RGB = (0, 120, 0)
START_RGB = (0, 0, 0)
ORIGIN_RGB = (0, 0, 0)
#: the soft inflation band runs from FREE_RGB (cost 1) to this colour (1 + inflation_weight)
INFLATION_FULL_RGB = (165, 195, 255)

#: metre steps the axes and the scale bar choose from
_STEPS_M = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 500.0)
_LEFT, _TOP, _BOTTOM, _GAP, _LEGEND_W = 58, 46, 44, 16, 290


@dataclass
class LegendEntry:
    """One row of a picture's legend.

    Attributes:
        text: what the colour means.
        kind: how the swatch is drawn: "fill" (a square), "outline" (a box outline),
            "line", "disc", "ring", "cross" or "gradient" (from ``colors[0]`` to ``colors[1]``).
        colors: the RGB colours the entry explains, as they appear in the picture.
    """

    text: str
    kind: str
    colors: tuple


@dataclass
class TopdownFigure:
    """A top-down picture and where things are in it.

    Attributes:
        image: the RGB PIL image.
        panel: (x0, y0, x1, y1) pixel box of the map inside ``image`` (x1, y1 exclusive).
        px_per_m: pixels per metre of the map panel (same along x and y).
        origin_px: pixel (x, y) of the map frame's (0, 0), whether or not it is in the panel.
        ticks_x, ticks_y: (value metres, pixel coordinate) of each axis tick.
        scale_bar_m: length of the scale bar, metres (its pixels are ``px_per_m`` times it).
        legend: the legend's entries, top to bottom.
    """

    image: object
    panel: tuple
    px_per_m: float
    origin_px: tuple
    ticks_x: list = field(default_factory=list)
    ticks_y: list = field(default_factory=list)
    scale_bar_m: float = 0.0
    legend: list = field(default_factory=list)

    def xy_to_px(self, xy) -> np.ndarray:
        """(N, 2) map-frame metres -> (N, 2) float image pixels (x right, y down)."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.stack(
            [self.origin_px[0] + xy[:, 0] * self.px_per_m, self.origin_px[1] - xy[:, 1] * self.px_per_m], axis=1
        )


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _step(px_per_m: float, min_px: float) -> float:
    """The smallest of ``_STEPS_M`` that is at least ``min_px`` pixels long."""
    return next((s for s in _STEPS_M if s * px_per_m >= min_px), _STEPS_M[-1])


def _ticks(lo_m: float, hi_m: float, step_m: float) -> np.ndarray:
    first = np.ceil(lo_m / step_m - 1e-9) * step_m
    t = np.arange(first, hi_m + 1e-9, step_m)
    return np.round(t / step_m) * step_m + 0.0  # no -0.0 or 0.30000000000000004


def _fmt_m(v: float) -> str:
    v = 0.0 if abs(v) < 1e-12 else v
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:g}"


def _cell_colours(costmap: Costmap) -> tuple[np.ndarray, dict]:
    """(H, W, 3) uint8 cell colours (row 0 = lowest y) and which cell states occur."""
    g = costmap.grid
    img = np.empty(g.shape + (3,), np.uint8)
    img[:] = UNKNOWN_RGB
    img[g.free] = FREE_RGB
    finite = np.isfinite(costmap.cost)
    soft = finite & (costmap.cost > 1.0) & g.free
    t = np.clip((costmap.cost[soft] - 1.0) / max(costmap.config.inflation_weight, 1e-6), 0, 1)[:, None]
    full = np.asarray(INFLATION_FULL_RGB, np.float64)
    img[soft] = np.round(255.0 + (full - 255.0) * t).astype(np.uint8)
    lethal = ~finite & g.free & ~g.occupied
    img[lethal] = LETHAL_RGB
    img[g.occupied] = OCCUPIED_RGB
    present = {
        "free": bool((g.free & ~soft & ~lethal & ~g.occupied).any()),
        "unknown": bool(g.unknown.any()),
        "soft": bool(soft.any()),
        "lethal": bool(lethal.any()),
        "occupied": bool(g.occupied.any()),
    }
    return img, present


def _check_xy(name: str, xy, cols: tuple[int, ...] = (2,)) -> np.ndarray | None:
    if xy is None:
        return None
    a = np.asarray(xy, np.float64)
    a = a.reshape(1, -1) if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] not in cols or not np.isfinite(a).all():
        want = " or ".join(f"(N, {c})" for c in cols)
        raise InputError(f"render_topdown: expected {name} {want} finite metres, got {describe_array(np.asarray(xy))}")
    return a[:, :2]


def topdown_figure(
    costmap: Costmap,
    objects=(),
    path: Path | None = None,
    trajectory=None,
    goal_xy=None,
    start_xy=None,
    scale: float = 4,
    max_px: int = 4096,
    axes: bool = True,
    title: str = "Top-down costmap, frame map (z up)",
    label_set=NYU13,
) -> TopdownFigure:
    """The costmap from above (+y up, +x right) for a person to read.

    Args:
        costmap: the costmap, in the gravity-aligned map frame.
        objects: scene-graph nodes; those with a ``box`` are outlined in their class colour.
        path: the planned path (green line, waypoints as darker dots).
        trajectory: (N, 2|3) camera positions, map-frame metres (orange line).
        goal_xy, start_xy: (2,) map-frame metres: the goal (green ring), the start (black disc).
        scale: pixels per costmap cell; less where the picture would exceed ``max_px`` on its
            longer side (then a cell may take less than one pixel).
        axes: draw the metre axes, the origin (a black cross where it is inside the map), the
            scale bar and the legend around the map; False gives the bare map, one
            ``scale`` block per cell.
        title: the line above the map (with ``axes``).
        label_set: the ``LabelSet`` of the objects' ``label`` (box colours and legend names).

    Colours: unknown grey, free white, the soft inflation band from white to pale blue as the
    cost rises towards obstacles, too close for the robot (lethal inflation) light red,
    occupied dark red; the legend lists the ones in the picture.

    Raises:
        InputError: a position that is not (2,) / (N, 2|3) finite metres.
    """
    from PIL import Image, ImageDraw

    traj = _check_xy("trajectory", trajectory, (2, 3))
    goal = _check_xy("goal_xy", goal_xy)
    start = _check_xy("start_xy", start_xy)
    g = costmap.grid
    h, w = g.shape
    res = float(g.resolution_m)
    cells, present = _cell_colours(costmap)
    room = max(1, int(max_px) - (_LEFT + _GAP + _LEGEND_W if axes else 0))
    s = float(min(max(float(scale), 1e-3), room / max(h, w)))
    if not axes:
        s = float(max(1, int(s)))
    pw, ph = max(1, int(round(w * s))), max(1, int(round(h * s)))
    px_per_m = pw / (w * res)  # pixels per metre along x; y equal up to rounding
    panel = Image.fromarray(np.ascontiguousarray(cells[::-1])).resize((pw, ph), Image.NEAREST)
    # Overlays are drawn on the map panel alone, so nothing spills over the axes.
    fig = TopdownFigure(None, (0, 0, pw, ph), px_per_m, (-g.origin_xy[0] * px_per_m, ph + g.origin_xy[1] * px_per_m))
    draw_map = ImageDraw.Draw(panel)

    def to_px(xy):
        return [(float(a), float(b)) for a, b in fig.xy_to_px(xy)]

    legend: list[LegendEntry] = []
    for key, text, kind, cols in (
        ("free", "free", "fill", (FREE_RGB,)),
        ("soft", "inflation cost, rising towards obstacles", "gradient", (FREE_RGB, INFLATION_FULL_RGB)),
        ("lethal", "too close for the robot (inflated)", "fill", (LETHAL_RGB,)),
        ("occupied", "occupied (measured obstacle)", "fill", (OCCUPIED_RGB,)),
        ("unknown", "unknown (not seen)", "fill", (UNKNOWN_RGB,)),
    ):
        if present[key]:
            legend.append(LegendEntry(text, kind, cols))
    classes = set()
    for n in objects:
        box = getattr(n, "box", None)
        if box is None:
            continue
        classes.add(int(n.label))
        fp = to_px(box.footprint())
        draw_map.line(fp + fp[:1], fill=tuple(int(c) for c in label_set.colors[int(n.label)]), width=2)
    for lab in sorted(classes):
        col = tuple(int(c) for c in label_set.colors[lab])
        legend.append(LegendEntry(f"{label_set.names[lab]} (object box)", "outline", (col,)))
    if traj is not None and len(traj) > 1:
        draw_map.line(to_px(traj), fill=TRAJECTORY_RGB, width=2)
        legend.append(LegendEntry("camera trajectory", "line", (TRAJECTORY_RGB,)))
    if path is not None and len(path.waypoints) > 1:
        draw_map.line(to_px(path.waypoints), fill=PATH_RGB, width=3)
        for x, y in to_px(path.waypoints):
            draw_map.ellipse((x - 3, y - 3, x + 3, y + 3), fill=WAYPOINT_RGB)
        legend.append(LegendEntry("planned path and its waypoints", "line", (PATH_RGB, WAYPOINT_RGB)))
    if start is not None:
        ((x, y),) = to_px(start)
        draw_map.ellipse((x - 5, y - 5, x + 5, y + 5), fill=START_RGB)
        legend.append(LegendEntry("start (the last camera position)", "disc", (START_RGB,)))
    if goal is not None:
        ((x, y),) = to_px(goal)
        draw_map.ellipse((x - 6, y - 6, x + 6, y + 6), outline=PATH_RGB, width=3)
        legend.append(LegendEntry("goal", "ring", (PATH_RGB,)))
    fig.legend = legend
    if not axes:
        fig.image = panel
        return fig

    return frame_map(panel, g.origin_xy, px_per_m, legend, title)


def frame_map(
    panel,
    corner_xy_m,
    px_per_m: float,
    legend=(),
    title: str = "",
    legend_below: bool = False,
) -> TopdownFigure:
    """A map picture seen from above, framed for a person: the title, axes with ticks in metres
    of the map frame, the origin (a black cross where it lies on the map), a scale bar and
    the legend (right of the map, or under it with ``legend_below``).

    Args:
        panel: PIL image of the map, +x right and +y up, ``px_per_m`` pixels per metre
            both ways (it is not changed; the cross is drawn on a copy).
        corner_xy_m: (x, y) map-frame metres of the panel's lower-left corner.
        legend: ``LegendEntry`` rows for the colours in the panel; the origin's is added
            when the cross is drawn.

    Returns:
        The ``TopdownFigure`` with the pixel positions of the panel, origin and ticks.
    """
    from PIL import Image, ImageDraw

    panel = panel.copy()
    pw, ph = panel.size
    legend = list(legend)
    ox, oy = -corner_xy_m[0] * px_per_m, ph + corner_xy_m[1] * px_per_m
    if 0 <= ox <= pw and 0 <= oy <= ph:  # on the map or its edge
        d = ImageDraw.Draw(panel)
        d.line([(ox - 7, oy), (ox + 7, oy)], fill=ORIGIN_RGB, width=2)
        d.line([(ox, oy - 7), (ox, oy + 7)], fill=ORIGIN_RGB, width=2)
        legend.append(LegendEntry("origin (0, 0) of the map frame", "cross", (ORIGIN_RGB,)))

    x0, y0 = _LEFT, _TOP
    f_title, f_small = _font(15), _font(12)
    col_w, n_cols = _LEGEND_W, 1
    if legend_below:
        lx, ly = x0, y0 + ph + _BOTTOM
        fig_w = max(x0 + pw + _GAP, x0 + _LEGEND_W)
        # as many columns as the width takes, each as wide as the longest entry
        col_w = 34 + max((f_small.getlength(e.text) for e in legend), default=0)
        n_cols = max(1, int((fig_w - x0) // col_w))
        fig_h = ly + 36 + 20 * -(-len(legend) // n_cols)
    else:
        lx, ly = x0 + pw + _GAP, y0
        fig_w = x0 + pw + _GAP + _LEGEND_W
        fig_h = max(y0 + ph + _BOTTOM, y0 + 36 + 20 * len(legend))
    img = Image.new("RGB", (fig_w, fig_h), (255, 255, 255))
    img.paste(panel, (x0, y0))
    fig = TopdownFigure(img, (x0, y0, x0 + pw, y0 + ph), float(px_per_m), (ox + x0, oy + y0), legend=legend)
    ox, oy = fig.origin_px
    draw = ImageDraw.Draw(img)
    ink, grey = (0, 0, 0), (70, 70, 70)
    draw.text((6, 6), title, fill=ink, font=f_title)
    draw.rectangle([x0 - 1, y0 - 1, x0 + pw, y0 + ph], outline=(80, 80, 80))
    lo_x, lo_y = corner_xy_m
    for t in _ticks(lo_x, lo_x + pw / px_per_m, _step(px_per_m, 48)):
        xx = ox + t * px_per_m
        draw.line([(xx, y0 + ph), (xx, y0 + ph + 5)], fill=grey)
        draw.text((xx, y0 + ph + 7), _fmt_m(t), fill=grey, font=f_small, anchor="mt")
        fig.ticks_x.append((float(t), float(xx)))
    for t in _ticks(lo_y, lo_y + ph / px_per_m, _step(px_per_m, 32)):
        yy = oy - t * px_per_m
        draw.line([(x0 - 6, yy), (x0 - 1, yy)], fill=grey)
        draw.text((x0 - 8, yy), _fmt_m(t), fill=grey, font=f_small, anchor="rm")
        fig.ticks_y.append((float(t), float(yy)))
    draw.text((x0 + pw / 2, y0 + ph + 26), "x [m]", fill=ink, font=f_small, anchor="mt")
    draw.text((6, y0 - 16), "y [m]", fill=ink, font=f_small)

    bar_m = _step(px_per_m, 60)
    bar_px = bar_m * px_per_m
    draw.line([(lx, ly + 8), (lx + bar_px, ly + 8)], fill=ink, width=3)
    for xx in (lx, lx + bar_px):
        draw.line([(xx, ly + 2), (xx, ly + 14)], fill=ink, width=1)
    draw.text((lx + bar_px + 6, ly + 2), f"{_fmt_m(bar_m)} m", fill=ink, font=f_small)
    fig.scale_bar_m = float(bar_m)
    ly += 28
    for k, e in enumerate(legend):
        ex, ey = lx + (k % n_cols) * col_w, ly + (k // n_cols) * 20
        _swatch(draw, ex, ey, e)
        draw.text((ex + 26, ey + 1), e.text, fill=ink, font=f_small)
    return fig


def _swatch(draw, x: float, y: float, e: LegendEntry) -> None:
    """A 16 x 16 px sample of entry ``e`` at (x, y)."""
    c0 = e.colors[0]
    if e.kind == "fill":
        draw.rectangle([x, y, x + 16, y + 14], fill=c0, outline=(60, 60, 60))
    elif e.kind == "gradient":
        a, b = np.asarray(e.colors[0], float), np.asarray(e.colors[1], float)
        for i in range(17):
            c = tuple(int(v) for v in np.round(a + (b - a) * i / 16))
            draw.line([(x + i, y), (x + i, y + 14)], fill=c)
        draw.rectangle([x, y, x + 16, y + 14], outline=(60, 60, 60))
    elif e.kind == "outline":
        draw.rectangle([x + 1, y + 1, x + 15, y + 13], outline=c0, width=2)
    elif e.kind == "line":
        draw.line([(x, y + 7), (x + 16, y + 7)], fill=c0, width=3)
        if len(e.colors) > 1:
            draw.ellipse((x + 5, y + 4, x + 11, y + 10), fill=e.colors[1])
    elif e.kind == "disc":
        draw.ellipse((x + 3, y + 2, x + 13, y + 12), fill=c0)
    elif e.kind == "ring":
        draw.ellipse((x + 1, y, x + 15, y + 14), outline=c0, width=3)
    elif e.kind == "cross":
        draw.line([(x + 1, y + 7), (x + 15, y + 7)], fill=c0, width=2)
        draw.line([(x + 8, y), (x + 8, y + 14)], fill=c0, width=2)


def render_topdown(
    costmap: Costmap,
    objects=(),
    path: Path | None = None,
    trajectory=None,
    goal_xy=None,
    scale: float = 4,
    max_px: int = 4096,
    start_xy=None,
    axes: bool = True,
    label_set=NYU13,
):
    """RGB picture (PIL.Image) of a costmap from above: ``topdown_figure(...).image``."""
    return topdown_figure(
        costmap,
        objects=objects,
        path=path,
        trajectory=trajectory,
        goal_xy=goal_xy,
        start_xy=start_xy,
        scale=scale,
        max_px=max_px,
        axes=axes,
        label_set=label_set,
    ).image


def save_topdown_png(png_path, costmap: Costmap, **kw) -> FsPath:
    """Write ``render_topdown(costmap, **kw)`` as a PNG; returns its path."""
    png_path = FsPath(png_path)
    with atomic_path(png_path) as tmp:
        render_topdown(costmap, **kw).save(tmp, format="PNG")
    return png_path
