"""Calibration of per-pixel class probabilities: is a prediction made with confidence p right
a fraction p of the time?

``CalibrationStats`` accumulates, frame by frame, what the usual measures need (Guo et al.,
ICML 2017, "On Calibration of Modern Neural Networks"):

* the reliability table: pixels binned by the confidence of the predicted class (equal-width
  bins over [0, 1]), with each bin's mean confidence and accuracy;
* ECE, the expected calibration error: ``sum_b n_b / N * |acc_b - conf_b|``, and MCE, the
  maximum of ``|acc_b - conf_b|`` over non-empty bins;
* the Brier score, ``mean_i sum_k (p_ik - y_ik)^2`` over the K classes (0 perfect, 2 worst);
* the negative log-likelihood of the true class, and the accuracy and mean confidence.

Pixels labelled void (0) are left out. Probabilities use the project's layout
(``real3d.core.segmentation.SegmentationResult``): (K + 1, H, W) indexed by label id,
channel 0 void and ignored, channels 1..K summing to 1.

``fit_temperature`` finds the temperature T that minimises the NLL of ``softmax(log p / T)``
on held-out pixels (temperature scaling); ``apply_temperature`` rescales probabilities with it.
It can only make a model's confidence fit the data it was fitted on: a domain shift that
makes the network confidently wrong is not seen by a temperature fitted on synthetic views;
``real3d.models.calibrated`` sets a per-pixel temperature that grows with the input's
distance from the training data instead. ``reliability_diagram`` draws reliability diagrams.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.errors import InputError, describe_array

#: probabilities are clipped to this before a log
_EPS = 1e-12


def _check_pair(probs: np.ndarray, labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 3 or probs.shape[0] < 3 or not np.issubdtype(probs.dtype, np.floating):
        raise InputError(f"{where}: expected probs as float (K + 1, H, W) with K >= 2, got {describe_array(probs)}")
    if labels.shape != probs.shape[1:] or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"{where}: expected integer labels of shape {probs.shape[1:]} (the probabilities' H, W), "
            f"got {describe_array(labels)}"
        )
    k = probs.shape[0] - 1
    if labels.size and (labels.min() < 0 or labels.max() > k):
        raise InputError(f"{where}: labels must be in 0..{k} (0 = void), got {labels.min()}..{labels.max()}")
    return probs, labels


def _flatten(probs: np.ndarray, labels: np.ndarray, max_pixels: int | None, rng) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) float64 probabilities over classes 1..K of the labelled pixels, (N,) labels 0..K-1."""
    keep = labels.ravel() > 0
    idx = np.flatnonzero(keep)
    if max_pixels is not None and idx.size > max_pixels:
        idx = np.sort(rng.choice(idx, size=max_pixels, replace=False))
    p = probs[1:].reshape(probs.shape[0] - 1, -1)[:, idx].T.astype(np.float64)
    y = labels.ravel()[idx].astype(np.int64) - 1
    if p.size and not np.isfinite(p).all():
        raise InputError("calibration: the probabilities hold NaN or inf")
    return p, y


