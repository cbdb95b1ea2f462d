"""Small charts drawn with PIL: line charts over frames, bar charts, segmentation samples.

Plain PIL keeps the report free of a plotting dependency; the charts are simple on purpose
(axes with ticks, a legend, one colour per series).
"""

from __future__ import annotations

import numpy as np

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


def line_chart(
    series: dict,
    title: str,
    xlabel: str,
    ylabel: str,
    size=(900, 360),
    x=None,
    ylim=None,
    smooth: int = 1,
):
    """PIL image of one or more series against a shared x axis.

    Args:
        series: {name: (N,) float values}; NaN values leave gaps.
        x: (N,) x values (default 0..N-1).
        ylim: (lo, hi) or None (0 .. the 99th percentile of all values, so one stall does not
            flatten the rest; values above are clipped to the top edge).
        smooth: running-mean window in samples (1 = raw).
    """
    from PIL import Image, ImageDraw

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
    if n == 0:
        d.text((left + 10, top + ph // 2), "no data", fill=(120, 120, 120), font=f_small)
        return img
    allv = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.zeros(1)
    if ylim is None:
        hi = float(np.percentile(allv, 99)) * 1.1 if allv.size else 1.0
        ylim = (0.0, hi if hi > 0 else 1.0)
    y0, y1 = ylim
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))

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
    for k, (name, v) in enumerate(series.items()):
        v = np.asarray(v, np.float64)
        if not len(v):
            continue
        if smooth > 1 and len(v) >= smooth:
            kern = np.ones(smooth) / smooth
            v = np.convolve(np.nan_to_num(v), kern, mode="same")
        col = SERIES_COLORS[k % len(SERIES_COLORS)]
        pts = [px(a, b) for a, b in zip(xs[: len(v)], v) if np.isfinite(b)]
        if len(pts) > 1:
            d.line(pts, fill=col, width=2)
        elif pts:
            d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=col)
        ly = top + 6 + 18 * k
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
