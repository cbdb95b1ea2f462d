"""Segmentation losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, InputError


def class_weights_from_counts(counts: torch.Tensor, c: float = 1.02) -> torch.Tensor:
    """ENet-style class weights 1 / ln(c + frequency) from per-class pixel counts (K,).

    Classes never seen get the largest weight seen (not infinity). Returned weights are
    normalised to mean 1 over seen classes.
    """
    counts = counts.double()
    freq = counts / counts.sum().clamp(min=1)
    w = 1.0 / torch.log(c + freq)
    seen = counts > 0
    if seen.any():
        w[~seen] = w[seen].max()
        w = w / w[seen].mean()
    return w.float()


def label_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pixel count per class 1..K of an int label tensor (void 0 not counted) -> (K,) int64."""
    lab = labels.reshape(-1)
    lab = lab[(lab > 0) & (lab <= num_classes)]
    return torch.bincount(lab - 1, minlength=num_classes)


def seg_loss(
    refined: torch.Tensor,
    coarse: torch.Tensor | None,
    labels: torch.Tensor,
    weight: torch.Tensor | None = None,
    coarse_weight: float = 0.4,
) -> torch.Tensor:
    """Class-balanced cross-entropy ignoring void.

    Args:
        refined: (B, K, H, W) logits at label resolution.
        coarse: (B, K, h, w) logits at stride 8 (upsampled here) or None.
        labels: (B, H, W) int64 NYUv2-13 ids, 0 = void (ignored).
        weight: (K,) class weights or None.
        coarse_weight: weight of the coarse head's loss (deep supervision).
    """
    target = labels - 1  # void -> -1, ignored
    if not bool((target >= 0).any()):
        # an all-void batch: zero loss that still flows through the graph (DDP needs it)
        return refined.sum() * 0.0 + (coarse.sum() * 0.0 if coarse is not None else 0.0)
    loss = F.cross_entropy(refined.float(), target, weight=weight, ignore_index=-1)
    if coarse is not None and coarse_weight > 0:
        up = F.interpolate(coarse.float(), size=labels.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss + coarse_weight * F.cross_entropy(up, target, weight=weight, ignore_index=-1)
    return loss


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 2.0,
) -> torch.Tensor:
    """Pixel-wise knowledge distillation: KL(teacher || student) of the class distributions
    softened by ``temperature``, times ``temperature**2`` (so its gradient keeps the scale of
    a cross-entropy as the temperature changes), averaged over the pixels that count.

    Args:
        student: (B, K, H, W) logits of the network being trained.
        teacher: (B, K, H, W) logits of the teacher (no gradient flows into them).
        labels: (B, H, W) NYUv2-13 ids; void pixels (0) are left out. None: every pixel.
        temperature: > 0; 1 compares the plain softmax outputs.
    """
    if student.shape != teacher.shape or student.ndim != 4:
        raise InputError(
            f"distill_loss: expected student and teacher logits of one (B, K, H, W) shape, "
            f"got {tuple(student.shape)} and {tuple(teacher.shape)}"
        )
    if not temperature > 0:
        raise ConfigError(f"distill_loss: expected temperature > 0, got {temperature}")
    t = temperature
    log_p_s = F.log_softmax(student.float() / t, dim=1)
    log_p_t = F.log_softmax(teacher.detach().float() / t, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1)  # (B, H, W)
    if labels is not None:
        valid = labels > 0
        if not bool(valid.any()):
            return student.sum() * 0.0
        kl = kl[valid]
    return kl.mean() * (t * t)


def lovasz_softmax_loss(logits: torch.Tensor, labels: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Lovász-softmax loss (Berman et al., CVPR 2018): a convex surrogate of 1 - IoU.

    For each class present in the batch's labels, the pixels' errors ``|[y = c] - p_c|``
    are sorted in decreasing order and weighted by the steps of the Jaccard loss along
    that order (the Lovász extension of the set function 1 - IoU); the loss is the mean
    over those classes. On one-hot probabilities it equals the mean of 1 - IoU of the
    batch's classes, so it optimises the measure the project is judged on, over the whole
    batch (not per image) as a dataset mIoU counts pixels.

    Args:
        logits: (B, K, H, W) refined logits at label resolution.
        labels: (B, H, W) NYUv2-13 ids, 0 = void (left out).
        stride: use every ``stride``-th pixel in each direction (the sort over all pixels
            of a batch is the cost: 2 takes a quarter of the pixels).
    """
    if logits.ndim != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise InputError(
            f"lovasz_softmax_loss: expected logits (B, K, H, W) and labels (B, H, W), "
            f"got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if stride < 1:
        raise ConfigError(f"lovasz_softmax_loss: expected stride >= 1, got {stride}")
    if stride > 1:
        logits, labels = logits[:, :, ::stride, ::stride], labels[:, ::stride, ::stride]
    k = logits.shape[1]
    probs = F.softmax(logits.float(), dim=1).transpose(0, 1).reshape(k, -1)  # (K, N)
    y = labels.reshape(-1)
    valid = y > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    probs, y = probs[:, valid], y[valid] - 1
    fg = F.one_hot(y, k).T.float()
    present = fg.sum(dim=1) > 0
    fg, probs = fg[present], probs[present]
    errors, order = torch.sort((fg - probs).abs(), dim=1, descending=True)
    fg = torch.gather(fg, 1, order)
    # the Jaccard loss after taking the first i pixels of the order, and its increments
    total = fg.sum(dim=1, keepdim=True)
    jaccard = 1.0 - (total - fg.cumsum(dim=1)) / (total + (1.0 - fg).cumsum(dim=1))
    steps = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)
    return (errors * steps).sum(dim=1).mean()
