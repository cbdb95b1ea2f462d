"""Learning curves: how a metric grows with the amount of labelled data, and how much data a
target needs.

``fit_learning_curve(n, y)`` fits the power law with an offset that learning curves of
deep networks follow over a useful range (Hestness et al., 2017):
``y(n) = c - a * n ** (-b)``, with ``c`` the asymptote (the metric with unlimited data of
this kind), ``a > 0`` and ``b > 0`` the scale and rate. The fit is least squares on the
points given (frames labelled, metric in the same units as the target, e.g. mIoU in %),
in log space for ``n``. ``LearningCurve.frames_for(target)`` inverts it.

Fit on small runs, predict a larger one, then check the prediction with that run: the
curve is an extrapolation, and extrapolations far beyond the largest measured ``n`` are
guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array


@dataclass(frozen=True)
class LearningCurve:
    """``y(n) = c - a * n ** (-b)``; ``rmse``: root-mean-square residual of the fit
    (units of y); ``n_range``: the smallest and largest n it was fitted on."""

    a: float
    b: float
    c: float
    rmse: float
    n_range: tuple[float, float]

    def predict(self, n) -> np.ndarray:
        """The metric at ``n`` labelled items (array-like, > 0)."""
        n = np.asarray(n, np.float64)
        if (n <= 0).any() or not np.isfinite(n).all():
            raise InputError(f"LearningCurve.predict: n must be finite and > 0, got {describe_array(n)}")
        return self.c - self.a * n ** (-self.b)

    def frames_for(self, target: float) -> float:
        """Labelled items needed to reach ``target``; inf when the target is at or above
        the asymptote ``c``."""
        t = float(target)
        if not np.isfinite(t):
            raise InputError(f"LearningCurve.frames_for: target must be finite, got {target!r}")
        if t >= self.c:
            return float("inf")
        return float((self.a / (self.c - t)) ** (1.0 / self.b))


def fit_learning_curve(n, y, b_bounds: tuple[float, float] = (0.01, 3.0)) -> LearningCurve:
    """Fit ``y = c - a * n ** (-b)`` to (n, y) points (at least 3 distinct n > 0).

    For each ``b`` the model is linear in ``a`` and ``c``, so ``b`` is found by a bounded
    scalar search and ``a``, ``c`` by least squares; ``a`` is kept >= 0 (a curve that does
    not grow is a flat line at the mean).

    Raises:
        InputError: fewer than 3 distinct n, non-positive or non-finite values, mismatched
            lengths.
    """
    from scipy.optimize import minimize_scalar

    n = np.asarray(n, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if n.shape != y.shape or len(np.unique(n)) < 3:
        raise InputError(
            f"fit_learning_curve: expected matching n and y with at least 3 distinct n, got "
            f"{describe_array(n)} and {describe_array(y)}"
        )
    if not (np.isfinite(n).all() and np.isfinite(y).all()) or (n <= 0).any():
        raise InputError("fit_learning_curve: n must be > 0 and every value finite")
    lo, hi = b_bounds
    if not 0 < lo < hi:
        raise InputError(f"fit_learning_curve: b_bounds must satisfy 0 < lo < hi, got {b_bounds}")

    def solve(b: float) -> tuple[float, float, float]:
        x = -(n ** (-b))
        design = np.stack([x, np.ones_like(x)], axis=1)
        (a, c), *_ = np.linalg.lstsq(design, y, rcond=None)
        if a < 0:
            a, c = 0.0, float(y.mean())
        r = y - (c - a * n ** (-b))
        return float(a), float(c), float((r**2).mean())

    res = minimize_scalar(lambda b: solve(b)[2], bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    a, c, mse = solve(float(res.x))
    return LearningCurve(a=a, b=float(res.x), c=c, rmse=float(np.sqrt(mse)), n_range=(float(n.min()), float(n.max())))