@dataclass
class CalibrationStats:
    """Streaming calibration measures over many frames (void pixels left out).

    Args:
        n_bins: equal-width confidence bins over [0, 1] (>= 1).
        max_pixels_per_frame: labelled pixels drawn at random per frame (None: all); the
            draw is deterministic in ``seed``.
        seed: seeds the pixel draw.

    ``update(probs, labels)`` takes one frame: probs (K + 1, H, W) float, labels (H, W)
    integer label ids (0 = void). ``result()`` returns the measures so far.
    """

    n_bins: int = 15
    max_pixels_per_frame: int | None = None
    seed: int = 0
    count: np.ndarray = field(init=False, repr=False)
    conf_sum: np.ndarray = field(init=False, repr=False)
    correct_sum: np.ndarray = field(init=False, repr=False)
    brier_sum: float = field(init=False, default=0.0)
    nll_sum: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if isinstance(self.n_bins, bool) or int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise InputError(f"CalibrationStats: n_bins must be an integer >= 1, got {self.n_bins!r}")
        if self.max_pixels_per_frame is not None and (
            isinstance(self.max_pixels_per_frame, bool) or int(self.max_pixels_per_frame) < 1
        ):
            raise InputError(
                f"CalibrationStats: max_pixels_per_frame must be None or >= 1, got {self.max_pixels_per_frame!r}"
            )
        self.n_bins = int(self.n_bins)
        self.count = np.zeros(self.n_bins, np.int64)
        self.conf_sum = np.zeros(self.n_bins, np.float64)
        self.correct_sum = np.zeros(self.n_bins, np.float64)
        self._rng = np.random.default_rng(self.seed)

    @property
    def pixels(self) -> int:
        return int(self.count.sum())

    def update(self, probs: np.ndarray, labels: np.ndarray) -> None:
        probs, labels = _check_pair(probs, labels, "CalibrationStats.update")
        p, y = _flatten(probs, labels, self.max_pixels_per_frame, self._rng)
        self.add_pixels(p, y)

    def add_pixels(self, p: np.ndarray, y: np.ndarray) -> None:
        """Add (N, K) probabilities over the K classes and (N,) true classes 0..K-1."""
        if p.ndim != 2 or y.shape != (p.shape[0],):
            raise InputError(f"CalibrationStats.add_pixels: expected (N, K) and (N,), got {p.shape} and {y.shape}")
        if not len(y):
            return
        pred = p.argmax(axis=1)
        conf = p[np.arange(len(y)), pred]
        correct = pred == y
        b = np.minimum((conf * self.n_bins).astype(np.int64), self.n_bins - 1)
        self.count += np.bincount(b, minlength=self.n_bins)
        self.conf_sum += np.bincount(b, weights=conf, minlength=self.n_bins)
        self.correct_sum += np.bincount(b, weights=correct.astype(np.float64), minlength=self.n_bins)
        p_true = p[np.arange(len(y)), y]
        self.brier_sum += float((p * p).sum() - 2.0 * p_true.sum() + len(y))
        self.nll_sum += float(-np.log(np.clip(p_true, _EPS, None)).sum())

    def result(self) -> dict:
        """Measures so far: ``ece``, ``mce``, ``brier``, ``nll``, ``accuracy``, ``confidence``
        (fractions in [0, 1]; ECE and MCE in the same units), ``pixels``, and ``bins``: a
        list of ``{lo, hi, count, confidence, accuracy}`` (None for an empty bin).
        Raises InputError when no labelled pixel was added."""
        n = self.pixels
        if n == 0:
            raise InputError("CalibrationStats.result: no labelled pixel was added")
        nz = self.count > 0
        conf_b = np.where(nz, self.conf_sum / np.maximum(self.count, 1), 0.0)
        acc_b = np.where(nz, self.correct_sum / np.maximum(self.count, 1), 0.0)
        gap = np.abs(acc_b - conf_b)
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        bins = [
            {
                "lo": float(edges[i]),
                "hi": float(edges[i + 1]),
                "count": int(self.count[i]),
                "confidence": float(conf_b[i]) if nz[i] else None,
                "accuracy": float(acc_b[i]) if nz[i] else None,
            }
            for i in range(self.n_bins)
        ]
        return {
            "ece": float((self.count * gap).sum() / n),
            "mce": float(gap[nz].max()),
            "brier": self.brier_sum / n,
            "nll": self.nll_sum / n,
            "accuracy": float(self.correct_sum.sum() / n),
            "confidence": float(self.conf_sum.sum() / n),
            "pixels": n,
            "bins": bins,
        }


def calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict:
    """``CalibrationStats(n_bins)`` over one frame: probs (K + 1, H, W), labels (H, W); see
    ``CalibrationStats.result``."""
    stats = CalibrationStats(n_bins=n_bins)
    stats.update(probs, labels)
    return stats.result()


