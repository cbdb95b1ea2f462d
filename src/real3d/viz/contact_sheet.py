"""Contact sheets: grids of rgb / depth / labels for a person to look at."""

from __future__ import annotations

import numpy as np

from real3d.core.labels import NYU13, get_label_set


def colorize_depth(depth_m: np.ndarray, max_m: float | None = None) -> np.ndarray:
    """(H, W) float metres -> (H, W, 3) uint8 (near bright, far dark, invalid black)."""
    d = np.asarray(depth_m, dtype=np.float32)
    valid = d > 0
    top = max_m if max_m is not None else (float(np.percentile(d[valid], 99)) if valid.any() else 1.0)
    x = np.clip(d / max(top, 1e-6), 0, 1)
    # a simple perceptual ramp: yellow (near) -> purple (far)
    r = np.clip(1.5 - 1.2 * x, 0, 1)
    g = np.clip(1.0 - 1.1 * x, 0, 1) ** 1.2
    b = np.clip(0.3 + 0.5 * x, 0, 1)
    img = (np.stack([r, g, b], -1) * 255).astype(np.uint8)
    img[~valid] = 0
    return img


def contact_sheet(frames, max_rows: int = 8, label_set=None) -> np.ndarray:
    """Rows of [rgb | depth | labels] for up to ``max_rows`` evenly spaced frames.

    Args:
        frames: sequence of ``Frame`` (depth and labels optional; missing ones stay grey).
        label_set: the ``LabelSet`` whose colours the labels take; None: each frame's own
            (``Frame.label_set``).

    Returns:
        (rows * H, 3 * W, 3) uint8 image.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("contact_sheet: no frames")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_rows, len(frames))).round().astype(int))
    rows = []
    for i in idx:
        f = frames[i]
        h, w = f.size_hw
        grey = np.full((h, w, 3), 128, np.uint8)
        depth = colorize_depth(f.depth_m) if f.depth_m is not None else grey
        ls = label_set if label_set is not None else get_label_set(getattr(f, "label_set", NYU13.name))
        lab = ls.colorize(f.labels) if f.labels is not None else grey
        rows.append(np.concatenate([f.rgb, depth, lab], axis=1))
    return np.concatenate(rows, axis=0)
