"""Pictures of segmentation results: confusion matrices and overlays (PIL, no plotting lib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from real3d.core.files import atomic_path
from real3d.core.labels import NYU13, NYU13_NAMES, LabelSet


def confusion_png(conf: np.ndarray, path: str | Path, names: tuple[str, ...] = NYU13_NAMES, cell: int = 30) -> Path:
    """Row-normalised confusion matrix (ground truth rows, predictions columns) as a PNG.

    ``conf`` is (K + 1, K + 1) by label id; the void row/column is left out. Each cell shows
    the percentage of the row's pixels.
    """
    c = np.asarray(conf, dtype=np.float64)[1:, 1:]
    k = c.shape[0]
    rows = c.sum(axis=1, keepdims=True)
    frac = np.divide(c, rows, out=np.zeros_like(c), where=rows > 0)
    font = ImageFont.load_default()
    margin = 90
    size = (margin + k * cell + 10, margin + k * cell + 10)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for i in range(k):
        for j in range(k):
            v = frac[i, j]
            shade = int(255 * (1 - v))
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=(shade, shade, 255), outline=(200, 200, 200))
            if v >= 0.01:
                draw.text((x0 + 3, y0 + 9), f"{100 * v:.0f}", fill="black" if v < 0.5 else "white", font=font)
        draw.text((4, margin + i * cell + 9), names[i + 1][:12], fill="black", font=font)
        col = Image.new("RGB", (margin - 4, cell), "white")
        ImageDraw.Draw(col).text((2, 9), names[i + 1][:12], fill="black", font=font)
        img.paste(col.rotate(90, expand=True), (margin + i * cell, 2))
    draw.text((4, 4), "gt \\ pred", fill="black", font=font)
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def overlay_png(
    rgb: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None,
    path: str | Path,
    alpha: float = 0.55,
    label_set: LabelSet = NYU13,
) -> Path:
    """Side by side: rgb, prediction blended over rgb, ground truth (void black) if given.

    rgb (H, W, 3) uint8; pred, gt (H, W) uint8 ids of ``label_set`` (NYUv2-13 by default).
    """
    base = rgb.astype(np.float32)
    blend = ((1 - alpha) * base + alpha * label_set.colorize(pred).astype(np.float32)).astype(np.uint8)
    panels = [rgb, blend]
    if gt is not None:
        panels.append(label_set.colorize(gt))
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.concatenate(panels, axis=1)).save(tmp, format="PNG")
    return path
