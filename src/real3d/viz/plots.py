"""Small charts drawn with PIL: line charts over frames, bar charts, segmentation samples,
and a greedy placement of labels that never overlap (``place_labels``).

Plain PIL keeps the report free of a plotting dependency; the charts are simple on purpose
(axes with ticks, a legend, one colour per series).
"""

from __future__ import annotations

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.labels import NYU13

# Distinct, colour-blind-friendly series colours (Okabe-Ito).
SERIES_COLORS = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values covering [lo, hi]."""
    if not np.isfinite(hi - lo) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = np.floor(lo / step) * step
    return np.arange(start, hi + step * 0.5, step)


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:.0f}k" if abs(v) >= 10000 else f"{v / 1000:.1f}k"
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v))}"
    return f"{v:.1f}" if abs(v) >= 1 else f"{v:.2f}"


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the runs of True in ``finite`` (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], finite.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def line_chart(
    series: dict,
    title: str,
    xlabel: str,
    ylabel: str,
    size=(900, 360),
    x=None,
    ylim=None,
    smooth: int = 1,
    style: str = "line",
):
    """PIL image of one or more series against a shared x axis.

    Args:
        series: {name: (N,) float values}; NaN values leave gaps (no line is drawn across
            them).
        x: (N,) increasing x values (default 0..N-1).
        ylim: (lo, hi) or None (0 .. the 99th percentile of all values, so one stall does not
            flatten the rest; values above are drawn on the top edge and counted in a note).
        smooth: running-mean window in samples (1 = raw).
        style: "line" joins the samples of each run of finite values with straight lines
            (for quantities between samples, e.g. memory); "steps" draws each sample as
            measured, holding its value from its x to the next sample's (per-frame figures
            such as latency), and a sample with no finite neighbour as a dot (a stage that
            runs every few frames), so nothing is drawn between samples that were not
            measured.

    Raises:
        InputError: an unknown ``style``, or ``x`` of another length than the series.
    """
    from PIL import Image, ImageDraw

    if style not in ("line", "steps"):
        raise InputError(f"line_chart: expected style 'line' or 'steps', got {style!r}")
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    f_title, f_small = _font(16), _font(12)
    left, right, top, bottom = 62, 150, 48, 44
    pw, ph = w - left - right, h - top - bottom
    d.text((6, 6), title, fill=(0, 0, 0), font=f_title)
    vals = [np.asarray(v, np.float64) for v in series.values() if len(v)]
    n = max((len(v) for v in vals), default=0)
    xs = np.arange(n, dtype=np.float64) if x is None else np.asarray(x, np.float64)
    if n and len(xs) < n:
        raise InputError(f"line_chart: expected x of length {n}, got {describe_array(xs)}")
    if n == 0:
        d.text((left + 10, top + ph // 2), "no data", fill=(120, 120, 120), font=f_small)
        return img
    # the width of a step: the usual spacing of the samples
    dx = float(np.median(np.diff(xs[:n]))) if n > 1 else 1.0
    dx = dx if dx > 0 else 1.0
    allv = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.zeros(1)
    if ylim is None:
        hi = float(np.percentile(allv, 99)) * 1.1 if allv.size else 1.0
        ylim = (0.0, hi if hi > 0 else 1.0)
    y0, y1 = ylim
    x0 = float(xs[:n].min())
    x1 = float(max(xs[:n].max() + (dx if style == "steps" else 0.0), x0 + 1))

    def px(xv, yv):
        return (
            left + (xv - x0) / (x1 - x0) * pw,
            top + ph - (np.clip(yv, y0, y1) - y0) / (y1 - y0) * ph,
        )

    for t in _nice_ticks(y0, y1):
        if t < y0 - 1e-9 or t > y1 + 1e-9:
            continue
        _, yy = px(x0, t)
        d.line([(left, yy), (left + pw, yy)], fill=(230, 230, 230))
        d.text((left - 6, yy), _fmt(t), fill=(60, 60, 60), font=f_small, anchor="rm")
    for t in _nice_ticks(x0, x1, 8):
        if t < x0 - 1e-9 or t > x1 + 1e-9:
            continue
        xx, _ = px(t, y0)
        d.line([(xx, top + ph), (xx, top + ph + 4)], fill=(60, 60, 60))
        d.text((xx, top + ph + 6), _fmt(t), fill=(60, 60, 60), font=f_small, anchor="mt")
    d.rectangle([left, top, left + pw, top + ph], outline=(80, 80, 80))
    d.text((left + pw // 2, h - 16), xlabel, fill=(0, 0, 0), font=f_small, anchor="mm")
    d.text((6, top - 16), ylabel, fill=(0, 0, 0), font=f_small)
    above = int((allv > y1 + 1e-9).sum())
    if above:
        d.text(
            (left + pw, top - 16),
            f"{above} value{'s' if above > 1 else ''} above the top (max {_fmt(float(allv.max()))})",
            fill=(90, 90, 90),
            font=f_small,
            anchor="ra",
        )
    for k, (name, v) in enumerate(series.items()):
        v = np.asarray(v, np.float64)
        if not len(v):
            continue
        if smooth > 1 and len(v) >= smooth:
            kern = np.ones(smooth) / smooth
            v = np.convolve(np.nan_to_num(v), kern, mode="same")
        col = SERIES_COLORS[k % len(SERIES_COLORS)]
        xv = xs[: len(v)]
        runs = _runs(np.isfinite(v))
        dots_only = all(b - a == 1 for a, b in runs)
        for a, b in runs:
            if style == "steps" and b - a == 1:
                cx, cy = px(xv[a], v[a])
                d.ellipse([cx - 2.5, cy - 2.5, cx + 2.5, cy + 2.5], fill=col)
                continue
            if style == "steps":
                ends = np.append(xv[a + 1 : b], min(xv[b - 1] + dx, x1))
                pts = []
                for xa, xb, val in zip(xv[a:b], ends, v[a:b]):
                    pts += [px(xa, val), px(xb, val)]
            else:
                pts = [px(xa, val) for xa, val in zip(xv[a:b], v[a:b])]
            if len(pts) > 1:
                d.line(pts, fill=col, width=2)
            else:
                d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=col)
        ly = top + 6 + 18 * k
        if style == "steps" and dots_only:
            d.ellipse([left + pw + 19, ly + 3, left + pw + 25, ly + 9], fill=col)
        else:
            d.line([(left + pw + 12, ly + 6), (left + pw + 32, ly + 6)], fill=col, width=3)
        d.text((left + pw + 38, ly), str(name), fill=(0, 0, 0), font=f_small)
    return img


def bar_chart(values: dict, title: str, ylabel: str, colors=None, size=(900, 360), groups=None):
    """PIL bar chart.

    Args:
        values: {category: value} for one group, or {category: [v_group0, v_group1, ...]}.
        colors: {category: (r, g, b)} (default series colours).
        groups: names of the groups (legend) when values hold several per category; group
            k > 0 is drawn hatched-lighter next to group 0.
    """
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    f_title, f_small = _font(16), _font(12)
    left, right, top, bottom = 62, 20, 48, 70
    pw, ph = w - left - right, h - top - bottom
    d.text((6, 6), title, fill=(0, 0, 0), font=f_title)
    cats = list(values)
    data = np.array([np.atleast_1d(np.asarray(values[c], np.float64)) for c in cats]) if cats else np.zeros((0, 1))
    ng = data.shape[1] if data.size else 1
    hi = float(data.max()) * 1.1 if data.size and data.max() > 0 else 1.0
    for t in _nice_ticks(0, hi):
        if t > hi:
            continue
        yy = top + ph - t / hi * ph
        d.line([(left, yy), (left + pw, yy)], fill=(230, 230, 230))
        d.text((left - 6, yy), _fmt(t), fill=(60, 60, 60), font=f_small, anchor="rm")
    d.rectangle([left, top, left + pw, top + ph], outline=(80, 80, 80))
    d.text((6, top - 16), ylabel, fill=(0, 0, 0), font=f_small)
    if not cats:
        return img
    slot = pw / len(cats)
    bw = slot * 0.8 / ng
    for i, c in enumerate(cats):
        col = (colors or {}).get(c, SERIES_COLORS[i % len(SERIES_COLORS)])
        col = tuple(int(v) for v in col)
        for g in range(ng):
            v = data[i, g]
            x0 = left + i * slot + slot * 0.1 + g * bw
            y = top + ph - v / hi * ph
            fill = col if g == 0 else tuple(int(255 - (255 - cv) * 0.45) for cv in col)
            d.rectangle([x0, y, x0 + bw - 1, top + ph], fill=fill, outline=(60, 60, 60))
        d.text(
            (left + i * slot + slot / 2, top + ph + 6),
            str(c),
            fill=(0, 0, 0),
            font=f_small,
            anchor="mt",
        )
    if groups:
        lx = left + pw - 260
        for g, name in enumerate(groups):
            fill = (90, 90, 90) if g == 0 else (200, 200, 200)
            d.rectangle(
                [lx + g * 130, top + 6, lx + g * 130 + 14, top + 20],
                fill=fill,
                outline=(60, 60, 60),
            )
            d.text((lx + g * 130 + 20, top + 7), name, fill=(0, 0, 0), font=f_small)
    return img


def label_legend(label_set=NYU13, width: int = 900):
    """A strip with each class colour and name."""
    from PIL import Image, ImageDraw

    names = label_set.names[1:]
    per_row = 7
    rows = (len(names) + per_row - 1) // per_row
    img = Image.new("RGB", (width, 24 * rows + 8), (255, 255, 255))
    d = ImageDraw.Draw(img)
    f = _font(12)
    cw = width // per_row
    for k, name in enumerate(names):
        r, c = divmod(k, per_row)
        x, y = 8 + c * cw, 6 + 24 * r
        d.rectangle(
            [x, y, x + 16, y + 16],
            fill=tuple(int(v) for v in label_set.colors[k + 1]),
            outline=(0, 0, 0),
        )
        d.text((x + 22, y + 2), name, fill=(0, 0, 0), font=f)
    return img


def segmentation_samples(samples, label_set=NYU13, max_width: int = 320):
    """Rows of [rgb | prediction | ground truth] for a person to compare.

    Args:
        samples: list of dicts with ``rgb`` (H, W, 3) uint8, ``pred`` (H, W) uint8,
            optional ``gt`` (H, W) uint8, ``index`` int, ``status`` str.

    Returns:
        PIL image; panels are scaled to at most ``max_width`` pixels wide.
    """
    from PIL import Image, ImageDraw

    if not samples:
        return Image.new("RGB", (max_width * 3, 40), (255, 255, 255))
    f = _font(13)
    has_gt = any(s.get("gt") is not None for s in samples)
    cols = 3 if has_gt else 2
    h0, w0 = samples[0]["rgb"].shape[:2]
    scale = max_width / w0
    pw, ph = int(round(w0 * scale)), int(round(h0 * scale))
    head = 22
    img = Image.new("RGB", (cols * pw + (cols - 1) * 4, len(samples) * (ph + head + 4) + 24), (255, 255, 255))
    d = ImageDraw.Draw(img)
    titles = ["colour", "prediction", "ground truth"][:cols]
    for c, t in enumerate(titles):
        d.text((c * (pw + 4) + 4, 4), t, fill=(0, 0, 0), font=f)
    for r, s in enumerate(samples):
        y = 24 + r * (ph + head + 4)
        d.text(
            (4, y + 3),
            f"frame {s.get('index', r)}  ({s.get('status', '')})",
            fill=(60, 60, 60),
            font=f,
        )
        panels = [s["rgb"], label_set.colorize(s["pred"])]
        if has_gt:
            g = s.get("gt")
            panels.append(label_set.colorize(g) if g is not None else np.full_like(s["rgb"], 128))
        for c, p in enumerate(panels):
            im = Image.fromarray(np.ascontiguousarray(p))
            if im.size != (pw, ph):
                im = im.resize((pw, ph), Image.NEAREST if c else Image.BILINEAR)
            img.paste(im, (c * (pw + 4), y + head))
    return img


def stack_vertical(images, gap: int = 6):
    """Stack PIL images top to bottom on white, left-aligned."""
    from PIL import Image

    images = [im for im in images if im is not None]
    w = max(im.width for im in images)
    h = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def boxes_overlap(a, b, pad: float = 0.0) -> bool:
    """Whether pixel boxes ``a`` and ``b`` (x0, y0, x1, y1) overlap or come closer than
    ``pad`` pixels."""
    return a[0] - pad < b[2] and b[0] - pad < a[2] and a[1] - pad < b[3] and b[1] - pad < a[3]


def place_labels(
    anchors,
    sizes,
    canvas,
    obstacles=(),
    pad: float = 2.0,
    reach_px: float = 120.0,
) -> list[tuple[float, float, float, float] | None]:
    """Greedy label placement: each label takes the first free spot around its anchor.

    Labels are placed in the given order (put the important ones first). For each, spots
    are tried on rings of growing distance around the anchor, eight directions a ring
    (right, left, above, below, then the diagonals; sixteen on the outer rings); the first
    box that stays inside ``canvas`` and overlaps neither a label placed before nor an
    obstacle is taken. A label with no free spot within ``reach_px`` of its anchor's edge
    gets None (the caller shows it elsewhere), so no two returned boxes ever overlap.

    Args:
        anchors: (N, 3) pixel x, y and radius of what each label names (a marker).
        sizes: (N, 2) label width and height, pixels.
        canvas: (x0, y0, x1, y1) pixel box the labels must stay in.
        obstacles: (M, 4) pixel boxes no label may cover (markers, legends, titles).
        pad: free pixels kept around every label.
        reach_px: how far from its anchor's edge a label may go.

    Returns:
        One (x0, y0, x1, y1) box or None per label.

    Raises:
        InputError: ``anchors`` not (N, 3) or ``sizes`` not (N, 2).
    """
    anchors = np.asarray(anchors, np.float64).reshape(-1, 3) if len(anchors) else np.zeros((0, 3))
    sizes = np.asarray(sizes, np.float64)
    if sizes.shape != (len(anchors), 2):
        raise InputError(f"place_labels: expected sizes ({len(anchors)}, 2), got {describe_array(sizes)}")
    taken = np.asarray(obstacles, np.float64).reshape(-1, 4)
    placed = np.zeros((0, 4))
    cx0, cy0, cx1, cy1 = canvas
    rings = [3.0, 10.0, 20.0, 34.0, 50.0, 70.0, 95.0, 120.0, 150.0]
    out: list = []
    for (ax, ay, r), (w, h) in zip(anchors, sizes):
        found = None
        for ring in (d for d in rings if d <= reach_px):
            n_dir = 8 if ring < 30 else 16
            # right, left, up, down first: a caption beside its marker reads best
            angles = [0.0, np.pi, -np.pi / 2, np.pi / 2, *np.linspace(0, 2 * np.pi, n_dir, endpoint=False)]
            for ang in angles:
                dxu, dyu = np.cos(ang), np.sin(ang)
                d = r + ring
                # the box's near edge or corner touches the point at distance d in this direction
                x0 = ax + dxu * d - (0.0 if dxu > 0.3 else w if dxu < -0.3 else w / 2)
                y0 = ay + dyu * d - (0.0 if dyu > 0.3 else h if dyu < -0.3 else h / 2)
                box = np.array([x0, y0, x0 + w, y0 + h])
                if box[0] < cx0 or box[1] < cy0 or box[2] > cx1 or box[3] > cy1:
                    continue
                others = np.concatenate([placed, taken])
                if (
                    len(others)
                    and (
                        (box[0] - pad < others[:, 2])
                        & (others[:, 0] - pad < box[2])
                        & (box[1] - pad < others[:, 3])
                        & (others[:, 1] - pad < box[3])
                    ).any()
                ):
                    continue
                found = box
                break
            if found is not None:
                break
        if found is None:
            out.append(None)
            continue
        placed = np.vstack([placed, found])
        out.append(tuple(float(v) for v in found))
    return out
