"""Per-class logit offsets fitted for mIoU after training.

A network trained with class-balanced cross-entropy over-predicts the rare classes: the
weights that keep them from being ignored also move the decision boundaries toward them,
which costs IoU (every false positive of a rare class is a large share of its union). One
offset per class, added to the refined logits, moves the boundaries back. The offsets are
fitted on labelled views the network was not trained on (never the held-out views it is
judged on) by coordinate ascent on the mIoU of the argmax, then folded into the bias of the
refinement head's last convolution, so the network, its ONNX graph and its INT8 graph keep
their form and their cost.

    logits, labels = collect_logits(model, data, max_views=1600)
    fit = fit_class_bias(logits, labels)
    apply_class_bias(model, fit.bias)

``tools/tune_class_bias.py`` runs the three steps and writes the weights with the fit in
their card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from real3d.core.errors import InputError
from real3d.eval.metrics import metrics_from_confusion
from real3d.models.segmentation import network_size, resize_inputs
from real3d.train.data import stack_views


@dataclass
class ClassBiasFit:
    """Result of ``fit_class_bias``: ``bias`` (K,) float32 (mean zero), and the mIoU (%)
    of the argmax on the fitting pixels before and after."""

    bias: np.ndarray
    miou_before: float
    miou_after: float
    pixels: int

    def to_dict(self) -> dict:
        return {
            "bias": [round(float(b), 4) for b in self.bias],
            "miou_before": round(self.miou_before, 3),
            "miou_after": round(self.miou_after, 3),
            "pixels": self.pixels,
        }


@torch.no_grad()
def collect_logits(
    model, data, max_views: int | None = None, stride: int = 3, batch_size: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refined logits and labels of the labelled pixels of ``data`` (samples as
    ``real3d.train.data.open_data`` gives them), every ``stride``-th pixel in each
    direction. The network runs as ``predict`` runs it: at ``network_size`` for the
    model's ``infer_hw``, its logits resized back to the labels' size. Returns (logits
    (N, K) float32, labels (N,) int64 class index 0..K-1); void pixels are left out."""
    if stride < 1:
        raise InputError(f"collect_logits: expected stride >= 1, got {stride}")
    n = len(data) if max_views is None else min(len(data), max_views)
    if n < 1:
        raise InputError(f"collect_logits: no views (data has {len(data)}, max_views={max_views})")
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        for i in range(0, n, batch_size):
            items = [data[j] for j in range(i, min(n, i + batch_size))]
            out = _predict_logits(model, *stack_views(items))
            out = out[:, :, stride // 2 :: stride, stride // 2 :: stride]
            g = torch.stack([s["labels"] for s in items])[:, stride // 2 :: stride, stride // 2 :: stride]
            k = out.shape[1]
            out, g = out.permute(0, 2, 3, 1).reshape(-1, k), g.reshape(-1).long()
            keep = g > 0
            logits.append(out[keep].float())
            labels.append(g[keep] - 1)
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def _predict_logits(model, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) refined logits at the inputs' size, the network run at the size and
    with the resizing ``predict`` uses (logits resized back bilinearly, as there)."""
    h, w = rgb.shape[-2:]
    rgb, depth = resize_inputs(rgb, depth, network_size(h, w, model.config.infer_hw))
    out = model(rgb if model.uses_rgb else None, depth if model.uses_depth else None, head="refined")
    if tuple(out.shape[-2:]) != (h, w):
        out = F.interpolate(out.float(), size=(h, w), mode="bilinear", align_corners=False)
    return out


def _miou(logits: torch.Tensor, labels: torch.Tensor, bias: torch.Tensor) -> float:
    """mIoU (%) of ``argmax(logits + bias)``, by the rule of ``real3d.eval``."""
    n = logits.shape[1] + 1  # label ids 1..K, 0 = void (none here)
    pred = (logits + bias).argmax(1) + 1
    conf = torch.bincount((labels + 1) * n + pred, minlength=n * n).reshape(n, n)
    return metrics_from_confusion(conf.numpy()).miou * 100.0


def fit_class_bias(
    logits: torch.Tensor, labels: torch.Tensor, steps: tuple[float, ...] = (0.4, 0.2, 0.1, 0.05), rounds: int = 2
) -> ClassBiasFit:
    """Per-class offsets that raise the mIoU of ``argmax(logits + bias)``.

    Coordinate ascent: for each step size (coarse to fine), ``rounds`` sweeps over the
    classes, each moved up or down by the step while the mIoU keeps rising. Starts from
    zero, so the result is never worse than no offsets on these pixels.
    """
    logits = torch.as_tensor(logits).float()
    labels = torch.as_tensor(labels).long()
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise InputError(
            f"fit_class_bias: expected logits (N, K) and labels (N,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    k = logits.shape[1]
    if len(labels) == 0 or int(labels.min()) < 0 or int(labels.max()) >= k:
        raise InputError(f"fit_class_bias: expected labels in 0..{k - 1} and at least one pixel")
    if not bool(torch.isfinite(logits).all()):
        raise InputError("fit_class_bias: logits contain NaN or inf values")
    if any(not s > 0 for s in steps) or rounds < 1:
        raise InputError(f"fit_class_bias: expected positive steps and rounds >= 1, got {steps}, {rounds}")
    bias = torch.zeros(k)
    before = best = _miou(logits, labels, bias)
    for step in steps:
        for _ in range(rounds):
            for c in range(k):
                for delta in (-step, step):
                    while True:
                        trial = bias.clone()
                        trial[c] += delta
                        v = _miou(logits, labels, trial)
                        if v <= best + 1e-6:
                            break
                        bias, best = trial, v
    bias = bias - bias.mean()  # the argmax is unchanged by a common shift
    return ClassBiasFit(bias=bias.numpy().astype(np.float32), miou_before=before, miou_after=best, pixels=len(labels))


@torch.no_grad()
def apply_class_bias(model, bias) -> None:
    """Add ``bias`` (K,) to the refined logits of ``model`` (in place: the bias of the
    refinement head's last convolution). The coarse output is unchanged."""
    head = model.decoder.refine_head
    b = torch.as_tensor(np.asarray(bias, dtype=np.float32))
    if b.shape != head.bias.shape or not bool(torch.isfinite(b).all()):
        raise InputError(f"apply_class_bias: expected {tuple(head.bias.shape)} finite offsets, got {tuple(b.shape)}")
    head.bias += b.to(head.bias)
