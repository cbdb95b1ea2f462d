"""Statistics that characterise a depth sensor from its frames alone (no ground truth).

They describe where a sensor loses depth and how it reports the depth it keeps, so that the
data engine's sensor model (``real3d.synth.sensor``) can be compared with real captures:

* **invalid share**: the share of pixels with no depth (0), overall;
* **edge holes**: the invalid share within ``edge_band_px`` of a depth discontinuity against
  the invalid share elsewhere (projector shadows, edge dropout). A *discontinuity pixel* is
  a valid pixel whose nearest valid pixel along its row or column, at most ``edge_gap_px``
  away (so a hole between the two sides does not hide the jump), is closer than
  ``1 - edge_rel_jump`` times the farther of the two. Along rows the hole run between the
  two sides is measured too: the share of row discontinuities with a hole between the
  sides, the median length of that hole, and the share of those holes whose far side is on
  the left (a structured-light projector at +x of the camera shadows the background left
  of foreground objects: projector shadows alone give a share near 1, holes on both sides
  of objects a share near 0.5);
* **dark and bright surfaces**: the invalid share of pixels with low colour luminance
  against bright ones, both away from discontinuities (only with a colour image). These
  shares and the edge ones leave out the pixels of holes that touch the image border (see
  hole blobs), which would otherwise swamp them in registered depth;
* **range**: percentiles 1, 50 and 99 of valid depth and the share of valid depth beyond
  ``far_m``;
* **quantisation**: per depth bin, the median gap between adjacent distinct values of valid
  depth. A disparity sensor quantises ``z = f*b/d``, so its distinct values are levels whose
  gap grows as ``z**2``; a time-of-flight sensor stored in millimetres shows 1 mm at every
  depth. The median of ``z_mid**2 / gap`` over the same pairs (``z_mid`` their mean) is the
  quantiser's constant ``f*b*steps`` (pixels times metres) for disparity levels ``z = K/d``,
  ``d`` integer, whatever the depths in the bin; it is constant over bins for a disparity
  sensor and grows as ``z**2`` for a fixed metric step;
* **local noise**: per depth bin, the median and the mean absolute second difference
  ``z[u-1] - 2 z[u] + z[u+1]`` along rows over triples of valid pixels away from
  discontinuities (for independent Gaussian noise of standard deviation s and a locally
  linear surface, the median is ``0.6745 * sqrt(6) * s``, about ``1.65 s``; quantised
  depth gives a median of 0 where the level gap exceeds the noise);
* **hole blobs**: 8-connected components of invalid pixels. Those touching the image border
  (the unmeasured frame a registered depth image leaves around the colour image, out-of-range
  regions cut by the border) are counted apart as a share of the image; the others, the
  holes inside the image, give their number per megapixel and their median area.

Pixel-sized quantities (band, gap, blob area, blobs per megapixel) are given at a reference
width of ``ref_width_px`` (640) and scaled with the image width, so that frames of different
sizes of the same sensor give the same figures.

``depth_stats`` computes them for one frame; ``summarize`` takes the mean of each over
frames (NaN-skipping). Everything is vectorised numpy/scipy and deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage

from real3d.core.errors import ConfigError, InputError, describe_array

__all__ = ["DepthStats", "DepthStatsConfig", "depth_stats", "luminance", "summarize"]

#: Rec. 709 luma weights of the (gamma-encoded) 8-bit RGB values
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class DepthStatsConfig:
    """What the statistics count.

    Attributes:
        ref_width_px: image width at which the pixel-sized settings and results are stated.
        edge_rel_jump: relative depth jump (``1 - near/far``) that makes a discontinuity.
        edge_gap_px: the farthest (at ``ref_width_px``) two valid pixels of a row or column
            may be apart, across invalid pixels, to be compared as neighbours.
        edge_band_px: half-width (Chebyshev distance, at ``ref_width_px``) of the band
            around discontinuity pixels.
        dark_luma: luminance in [0, 1] below which a pixel is dark.
        bright_luma: luminance in [0, 1] at or above which a pixel is bright.
        far_m: depth beyond which valid depth counts as far (metres).
        depth_bins_m: (low, high) depth bins in metres for quantisation and noise.
        min_bin_px: fewest valid pixels (or triples) a bin needs for a figure; NaN below.
    """

    ref_width_px: int = 640
    edge_rel_jump: float = 0.04
    edge_gap_px: float = 32.0
    edge_band_px: float = 3.0
    dark_luma: float = 0.12
    bright_luma: float = 0.35
    far_m: float = 4.0
    depth_bins_m: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0))
    min_bin_px: int = 200

    def __post_init__(self) -> None:
        checks = (
            (self.ref_width_px > 0, "ref_width_px > 0"),
            (0 < self.edge_rel_jump < 1, "0 < edge_rel_jump < 1"),
            (self.edge_gap_px >= 1, "edge_gap_px >= 1"),
            (self.edge_band_px >= 0, "edge_band_px >= 0"),
            (0 <= self.dark_luma <= self.bright_luma <= 1, "0 <= dark_luma <= bright_luma <= 1"),
            (self.far_m > 0, "far_m > 0"),
            (len(self.depth_bins_m) > 0 and all(0 <= lo < hi for lo, hi in self.depth_bins_m), "0 <= low < high bins"),
            (self.min_bin_px >= 2, "min_bin_px >= 2"),
        )
        for ok, what in checks:
            if not ok:
                raise ConfigError(f"DepthStatsConfig: expected {what}")


@dataclass(frozen=True)
class DepthStats:
    """The statistics of one frame (or, from ``summarize``, their means over frames).

    Shares are fractions in [0, 1]; NaN where the denominator is empty. Depths in metres,
    steps and noise in millimetres, pixel figures at the reference width. Per-bin tuples
    follow ``DepthStatsConfig.depth_bins_m``.

    Attributes:
        invalid_share: invalid pixels / all pixels.
        edge_invalid_share: invalid share within the band around discontinuities.
        nonedge_invalid_share: invalid share outside that band.
            (These and the dark/bright shares leave out hole blobs touching the border.)
        edge_px_share: share of the image inside that band.
        edge_gap_share: share of row discontinuities with invalid pixels between the sides.
        edge_gap_median_px: median length of those hole runs (reference pixels).
        edge_gap_far_left_share: share of those hole runs whose far side is on the left.
        dark_invalid_share: invalid share of dark pixels away from discontinuities.
        bright_invalid_share: invalid share of bright pixels away from discontinuities.
        dark_px_share: share of the image that is dark and away from discontinuities.
        p01_m, p50_m, p99_m: percentiles 1, 50 and 99 of valid depth.
        far_share: share of valid pixels beyond ``far_m``.
        step_mm: per bin, median gap between adjacent distinct valid depths.
        step_k_px_m: per bin, median ``z_mid**2 / gap`` of those gaps (pixels x metres).
        noise_med_mm: per bin, median absolute second difference along rows.
        noise_mean_mm: per bin, mean absolute second difference along rows.
        border_invalid_share: share of the image in hole blobs that touch the border.
        blobs_per_mpx: hole blobs not touching the border per million reference pixels.
        blob_median_px: median area of those blobs (reference pixels).
    """

    invalid_share: float
    edge_invalid_share: float
    nonedge_invalid_share: float
    edge_px_share: float
    edge_gap_share: float
    edge_gap_median_px: float
    edge_gap_far_left_share: float
    dark_invalid_share: float
    bright_invalid_share: float
    dark_px_share: float
    p01_m: float
    p50_m: float
    p99_m: float
    far_share: float
    step_mm: tuple[float, ...]
    step_k_px_m: tuple[float, ...]
    noise_med_mm: tuple[float, ...]
    noise_mean_mm: tuple[float, ...]
    border_invalid_share: float
    blobs_per_mpx: float
    blob_median_px: float

    def to_dict(self) -> dict:
        """Plain dict (tuples as lists) for JSON."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W) float32 Rec. 709 luma of the encoded values, in [0, 1]."""
    return (rgb.astype(np.float32) @ _LUMA) / np.float32(255.0)


