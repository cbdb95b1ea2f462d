"""BatchNorm running statistics recomputed for the frames ``predict`` sees.

A network's BatchNorm layers keep running means and variances gathered during training,
on augmented crops (scaled, jittered, noisy) at the training size, with the weights still
moving. Two things leave them out of step with the network that is finally run: the
crops are not the whole frames ``predict`` resizes to ``infer_hw``, and a weight average
(``real3d.models.average_weights``) averages the statistics of its inputs, which are not
the statistics of the averaged network. ``recalibrate_batchnorm`` runs the network in
training mode, without gradients, over whole labelled-or-not views at the size ``predict``
uses (optionally mirrored as well), and sets each BatchNorm layer's running statistics to
the plain average over those batches; no weight changes.

    stats = recalibrate_batchnorm(model, open_data(spec, cache), max_views=1600)

``tools/recalibrate_bn.py`` does it for a weights file and records it in the card.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from real3d.core.errors import InputError
from real3d.models.segmentation import network_size, resize_inputs
from real3d.train.data import stack_views


@dataclass
class BatchNormRecalibration:
    """What ``recalibrate_batchnorm`` did: ``layers`` BatchNorm layers, each given the
    average statistics of ``batches`` forward passes over ``views`` views (twice as many
    passes when mirrored), at network size ``size_hw``; ``mean_shift`` is the largest
    change of a running mean in units of the new running standard deviation."""

    layers: int
    views: int
    batches: int
    flip: bool
    size_hw: tuple[int, int]
    mean_shift: float

    def to_dict(self) -> dict:
        return {
            "layers": self.layers,
            "views": self.views,
            "batches": self.batches,
            "flip": self.flip,
            "network_size": list(self.size_hw),
            "max_mean_shift_in_std": round(self.mean_shift, 4),
        }


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, data, max_views: int | None = None, batch_size: int = 8, flip: bool = True
) -> BatchNormRecalibration:
    """Recompute the running statistics of every BatchNorm layer of ``model`` (in place)
    from ``data`` (samples as ``real3d.train.data.open_data`` gives them, all of one size).

    Each batch of views is resized to ``network_size`` for the model's ``infer_hw`` as
    ``predict`` resizes a frame, and with ``flip`` also run mirrored; every layer's running
    mean and variance become the average of its batch statistics (BatchNorm's
    ``momentum=None``). The model's mode and each layer's momentum are restored."""
    if batch_size < 2:
        raise InputError(f"recalibrate_batchnorm: expected batch_size >= 2 (batch statistics), got {batch_size}")
    n = len(data) if max_views is None else min(len(data), max_views)
    if n < batch_size:
        raise InputError(
            f"recalibrate_batchnorm: expected at least batch_size={batch_size} views, "
            f"got {n} (data has {len(data)}, max_views={max_views})"
        )
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        raise InputError(f"recalibrate_batchnorm: {type(model).__name__} has no BatchNorm layers")
    before = [
        (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum) for m in layers
    ]
    was_training = model.training
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    size = None
    batches = 0
    try:
        # whole batches only: a short last batch would weigh as much as a full one
        for i in range(0, n - batch_size + 1, batch_size):
            rgb, depth = stack_views([data[j] for j in range(i, i + batch_size)])
            size = network_size(*rgb.shape[-2:], model.config.infer_hw)
            rgb, depth = resize_inputs(rgb, depth, size)
            for mirrored in (False, True) if flip else (False,):
                r, d = (rgb.flip(-1), depth.flip(-1)) if mirrored else (rgb, depth)
                model(r if model.uses_rgb else None, d if model.uses_depth else None, head="both")
            batches += 1
        unused = [i for i, m in enumerate(layers) if int(m.num_batches_tracked) == 0]
        if unused:
            raise InputError(
                f"recalibrate_batchnorm: {len(unused)} BatchNorm layers saw no batch (first: #{unused[0]})"
            )
    except BaseException:  # a failed run leaves the statistics as they were
        for m, (mean, var, count, _) in zip(layers, before):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
        raise
    finally:
        for m, (*_, momentum) in zip(layers, before):
            m.momentum = momentum
        model.train(was_training)
    shift = max(
        float(((m.running_mean - mean).abs() / (m.running_var + m.eps).sqrt()).max())
        for m, (mean, *_) in zip(layers, before)
    )
    return BatchNormRecalibration(
        layers=len(layers),
        views=batches * batch_size,
        batches=batches,
        flip=flip,
        size_hw=tuple(size),
        mean_shift=shift,
    )
