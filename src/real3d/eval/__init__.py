"""Evaluation: metrics, pictures and runners."""

from real3d.eval.calibration import (
    CalibrationStats,
    apply_temperature,
    calibration_error,
    fit_temperature,
    pixels_for_fit,
)
from real3d.eval.images import confusion_png, overlay_png
from real3d.eval.metrics import (
    SegMetrics,
    bootstrap_miou,
    bootstrap_miou_draws,
    confusion_matrix,
    metrics_from_confusion,
)
from real3d.eval.segmentation import (
    PairedComparison,
    compare_labellings,
    evaluate_segmentation,
    sample_to_frame,
)

__all__ = [
    "CalibrationStats",
    "apply_temperature",
    "calibration_error",
    "fit_temperature",
    "pixels_for_fit",
    "SegMetrics",
    "bootstrap_miou",
    "bootstrap_miou_draws",
    "confusion_matrix",
    "metrics_from_confusion",
    "confusion_png",
    "overlay_png",
    "PairedComparison",
    "compare_labellings",
    "evaluate_segmentation",
    "sample_to_frame",
]