def _check(depth_m, rgb) -> np.ndarray:
    if not isinstance(depth_m, np.ndarray) or depth_m.ndim != 2 or depth_m.dtype not in (np.float32, np.float64):
        raise InputError(
            f"depth_stats: expected depth_m (H, W) float32 or float64 metres, got {describe_array(depth_m)}"
        )
    if depth_m.size == 0:
        raise InputError(f"depth_stats: expected a non-empty depth image, got {describe_array(depth_m)}")
    lo, hi = float(depth_m.min()), float(depth_m.max())
    if not (lo >= 0 and math.isfinite(hi)):  # NaN fails both comparisons
        raise InputError(f"depth_stats: expected finite depth >= 0 (0 = invalid), got values in [{lo}, {hi}]")
    if rgb is not None:
        hw = depth_m.shape
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.shape != hw + (3,):
            raise InputError(f"depth_stats: expected rgb uint8 {hw + (3,)} or None, got {describe_array(rgb)}")
    return depth_m.astype(np.float64)


def _share(num: np.ndarray, den: np.ndarray) -> float:
    """Share of True in ``num`` among True of ``den`` (both bool), NaN when den is empty."""
    n = int(den.sum())
    return float(np.count_nonzero(num & den)) / n if n else math.nan


def _nearest_valid_jumps(z: np.ndarray, valid: np.ndarray, max_gap: int, rel: float):
    """Along rows: each valid pixel paired with the previous valid pixel of its row at most
    ``max_gap`` columns before it. Returns (v, u_left, u_right, is_jump) of the pairs."""
    h, w = z.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    last = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    prev = np.full((h, w), -1, dtype=np.int64)
    prev[:, 1:] = last[:, :-1]
    pair = valid & (prev >= 0) & (cols - prev <= max_gap)
    v, u = np.nonzero(pair)
    ul = prev[v, u]
    a, b = z[v, u], z[v, ul]
    jump = np.minimum(a, b) < (1.0 - rel) * np.maximum(a, b)
    return v, ul, u, jump


