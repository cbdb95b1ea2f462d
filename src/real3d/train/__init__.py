"""Training: data specs and augmentation, losses, checkpoints, the training loop, and the
per-class logit offsets fitted after training."""

from real3d.train.checkpoint import load_checkpoint, save_checkpoint
from real3d.train.class_bias import ClassBiasFit, apply_class_bias, collect_logits, fit_class_bias
from real3d.train.data import (
    AugmentConfig,
    SynthSpec,
    ToySegData,
    augment,
    open_data,
    parse_synth_spec,
)
from real3d.train.loop import TrainConfig, lr_at, train
from real3d.train.losses import class_weights_from_counts, distill_loss, seg_loss

__all__ = [
    "TrainConfig",
    "train",
    "lr_at",
    "AugmentConfig",
    "SynthSpec",
    "ToySegData",
    "augment",
    "open_data",
    "parse_synth_spec",
    "save_checkpoint",
    "load_checkpoint",
    "seg_loss",
    "distill_loss",
    "class_weights_from_counts",
    "ClassBiasFit",
    "collect_logits",
    "fit_class_bias",
    "apply_class_bias",
]