def apply_temperature(probs: np.ndarray, temperature: float, axis: int = 0) -> np.ndarray:
    """``softmax(log(probs) / T)`` along ``axis`` (the class axis), float32. A void channel
    that is all zeros (channel 0 of the project's layout) stays zero. T > 1 softens, T < 1
    sharpens, T = 1 returns the probabilities unchanged (up to rounding)."""
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise InputError(f"apply_temperature: temperature must be finite and > 0, got {temperature!r}")
    p = np.asarray(probs, dtype=np.float64)
    logp = np.log(np.clip(p, _EPS, None)) / t
    logp = np.where(p > 0, logp, -np.inf)
    logp -= np.max(logp, axis=axis, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def fit_temperature(p: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T in ``bounds`` that minimises the mean NLL of ``softmax(log p / T)``.

    Args:
        p: (N, K) probabilities over the K classes (rows sum to 1), of held-out pixels.
        y: (N,) true classes 0..K-1.

    The NLL is convex in 1/T, so a bounded scalar search on log T finds the optimum.
    Raises InputError for mismatched or empty input.
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y)
    if p.ndim != 2 or p.shape[1] < 2 or y.shape != (p.shape[0],) or not len(y):
        raise InputError(
            f"fit_temperature: expected (N, K) probabilities and (N,) classes with N >= 1, "
            f"got {describe_array(p)} and {describe_array(y)}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[1]:
        raise InputError(f"fit_temperature: classes must be integers in 0..{p.shape[1] - 1}")
    lo, hi = bounds
    if not 0 < lo < hi:
        raise InputError(f"fit_temperature: bounds must satisfy 0 < lo < hi, got {bounds}")
    logp = np.log(np.clip(p, _EPS, None))
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

    res = minimize_scalar(nll, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def pixels_for_fit(
    probs: np.ndarray, labels: np.ndarray, max_pixels: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The labelled pixels of one frame as ``fit_temperature`` takes them: (N, K) float64
    probabilities over classes 1..K and (N,) classes 0..K-1; at most ``max_pixels`` drawn
    at random (deterministic in ``seed``)."""
    probs, labels = _check_pair(probs, labels, "pixels_for_fit")
    return _flatten(probs, labels, max_pixels, np.random.default_rng(seed))


def reliability_diagram(results: dict, title: str, size: tuple[int, int] = (420, 440)):
    """PIL image of reliability diagrams side by side, one panel per entry of ``results``
    ({panel title: ``CalibrationStats.result()``}): per confidence bin, a bar up to the bin's
    accuracy over the diagonal of perfect calibration, with the ECE and accuracy / mean
    confidence written above. ``size`` is one panel's (width, height) in pixels.
    Raises InputError for an empty ``results`` or an entry without ``bins``."""
    from PIL import Image, ImageDraw, ImageFont

    if not isinstance(results, dict) or not results:
        raise InputError("reliability_diagram: expected {panel title: CalibrationStats.result()}, got nothing")
    for name, r in results.items():
        if not isinstance(r, dict) or "bins" not in r:
            raise InputError(f"reliability_diagram: {name!r} is not a CalibrationStats.result() (no 'bins')")
    try:
        font, small = ImageFont.load_default(size=14), ImageFont.load_default(size=11)
    except TypeError:  # Pillow < 10.1: one fixed bitmap font
        font = small = ImageFont.load_default()
    pw, ph = size
    img = Image.new("RGB", (pw * len(results), ph + 28), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((8, 6), title, fill=(0, 0, 0), font=font)
    left, top, right, bottom = 44, 74, 14, 40
    side = min(pw - left - right, ph - top - bottom)
    for k, (name, r) in enumerate(results.items()):
        x0, y0 = k * pw + left, 28 + top
        d.text((k * pw + 8, 30), str(name), fill=(0, 0, 0), font=font)
        d.text(
            (k * pw + 8, 50),
            f"ECE {100 * r['ece']:.1f} %  acc {100 * r['accuracy']:.1f} %  conf {100 * r['confidence']:.1f} %",
            fill=(60, 60, 60),
            font=small,
        )

        def px(c: float, a: float) -> tuple[float, float]:
            return x0 + c * side, y0 + (1.0 - a) * side

        d.rectangle([x0, y0, x0 + side, y0 + side], outline=(80, 80, 80))
        total = max(r.get("pixels", 1), 1)
        for b in r["bins"]:
            if not b["count"]:
                continue
            # bars: accuracy (blue); the gap to the bin's mean confidence (red outline)
            a, c = b["accuracy"], b["confidence"]
            d.rectangle([*px(b["lo"], a), *px(b["hi"], 0.0)], fill=(0, 114, 178), outline=(255, 255, 255))
            lo_y, hi_y = sorted((px(0, a)[1], px(0, c)[1]))
            d.rectangle([px(b["lo"], 0)[0], lo_y, px(b["hi"], 0)[0], hi_y], outline=(213, 94, 0), width=2)
            # share of pixels in the bin as a strip under the axis
            share = b["count"] / total
            d.rectangle(
                [px(b["lo"], 0)[0], y0 + side + 4, px(b["hi"], 0)[0], y0 + side + 4 + 14 * share], fill=(90, 90, 90)
            )
        d.line([px(0, 0), px(1, 1)], fill=(150, 150, 150), width=1)
        for t in (0.0, 0.5, 1.0):
            d.text((x0 - 6, px(0, t)[1]), f"{t:g}", fill=(60, 60, 60), font=small, anchor="rm")
            d.text((px(t, 0)[0], y0 + side + 22), f"{t:g}", fill=(60, 60, 60), font=small, anchor="mt")
    return img