def _discontinuities(z: np.ndarray, valid: np.ndarray, max_gap: int, rel: float):
    """Bool (H, W) discontinuity pixels, and the row pairs (v, u_left, u_right) that jump."""
    disc = np.zeros(z.shape, dtype=bool)
    v, ul, ur, jump = _nearest_valid_jumps(z, valid, max_gap, rel)
    rows = (v[jump], ul[jump], ur[jump])
    disc[rows[0], rows[1]] = True
    disc[rows[0], rows[2]] = True
    # columns: the same on the transpose
    u, vt, vb, jump_t = _nearest_valid_jumps(z.T, valid.T, max_gap, rel)
    disc[vt[jump_t], u[jump_t]] = True
    disc[vb[jump_t], u[jump_t]] = True
    return disc, rows


def _bin_figures(z, valid, smooth_row, bins, min_px):
    """Per bin: median gap of distinct valid depths (mm), median ``z_mid**2 / gap`` (px m),
    median and mean |second difference| (mm)."""
    step, k_est, med, mean = [], [], [], []
    zc = z[:, 1:-1]
    d2 = np.abs(z[:, :-2] - 2.0 * zc + z[:, 2:])
    for lo, hi in bins:
        sel = valid & (z >= lo) & (z < hi)
        vals = z[sel]
        distinct = np.unique(vals) if vals.size >= min_px else vals[:0]
        if distinct.size > 1:
            gap = np.diff(distinct)
            mid = 0.5 * (distinct[1:] + distinct[:-1])
            step.append(float(np.median(gap)) * 1000)
            k_est.append(float(np.median(mid**2 / gap)))
        else:
            step.append(math.nan)
            k_est.append(math.nan)
        tri = smooth_row & (zc >= lo) & (zc < hi)
        dd = d2[tri]
        if dd.size >= min_px:
            med.append(float(np.median(dd)) * 1000)
            mean.append(float(dd.mean()) * 1000)
        else:
            med.append(math.nan)
            mean.append(math.nan)
    return tuple(step), tuple(k_est), tuple(med), tuple(mean)


