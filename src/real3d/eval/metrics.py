"""Segmentation metrics from a confusion matrix (pure functions, numpy).

The confusion matrix is (K + 1, K + 1) int64 indexed by label id, rows = ground truth,
columns = prediction. Pixels whose ground truth is void (0) are not counted, so row 0 stays
zero; a predicted void on a labelled pixel counts as a miss of the true class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array
from real3d.core.labels import NYU13_NAMES


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int = 13) -> np.ndarray:
    """(K + 1, K + 1) int64 confusion of integer label images of equal shape (any dims).

    Ids outside 0..K raise InputError.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise InputError(f"confusion_matrix: pred {describe_array(pred)} and gt {describe_array(gt)} differ in shape")
    n = num_classes + 1
    for name, a in (("pred", pred), ("gt", gt)):
        if a.size and (a.min() < 0 or a.max() >= n):
            raise InputError(f"confusion_matrix: {name} ids must lie in [0, {n - 1}], got [{a.min()}, {a.max()}]")
    p = pred.astype(np.int64).ravel()
    g = gt.astype(np.int64).ravel()
    keep = g > 0
    return np.bincount(g[keep] * n + p[keep], minlength=n * n).reshape(n, n)


@dataclass(frozen=True)
class SegMetrics:
    """Segmentation metrics of one confusion matrix.

    Attributes:
        iou: (K,) float64 IoU of classes 1..K in [0, 1], NaN where a class is absent from both
            ground truth and prediction.
        miou: mean of the non-NaN IoUs, in [0, 1].
        pixel_acc: correctly labelled / labelled pixels.
        mean_acc: mean per-class recall over classes present in the ground truth.
        confusion: the (K + 1, K + 1) matrix.
        miou_spread: (standard deviation, 2.5 %, 97.5 % quantile) of the mIoU when the
            evaluated scenes are drawn again (``bootstrap_miou``), or None when the views
            were not grouped by scene.
        calibration: confidence measures of the class probabilities behind the labels
            (``real3d.eval.calibration.CalibrationStats.result`` without its bins: ``ece``,
            ``mce``, ``brier``, ``nll``, ``accuracy``, ``confidence``, fractions), or None.
    """

    iou: np.ndarray
    miou: float
    pixel_acc: float
    mean_acc: float
    confusion: np.ndarray
    miou_spread: tuple[float, float, float] | None = None
    calibration: dict | None = None

    def to_dict(self, names: tuple[str, ...] = NYU13_NAMES) -> dict:
        d = {
            "miou": round(100 * self.miou, 2),
            "pixel_acc": round(100 * self.pixel_acc, 2),
            "mean_acc": round(100 * self.mean_acc, 2),
            "iou": {names[i + 1]: (None if np.isnan(v) else round(100 * float(v), 2)) for i, v in enumerate(self.iou)},
        }
        if self.miou_spread is not None:
            std, lo, hi = self.miou_spread
            d["miou_scene_bootstrap"] = {
                "std": round(100 * std, 2),
                "q025": round(100 * lo, 2),
                "q975": round(100 * hi, 2),
            }
        if self.calibration is not None:
            d["calibration"] = {k: round(100 * float(v), 2) for k, v in self.calibration.items()}
        return d


def metrics_from_confusion(conf: np.ndarray) -> SegMetrics:
    """SegMetrics from a (K + 1, K + 1) confusion matrix (see the module docstring)."""
    conf = np.asarray(conf, dtype=np.int64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or conf.shape[0] < 2:
        raise InputError(f"metrics_from_confusion: expected a square (K+1, K+1) matrix, got {describe_array(conf)}")
    c = conf[1:]  # rows of labelled ground truth, all prediction columns (void included)
    tp = np.diag(conf)[1:].astype(np.float64)
    gt_total = c.sum(axis=1).astype(np.float64)
    pred_total = c[:, 1:].sum(axis=0).astype(np.float64)
    union = gt_total + pred_total - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        recall = np.where(gt_total > 0, tp / gt_total, np.nan)
    total = gt_total.sum()
    return SegMetrics(
        iou=iou,
        miou=float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan"),
        pixel_acc=float(tp.sum() / total) if total > 0 else float("nan"),
        mean_acc=float(np.nanmean(recall)) if np.any(~np.isnan(recall)) else float("nan"),
        confusion=conf,
    )


def bootstrap_miou_draws(
    group_confusions: np.ndarray, reference: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """mIoU of ``n_boot`` resamples of whole groups of views (scenes), in [0, 1].

    Views of one scene are not independent samples (a held-out set of 208 views is 13
    scenes of 16), so the uncertainty of an mIoU comes from resampling scenes, not pixels
    or views.

    Args:
        group_confusions: (G, K + 1, K + 1) int64, the confusion of each group (scene).
        reference: optional (G, K + 1, K + 1), another model's confusions on the same
            groups: each draw is then the paired difference mIoU(groups) - mIoU(reference)
            over the same resampled groups, which cancels what the scenes do to both.
        n_boot: resamples (G groups drawn with replacement each time).
        seed: seeds the resampling.

    Returns:
        (n_boot,) float64.
    """
    g = np.asarray(group_confusions)
    if g.ndim != 3 or g.shape[1] != g.shape[2] or g.shape[0] < 2:
        raise InputError(f"bootstrap_miou: expected (G >= 2, K+1, K+1) group confusions, got {describe_array(g)}")
    ref = None if reference is None else np.asarray(reference)
    if ref is not None and ref.shape != g.shape:
        raise InputError(f"bootstrap_miou: reference {describe_array(ref)} must match the groups {describe_array(g)}")
    if n_boot < 2:
        raise InputError(f"bootstrap_miou: expected n_boot >= 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, g.shape[0], size=(n_boot, g.shape[0]))
    out = np.array([metrics_from_confusion(g[d].sum(axis=0)).miou for d in draws])
    if ref is not None:
        out -= np.array([metrics_from_confusion(ref[d].sum(axis=0)).miou for d in draws])
    return out


def bootstrap_miou(
    group_confusions: np.ndarray, n_boot: int = 1000, seed: int = 0, reference: np.ndarray | None = None
) -> tuple[float, float, float]:
    """(standard deviation, 2.5 % quantile, 97.5 % quantile) of ``bootstrap_miou_draws``:
    the spread of an mIoU (or, with ``reference``, of a paired difference) when whole
    scenes are drawn again."""
    d = bootstrap_miou_draws(group_confusions, reference, n_boot, seed)
    lo, hi = np.quantile(d, [0.025, 0.975])
    return float(np.std(d)), float(lo), float(hi)
