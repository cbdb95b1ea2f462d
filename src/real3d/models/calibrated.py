"""Shift-aware calibration: a per-pixel temperature that grows with the input's distance from
the training data, computed from the same forward pass as the prediction.

A temperature fitted on synthetic views rescales every pixel alike, so it cannot lower the
confidence of a model that is confidently wrong on photographs unlike its training data.
``ShiftCalibration`` instead sets a temperature per pixel,

    log T(x) = intercept + sum_i w_i (s_i(x) - center_i) / scale_i,  T clipped to ``T_RANGE``,

from distance scores ``s_i`` the network's own pass gives (``SCORES``):

* ``energy``: the free energy ``-logsumexp(logits)`` of the pixel (Liu et al., NeurIPS
  2020): high where no class fits; ``frame_energy``: its mean over the frame;
* ``density``: the relative Mahalanobis distance of the pixel's decoder features (the
  stride-8 decoder output, layer ``FEATURE_LAYER``) to class-conditional Gaussians with a
  shared covariance, minus their distance to one class-agnostic Gaussian (Lee et al.,
  NeurIPS 2018; Ren et al., 2021): low near a class of the training data;
  ``frame_density``: its mean over the frame.

The Gaussians are fitted on labelled training views (``fit_feature_density``). The weights
are fitted WITHOUT real labels: by minimising the NLL of the calibrated probabilities on
labelled synthetic frames made unlike training (held-out homes, with and without strong
appearance and depth corruptions), so the fit learns how fast confidence must fall as the
scores move away from the training data (``fit_shift_calibration``). The argmax, and so
the labels, never change: only the confidence does.

``predict_calibrated(model, frame, calibration)`` is ``model.predict(frame)`` with the
calibrated probabilities; ``ShiftCalibration.save`` / ``load`` keep a fitted calibration as
JSON. It needs a torch network (forward hooks read the logits and the features of the one
pass); the ONNX backends do not expose the features.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, FormatError, InputError, describe_array

SCORES = ("energy", "frame_energy", "density", "frame_density")
"""Distance scores a ``ShiftCalibration`` can use (module docstring)."""
DEFAULT_SCORES = ("energy", "frame_energy", "frame_density")
"""The scores ``fit_shift_calibration`` uses unless told otherwise."""
FEATURE_LAYER = "decoder.smooth8"
"""The module whose output is the feature map of the density scores: the decoder's stride-8
features, from which the coarse head predicts."""
T_RANGE = (0.25, 100.0)
"""Smallest and largest per-pixel temperature."""
FORMAT = "real3d-shift-calibration-1"
_EPS = 1e-12


def _check_features(x, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1 or not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{where}: expected (N, D) float features, got {describe_array(x)}")
    if not np.isfinite(x).all():
        raise InputError(f"{where}: the features hold NaN or inf")
    return x.astype(np.float64)


@dataclass(frozen=True)
class FeatureDensity:
    """Class-conditional Gaussians with a shared covariance, and one class-agnostic Gaussian,
    over D-dimensional features (``fit_feature_density``).

    Attributes:
        class_means: (C, D) float64, one row per class seen often enough in the fit.
        class_chol: (D, D) float64 L with L L^T the inverse of the shared covariance.
        mean: (D,) float64 mean of all fitted features.
        chol: (D, D) float64 L with L L^T the inverse of their covariance.
    """

    class_means: np.ndarray
    class_chol: np.ndarray
    mean: np.ndarray
    chol: np.ndarray

    def __post_init__(self) -> None:
        cm = np.asarray(self.class_means, np.float64)
        if cm.ndim != 2 or cm.shape[0] < 1:
            raise InputError(f"FeatureDensity.class_means: expected (C, D), got {describe_array(cm)}")
        d = cm.shape[1]
        for name, want in (("class_chol", (d, d)), ("mean", (d,)), ("chol", (d, d))):
            a = np.asarray(getattr(self, name), np.float64)
            if a.shape != want or not np.isfinite(a).all():
                raise InputError(f"FeatureDensity.{name}: expected finite {want}, got {describe_array(a)}")
            object.__setattr__(self, name, a)
        object.__setattr__(self, "class_means", cm)

    @property
    def dim(self) -> int:
        return int(self.class_means.shape[1])

    def score(self, features) -> np.ndarray:
        """(N,) float64 relative Mahalanobis distance of (N, D) features: the squared distance
        to the nearest class Gaussian minus the squared distance to the class-agnostic one
        (about 0 in the training data, growing away from it)."""
        z = _check_features(features, "FeatureDensity.score")
        if z.shape[1] != self.dim:
            raise InputError(f"FeatureDensity.score: expected {self.dim} features per row, got {z.shape[1]}")
        zl = z @ self.class_chol
        ml = self.class_means @ self.class_chol
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2, for every class at once
        d_class = (zl * zl).sum(1)[:, None] - 2.0 * zl @ ml.T + (ml * ml).sum(1)[None]
        r = (z - self.mean) @ self.chol
        return d_class.min(1) - (r * r).sum(1)

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in ("class_means", "class_chol", "mean", "chol")}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureDensity:
        return cls(**{k: np.asarray(d[k], np.float64) for k in ("class_means", "class_chol", "mean", "chol")})


def _inv_chol(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """L with L L^T = inverse of ``cov`` shrunk towards its mean variance."""
    d = len(cov)
    cov = (1.0 - shrinkage) * cov + shrinkage * (np.trace(cov) / d + 1e-12) * np.eye(d)
    return np.linalg.cholesky(np.linalg.inv(cov))


def fit_feature_density(
    features, classes, *, shrinkage: float = 0.01, min_count: int = 20, ignore: int = -1
) -> FeatureDensity:
    """Fit a ``FeatureDensity`` to labelled features.

    Args:
        features: (N, D) float features (e.g. decoder features of training views).
        classes: (N,) integer class of each row; rows with ``ignore`` are left out of the
            class Gaussians (but count for the class-agnostic one).
        shrinkage: in [0, 1): the covariances are shrunk this far towards a multiple of the
            identity, which keeps them invertible.
        min_count: classes with fewer rows get no Gaussian.

    Raises:
        InputError: mismatched or non-finite input, or no class with ``min_count`` rows.
    """
    x = _check_features(features, "fit_feature_density")
    y = np.asarray(classes)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"fit_feature_density: expected ({len(x)},) integer classes, got {describe_array(y)}")
    if not 0.0 <= shrinkage < 1.0:
        raise InputError(f"fit_feature_density: shrinkage must be in [0, 1), got {shrinkage!r}")
    labelled = y != ignore
    ids = [c for c in np.unique(y[labelled]) if (y == c).sum() >= min_count]
    if not ids:
        raise InputError(f"fit_feature_density: no class has {min_count} or more labelled rows")
    means = np.stack([x[y == c].mean(0) for c in ids])
    keep = np.isin(y, ids)
    r = x[keep] - means[np.searchsorted(ids, y[keep])]
    mean = x.mean(0)
    r0 = x - mean
    return FeatureDensity(
        class_means=means,
        class_chol=_inv_chol(r.T @ r / len(r), shrinkage),
        mean=mean,
        chol=_inv_chol(r0.T @ r0 / len(r0), shrinkage),
    )


def _check_scores(scores: Sequence[str], where: str) -> tuple[str, ...]:
    if isinstance(scores, str) or not isinstance(scores, Sequence) or not scores:
        raise ConfigError(f"{where}: expected a non-empty sequence of score names from {SCORES}, got {scores!r}")
    for s in scores:
        if s not in SCORES:
            raise ConfigError(f"{where}: unknown score {s!r}; valid: {', '.join(SCORES)}")
    if len(set(scores)) != len(scores):
        raise ConfigError(f"{where}: a score is named twice in {scores!r}")
    return tuple(scores)


def apply_pixel_temperature(probs, temperature) -> np.ndarray:
    """``softmax(log p / T)`` at every pixel, T from a map.

    Args:
        probs: (K + 1, H, W) float class probabilities in the project's layout (channel 0
            void; an all-zero channel stays zero).
        temperature: (H, W) float, finite and > 0; or a scalar.

    Returns:
        (K + 1, H, W) float32; the most probable class of every pixel is unchanged.
    """
    p = np.asarray(probs)
    if p.ndim != 3 or p.shape[0] < 2 or not np.issubdtype(p.dtype, np.floating):
        raise InputError(f"apply_pixel_temperature: expected (K + 1, H, W) float probs, got {describe_array(p)}")
    t = np.asarray(temperature, np.float64)
    if t.ndim == 0:
        t = np.full(p.shape[1:], float(t))
    elif t.shape != p.shape[1:]:
        raise InputError(f"apply_pixel_temperature: expected a {p.shape[1:]} temperature map, got {t.shape}")
    if not np.isfinite(t).all() or (t <= 0).any():
        raise InputError("apply_pixel_temperature: temperatures must be finite and > 0")
    pt = torch.from_numpy(np.ascontiguousarray(p, np.float32))
    logp = pt.clamp_min(_EPS).log_().div_(torch.from_numpy(np.ascontiguousarray(t, np.float32)))
    logp = logp.masked_fill_(pt <= 0, -math.inf)
    return torch.softmax(logp, dim=0).nan_to_num_(0.0).numpy()


@dataclass(frozen=True)
class ShiftCalibration:
    """A fitted per-pixel temperature (module docstring).

    Attributes:
        scores: names from ``SCORES``, one per weight.
        intercept: log T where every score equals its ``center``.
        weights: one per score; > 0 raises the temperature (lowers confidence) as the score grows.
        center, scale: per score, the offset and unit that standardise it.
        density: the feature Gaussians of the density scores; None when none is used.
        layer: the module whose output feeds the density scores (``FEATURE_LAYER``).
        model: the name of the model it was fitted for ("" unknown); a calibration is only
            meaningful for that model's weights.
    """

    scores: tuple[str, ...]
    intercept: float
    weights: tuple[float, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    density: FeatureDensity | None = None
    layer: str = FEATURE_LAYER
    model: str = ""

    def __post_init__(self) -> None:
        scores = _check_scores(list(self.scores), "ShiftCalibration.scores")
        object.__setattr__(self, "scores", scores)
        for name in ("weights", "center", "scale"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != len(scores) or not all(math.isfinite(x) for x in v):
                raise InputError(f"ShiftCalibration.{name}: expected {len(scores)} finite values, got {v!r}")
            object.__setattr__(self, name, v)
        if any(s <= 0 for s in self.scale):
            raise InputError(f"ShiftCalibration.scale: expected values > 0, got {self.scale!r}")
        if not math.isfinite(float(self.intercept)):
            raise InputError(f"ShiftCalibration.intercept: expected a finite value, got {self.intercept!r}")
        object.__setattr__(self, "intercept", float(self.intercept))
        if self.needs_density and not isinstance(self.density, FeatureDensity):
            raise InputError("ShiftCalibration: the density scores need a FeatureDensity, got None")

    @property
    def needs_density(self) -> bool:
        return any(s in ("density", "frame_density") for s in self.scores)

    def temperature(self, score_maps: dict) -> np.ndarray:
        """(H, W) float64 temperature in ``T_RANGE`` from ``score_maps`` ({score name:
        (H, W) map or a float}, as ``shift_scores`` gives them; at least one a map)."""
        missing = [s for s in self.scores if s not in score_maps]
        if missing:
            raise InputError(f"ShiftCalibration.temperature: missing scores {missing}; got {sorted(score_maps)}")
        shapes = {np.shape(score_maps[s]) for s in self.scores if np.ndim(score_maps[s]) == 2}
        if len(shapes) > 1:
            raise InputError(f"ShiftCalibration.temperature: score maps of different shapes {sorted(shapes)}")
        shape = shapes.pop() if shapes else ()
        log_t = np.full(shape, self.intercept)
        for s, w, c, sc in zip(self.scores, self.weights, self.center, self.scale):
            log_t = log_t + w * (np.asarray(score_maps[s], np.float64) - c) / sc
        return np.exp(np.clip(log_t, math.log(T_RANGE[0]), math.log(T_RANGE[1])))

    def apply(self, probs, score_maps: dict) -> np.ndarray:
        """(K + 1, H, W) calibrated float32 probabilities from ``probs`` (same layout) and the
        frame's ``score_maps`` ((H, W) maps or floats, ``shift_scores``)."""
        return apply_pixel_temperature(probs, self.temperature(score_maps))

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "model": self.model,
            "layer": self.layer,
            "scores": list(self.scores),
            "intercept": self.intercept,
            "weights": list(self.weights),
            "center": list(self.center),
            "scale": list(self.scale),
            "density": None if self.density is None else self.density.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> ShiftCalibration:
        """Raises FormatError for a dict that is not a saved calibration."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise FormatError(f"ShiftCalibration.from_dict: expected format {FORMAT!r}, got {got!r}")
        try:
            density = None if d.get("density") is None else FeatureDensity.from_dict(d["density"])
            return cls(
                scores=tuple(d["scores"]),
                intercept=d["intercept"],
                weights=tuple(d["weights"]),
                center=tuple(d["center"]),
                scale=tuple(d["scale"]),
                density=density,
                layer=d.get("layer", FEATURE_LAYER),
                model=d.get("model", ""),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"ShiftCalibration.from_dict: malformed calibration ({type(e).__name__}: {e})") from e

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON (atomically); returns the path."""
        from real3d.core.files import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ShiftCalibration:
        """Read a calibration ``save`` wrote; FormatError for a missing or malformed file."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FormatError(f"ShiftCalibration.load: cannot read {path}: {e}") from e
        return cls.from_dict(d)


class FeatureTap:
    """Context manager that records, during ``model.predict``, the logits of the network's
    first forward call (the whole model's output) and the output of submodule ``layer``.

    ``with FeatureTap(model) as tap: r = model.predict(frame)``, then ``tap.logits``
    (B, K, h, w) and ``tap.features`` (B, D, h', w') torch tensors. The hooks are removed on
    exit. Raises InputError for a model that is not a torch module and ConfigError for a
    layer it lacks."""

    def __init__(self, model, layer: str = FEATURE_LAYER):
        if not isinstance(model, torch.nn.Module):
            raise InputError(
                f"FeatureTap: expected a torch segmentation network (Real3DVisionNet), got {type(model).__name__}; "
                "the ONNX backends do not expose features"
            )
        try:
            self._layer = model.get_submodule(layer)
        except AttributeError:
            raise ConfigError(f"FeatureTap: {type(model).__name__} has no module {layer!r}") from None
        self._model = model
        self.logits: torch.Tensor | None = None
        self.features: torch.Tensor | None = None
        self._hooks: list = []

    def _keep(self, name: str):
        def hook(_module, _inputs, output):
            if getattr(self, name) is None and isinstance(output, torch.Tensor):
                setattr(self, name, output.detach())

        return hook

    def __enter__(self) -> FeatureTap:
        self.logits = self.features = None
        self._hooks = [
            self._model.register_forward_hook(self._keep("logits")),
            self._layer.register_forward_hook(self._keep("features")),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []


def shift_scores(
    logits, features, out_hw: tuple[int, int], density: FeatureDensity | None, scores: Sequence[str] = SCORES
) -> dict:
    """The distance scores of one frame from one network pass.

    Args:
        logits: (1, K, h, w) torch or numpy class logits (the first image of a batch is used).
        features: (1, D, h', w') the feature map of ``FEATURE_LAYER``; may be None when no
            density score is asked for.
        out_hw: (H, W) of the frame; the per-pixel maps are resized bilinearly to it.
        density: the feature Gaussians; needed for ``density`` and ``frame_density``.
        scores: names from ``SCORES``.

    Returns:
        {name: (H, W) float32 map} for the per-pixel scores and {name: float} for the frame ones.
    """
    scores = _check_scores(list(scores), "shift_scores")
    out: dict = {}
    lg = torch.as_tensor(logits).float()
    if lg.ndim != 4:
        raise InputError(f"shift_scores: expected (B, K, h, w) logits, got {tuple(lg.shape)}")
    lg = lg[:1]
    if "energy" in scores or "frame_energy" in scores:
        e = -torch.logsumexp(lg, dim=1, keepdim=True)
        out["frame_energy"] = float(e.mean())
        if "energy" in scores:
            out["energy"] = F.interpolate(e, size=tuple(out_hw), mode="bilinear", align_corners=False)[0, 0].numpy()
    if "density" in scores or "frame_density" in scores:
        if density is None or features is None:
            raise InputError("shift_scores: the density scores need a FeatureDensity and the feature map")
        ft = torch.as_tensor(features).float()
        if ft.ndim != 4 or ft.shape[1] != density.dim:
            raise InputError(f"shift_scores: expected (B, {density.dim}, h, w) features, got {tuple(ft.shape)}")
        ft = ft[0]
        h, w = ft.shape[-2:]
        d = density.score(ft.reshape(ft.shape[0], -1).T.numpy()).reshape(h, w)
        out["frame_density"] = float(d.mean())
        if "density" in scores:
            dt = torch.from_numpy(d.astype(np.float32))[None, None]
            out["density"] = F.interpolate(dt, size=tuple(out_hw), mode="bilinear", align_corners=False)[0, 0].numpy()
    return {k: out[k] for k in scores}


def predict_with_scores(model, frame, density: FeatureDensity | None = None, scores=SCORES, layer=FEATURE_LAYER):
    """``(model.predict(frame), shift_scores(...))`` from one forward pass (plain path: no
    flip, one scale). Raises as ``FeatureTap`` and ``model.predict`` do."""
    with FeatureTap(model, layer) as tap:
        result = model.predict(frame)
    return result, shift_scores(tap.logits, tap.features, result.labels.shape, density, scores)


def predict_calibrated(model, frame, calibration: ShiftCalibration):
    """``model.predict(frame)`` (plain path) with the class probabilities recalibrated by
    ``calibration``: a ``SegmentationResult`` with the same labels, whose ``confidence`` and
    ``entropy`` reflect the input's distance from the training data. One forward pass.
    Raises ConfigError when the calibration names another model than ``model``, and as
    ``predict_with_scores`` does."""
    from real3d.core.segmentation import SegmentationResult

    if not isinstance(calibration, ShiftCalibration):
        raise InputError(f"predict_calibrated: expected a ShiftCalibration, got {type(calibration).__name__}")
    name = str(getattr(model, "model_name", getattr(model, "name", "")))
    if calibration.model and name and calibration.model != name:
        raise ConfigError(
            f"predict_calibrated: the calibration was fitted for {calibration.model}, the model is {name}"
        )
    result, maps = predict_with_scores(model, frame, calibration.density, calibration.scores, calibration.layer)
    return SegmentationResult(labels=result.labels, probs=calibration.apply(result.probs, maps), head=result.head)


def _nll_and_grad(theta: np.ndarray, logp: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of softmax(logp / T) with log T = x @ theta, and its gradient in theta."""
    log_t = np.clip(x @ theta, math.log(T_RANGE[0]), math.log(T_RANGE[1]))
    u = np.exp(-log_t)
    z = logp * u[:, None]
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    s = e.sum(1)
    rows = np.arange(len(y))
    nll = -(z[rows, y] - np.log(s))
    # d nll / d log T = -u (E_q[logp] - logp_y), q the calibrated distribution
    g = -u * ((e * logp).sum(1) / s - logp[rows, y])
    return float(nll.mean()), x.T @ g / len(y)


def fit_shift_temperature(p, y, covariates: dict) -> tuple[float, dict, dict, dict]:
    """Fit log T = a + sum_i w_i (c_i - center_i) / scale_i by minimising the NLL.

    Args:
        p: (N, K) probabilities over the K classes (rows sum to 1) of labelled pixels.
        y: (N,) true classes 0..K-1.
        covariates: {score name: (N,) float values of that score at the same pixels}
            (may be empty: one global temperature).

    Returns:
        (a, weights, centers, scales): the intercept and, per score, its weight and the
        mean and standard deviation that standardise it.
    Raises InputError for mismatched, empty or non-finite input.
    """
    from scipy.optimize import minimize

    p = np.asarray(p, np.float64)
    y = np.asarray(y)
    if p.ndim != 2 or p.shape[1] < 2 or y.shape != (len(p),) or not len(y):
        raise InputError(
            f"fit_shift_temperature: expected (N, K) probabilities and (N,) classes with N >= 1, "
            f"got {describe_array(p)} and {describe_array(y)}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[1]:
        raise InputError(f"fit_shift_temperature: classes must be integers in 0..{p.shape[1] - 1}")
    if not np.isfinite(p).all():
        raise InputError("fit_shift_temperature: the probabilities hold NaN or inf")
    names = list(covariates)
    cols, centers, scales = [np.ones(len(y))], {}, {}
    for n in names:
        c = np.asarray(covariates[n], np.float64)
        if c.shape != y.shape or not np.isfinite(c).all():
            raise InputError(f"fit_shift_temperature: covariate {n!r} must be ({len(y)},) finite, got {c.shape}")
        centers[n], scales[n] = float(c.mean()), float(max(c.std(), 1e-6))
        cols.append((c - centers[n]) / scales[n])
    x = np.stack(cols, 1)
    logp = np.log(np.clip(p, _EPS, None))
    res = minimize(_nll_and_grad, np.zeros(x.shape[1]), args=(logp, y, x), jac=True, method="L-BFGS-B")
    theta = res.x
    return float(theta[0]), {n: float(w) for n, w in zip(names, theta[1:])}, centers, scales


def sample_labelled_pixels(result, labels: np.ndarray, maps: dict, n: int, rng) -> tuple:
    """Up to ``n`` labelled pixels of one frame drawn with ``rng``: (N, K) probabilities of
    ``result`` over classes 1..K, (N,) classes 0..K-1, and {score: (N,) values} from
    ``maps`` (``shift_scores``; a frame score repeats). The rows ``fit_shift_temperature`` takes."""
    keep = np.flatnonzero(labels.ravel() > 0)
    if keep.size > n:
        keep = np.sort(rng.choice(keep, size=n, replace=False))
    k = result.probs.shape[0] - 1
    p = result.probs[1:].reshape(k, -1)[:, keep].T
    y = labels.ravel()[keep].astype(np.int64) - 1
    cov = {s: (np.full(len(keep), v) if np.ndim(v) == 0 else np.asarray(v).ravel()[keep]) for s, v in maps.items()}
    return p, y, cov


def density_features(model, frames: Iterable, layer: str = FEATURE_LAYER) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) float32 features of ``layer`` and (N,) int64 classes 0..K-1 (-1 void) of every
    feature pixel of labelled ``frames``: the labels resized (nearest) to the feature map.
    The input of ``fit_feature_density``."""
    xs, ys = [], []
    for f in frames:
        if getattr(f, "labels", None) is None:
            raise InputError("density_features: every frame needs labels")
        with FeatureTap(model, layer) as tap:
            model.predict(f)
        ft = tap.features[0]
        lab = torch.from_numpy(f.labels.astype(np.float32))[None, None]
        lab = F.interpolate(lab, size=tuple(ft.shape[-2:]), mode="nearest")[0, 0].long().numpy()
        xs.append(ft.reshape(ft.shape[0], -1).T.numpy())
        ys.append(lab.ravel() - 1)
    if not xs:
        raise InputError("density_features: no frame was given")
    return np.concatenate(xs), np.concatenate(ys)


def fit_shift_calibration(
    model,
    frames: Iterable,
    *,
    density_frames: Iterable | None = None,
    density: FeatureDensity | None = None,
    scores: Sequence[str] = DEFAULT_SCORES,
    pixels_per_frame: int = 2000,
    seed: int = 0,
    layer: str = FEATURE_LAYER,
) -> ShiftCalibration:
    """Fit a ``ShiftCalibration`` for ``model`` without real labels.

    Args:
        model: a torch segmentation network (``Real3DVisionNet``).
        frames: labelled frames unlike training, the proxy for the domain shift: held-out
            synthetic views, clean and under strong corruptions (``real3d.robust.corrupt``,
            several at once); never the real frames it will be judged on.
        density_frames: labelled training views for the feature Gaussians (needed when a
            density score is used and ``density`` is None).
        density: a fitted ``FeatureDensity`` to use instead.
        scores: names from ``SCORES``.
        pixels_per_frame: labelled pixels drawn at random per frame for the fit.
        seed: seeds the pixel draw.

    Raises:
        ConfigError: an unknown score name.
        InputError: a frame without labels, no labelled pixel, a density score without
            ``density_frames`` or ``density``, or a model that is not a torch network.
    """
    scores = _check_scores(list(scores), "fit_shift_calibration")
    needs_density = any(s in ("density", "frame_density") for s in scores)
    if needs_density and density is None:
        if density_frames is None:
            raise InputError("fit_shift_calibration: the density scores need density_frames or a density")
        density = fit_feature_density(*density_features(model, density_frames, layer))
    rng = np.random.default_rng(seed)
    ps, ys, covs = [], [], {s: [] for s in scores}
    for f in frames:
        if getattr(f, "labels", None) is None:
            raise InputError("fit_shift_calibration: every frame needs labels")
        result, maps = predict_with_scores(model, f, density if needs_density else None, scores, layer)
        p, y, cov = sample_labelled_pixels(result, f.labels, maps, pixels_per_frame, rng)
        ps.append(p)
        ys.append(y)
        for s in scores:
            covs[s].append(cov[s])
    if not ys or not sum(len(y) for y in ys):
        raise InputError("fit_shift_calibration: the frames hold no labelled pixel")
    a, w, c, sc = fit_shift_temperature(
        np.concatenate(ps), np.concatenate(ys), {s: np.concatenate(covs[s]) for s in scores}
    )
    return ShiftCalibration(
        scores=scores,
        intercept=a,
        weights=tuple(w[s] for s in scores),
        center=tuple(c[s] for s in scores),
        scale=tuple(sc[s] for s in scores),
        density=density if needs_density else None,
        layer=layer,
        model=str(getattr(model, "model_name", getattr(model, "name", ""))),
    )