def depth_stats(
    depth_m: np.ndarray, rgb: np.ndarray | None = None, cfg: DepthStatsConfig = DepthStatsConfig()
) -> DepthStats:
    """The sensor statistics of one frame (see the module docstring).

    Args:
        depth_m: (H, W) float32 or float64 depth in metres, 0 = invalid; finite, >= 0.
        rgb: (H, W, 3) uint8 colour registered to the depth, or None (dark/bright figures
            are then NaN).
        cfg: what to count.

    Returns:
        DepthStats of the frame.

    Raises:
        InputError: depth that is not a non-empty 2-D float array, NaN, inf or negative
            depth; rgb of another shape or dtype.
    """
    z = _check(depth_m, rgb)
    h, w = z.shape
    scale = w / cfg.ref_width_px  # image pixels per reference pixel
    valid = z > 0
    invalid = ~valid
    everything = np.ones_like(valid)

    labels, n_labels = ndimage.label(invalid, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n_labels + 1)
    at_border = np.zeros(n_labels + 1, dtype=bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        at_border[edge] = True
    at_border[0] = False  # label 0: valid pixels
    inner = areas[1:][~at_border[1:]]
    ref_px = h * w / scale**2
    # pixels of holes that touch the border are counted apart, not in the shares below
    inside = ~at_border[labels]

    max_gap = max(1, int(round(cfg.edge_gap_px * scale)))
    disc, (rv, rl, rr) = _discontinuities(z, valid, max_gap, cfg.edge_rel_jump)
    k = int(round(cfg.edge_band_px * scale))
    band = ndimage.maximum_filter(disc, size=2 * k + 1, mode="constant") if k > 0 else disc
    away = ~band

    # hole runs between the two sides of row discontinuities
    run = rr - rl - 1
    gapped = run > 0
    far_left = z[rv, rl] > z[rv, rr]
    n_disc = rv.size

    # dark / bright surfaces away from edges
    if rgb is not None:
        y = luminance(rgb)
        dark = (y < cfg.dark_luma) & away & inside
        bright = (y >= cfg.bright_luma) & away & inside
        dark_inv, bright_inv, dark_px = _share(invalid, dark), _share(invalid, bright), float(dark.mean())
    else:
        dark_inv = bright_inv = dark_px = math.nan

    vals = z[valid]
    if vals.size:
        p01, p50, p99 = (float(x) for x in np.percentile(vals, [1, 50, 99]))
        far = float(np.count_nonzero(vals > cfg.far_m)) / vals.size
    else:
        p01 = p50 = p99 = far = math.nan

    # triples (u-1, u, u+1) of valid pixels, none of them near a discontinuity
    ok = valid & away
    smooth_row = ok[:, :-2] & ok[:, 1:-1] & ok[:, 2:]
    step, k_est, noise_med, noise_mean = _bin_figures(z, valid, smooth_row, cfg.depth_bins_m, cfg.min_bin_px)

    blob_med = float(np.median(inner)) / scale**2 if inner.size else math.nan

    return DepthStats(
        invalid_share=_share(invalid, everything),
        edge_invalid_share=_share(invalid, band & inside),
        nonedge_invalid_share=_share(invalid, away & inside),
        edge_px_share=float(band.mean()),
        edge_gap_share=float(gapped.mean()) if n_disc else math.nan,
        edge_gap_median_px=float(np.median(run[gapped])) / scale if gapped.any() else math.nan,
        edge_gap_far_left_share=float(far_left[gapped].mean()) if gapped.any() else math.nan,
        dark_invalid_share=dark_inv,
        bright_invalid_share=bright_inv,
        dark_px_share=dark_px,
        p01_m=p01,
        p50_m=p50,
        p99_m=p99,
        far_share=far,
        step_mm=step,
        step_k_px_m=k_est,
        noise_med_mm=noise_med,
        noise_mean_mm=noise_mean,
        border_invalid_share=float(areas[at_border].sum()) / (h * w),
        blobs_per_mpx=inner.size / ref_px * 1e6,
        blob_median_px=blob_med,
    )


def summarize(stats: Sequence[DepthStats]) -> DepthStats:
    """Mean over frames of each statistic (per bin for the tuples), skipping NaN; NaN where
    every frame has NaN.

    Raises:
        InputError: no frames, or an item that is not a DepthStats.
    """
    stats = list(stats)
    if not stats or not all(isinstance(s, DepthStats) for s in stats):
        raise InputError(f"summarize: expected one or more DepthStats, got {[type(s).__name__ for s in stats]}")
    out = {}
    for f in fields(DepthStats):
        a = np.array([getattr(s, f.name) for s in stats], dtype=np.float64)
        finite = np.isfinite(a)
        n = finite.sum(axis=0)
        mean = np.where(finite, a, 0.0).sum(axis=0) / np.maximum(n, 1)
        mean = np.where(n > 0, mean, np.nan)
        out[f.name] = tuple(float(x) for x in mean) if a.ndim == 2 else float(mean)
    return DepthStats(**out)
