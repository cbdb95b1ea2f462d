"""The settings of a segmentation training run (``TrainConfig``), checked when made."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from real3d.core.errors import ConfigError, InputError
from real3d.core.values import is_int
from real3d.models.segmentation import (
    check_scales,
)
from real3d.train.data import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one segmentation training run, checked when made.

    Attributes:
        preset: model preset name (``real3d.models.PRESETS``).
        data: data spec (``real3d.train.data``).
        out_dir: where the log, checkpoints and final weights go.
        steps: optimizer steps in total (the schedule length).
        batch_size: samples per step per process.
        crop_hw: (H, W) training resolution, multiples of 16; multiples of 32
            (``real3d.models.NETWORK_STRIDE``) keep the decoder's levels aligned, as
            ``predict`` runs them.
        lr, weight_decay, warmup_steps: AdamW and schedule (linear warm-up, cosine to 1 %).
        coarse_weight: loss weight of the coarse head.
        class_weighting: ``"enet"`` (1/ln(1.02 + f) from the first ``weight_samples``
            samples) or ``"none"``.
        amp: ``"auto"`` (default), ``"bf16"`` autocast or ``"off"``. ``auto`` uses bf16 only
            where the CPU computes it natively (AVX512-BF16 or AMX, see ``bf16_is_native``):
            there it is faster per training step, while an AVX2-only CPU emulates bf16 and is
            many times slower than fp32 (figures in docs/segmentation.md).
        workers: DataLoader worker processes (also render the cache).
        cache_dir: render/read the data once into memory-mapped arrays here (recommended
            for synthetic data: random-order rendering rebuilds a scene per item).
        seed: seeds model init and the data schedule.
        ckpt_every: steps between checkpoints (and at the end).
        augment: augmentation settings, None disables augmentation.
        threads: torch intra-op threads per process (0 = leave torch's default).
        init_weights: start from these weights (a shipped name such as ``rgbd-default``, or
            ``.safetensors`` with its model card; same preset) instead of a random init: a
            second training phase with a new schedule. Weights of another label set
            (``labels``) give everything but the class heads, which start new. The card
            records them (``init``).
            A checkpoint in ``out_dir`` still takes precedence (resume). Pruned weights
            (``real3d prune``: their config sets ``channel_widths``) train as the network
            they are, and ``preset`` is not used.
        grad_clip: gradients are clipped to this global L2 norm (0 disables). A step whose
            loss or gradient norm is not finite (a bf16 overflow) is skipped, counted in the
            log's ``skipped`` column and the summary, and the weights and BatchNorm statistics
            stay as they were.
        device: ``"cpu"`` (default) or ``"cuda"`` (``"cuda:N"``). Data loading and
            augmentation stay on the CPU (seeded per schedule item as always); the model, the
            loss and the optimizer run on the device. ``amp="auto"`` is bf16 on CUDA. Under
            torchrun with CUDA each process takes GPU ``LOCAL_RANK`` and NCCL.
        teacher: a trained segmentation network (pretrained name or ``.safetensors`` path)
            whose refined class distributions the model also learns to match (knowledge
            distillation, ``real3d.train.losses.distill_loss``) on the same augmented
            batch; the teacher sees whichever of RGB and depth it was trained on, so an
            RGB-D teacher can teach an RGB-only student. None: labels only.
        teacher_clean: with corruption-aware training (``augment.corrupt_p`` or
            ``augment.depth_missing_p`` > 0), the teacher (logits and, with
            ``teacher_feature_weight``, encoder features) sees each sample as it was before
            the sensor corruption, while the student sees it corrupted: the student learns
            to give under a corruption what the teacher gives without it. False: both see
            the same (corrupted) batch. Needs ``teacher`` and corruptions.
        distill_weight: weight of the distillation term added to the label loss.
        distill_temperature: softmax temperature of the distillation term.
        teacher_flip: the teacher also sees the mirrored batch, and the student learns the
            average of the two (softened) class distributions, as ``predict(flip=True)``
            averages them; it doubles the teacher's cost. Needs ``teacher``.
        teacher_scales: the teacher also runs at these multiples of the crop size (sides
            rounded to multiples of 32, as ``predict(scales=...)`` rounds them), its logits
            resized back, and the student learns the mean of the distributions (with
            ``teacher_flip``, of every scale and mirror): the target ``predict(flip=True,
            scales=(1.0, 1.2))`` gives. Each scale adds a teacher pass. Needs ``teacher``.
        lovasz_weight: weight of a Lovász-softmax term on the refined output (a surrogate of
            1 - IoU over the batch, ``real3d.train.losses.lovasz_softmax_loss``) added to the
            label loss; 0 (default) leaves it out.
        lovasz_stride: the Lovász term uses every N-th pixel in each direction (its sort
            over the batch's pixels is the cost).
        imagenet_init: start the MobileNetV2 encoders of a ``*-mnv2`` preset from ImageNet
            weights (``real3d.models.imagenet.init_from_imagenet``): ``"auto"`` imports them
            into the user cache when missing (``ensure_imagenet_mobilenetv2``), or a path to
            converted weights; None: random init. Ignored when resuming a checkpoint or
            starting from ``init_weights``. The card records the pretrained part's origin
            and licence.
        labels: label set the model learns (``real3d.core.labels``, e.g. ``"warehouse"``):
            the preset's classes are replaced by its classes, and synth data specs are
            labelled in it (``real3d.train.data.open_data``). None: the preset's own
            (NYUv2-13 for the stock presets).
        encoder_lr_scale: the pretrained encoders' parameters train at this multiple of the
            schedule's learning rate; fusion blocks, the decoder and encoders that start
            random at the full rate. Pretrained: with ``imagenet_init`` the MobileNetV2
            encoders it initialises (not a two-stream model's depth encoder), otherwise
            every encoder (``model.encoder``, ``model.depth_encoder``). Below 1 keeps
            pretrained features closer to where they started. 1.0: one rate.
        freeze_encoder_bn: the pretrained encoders' BatchNorm layers (as for
            ``encoder_lr_scale``) keep the statistics and affine parameters they start with
            (ImageNet's, with ``imagenet_init``): they stay in eval mode and are not trained.
        feature_distance_weight: weight of a term that keeps the RGB encoder's features
            close to those of the ImageNet encoder it started from (a frozen copy, run on the
            same batch): the mean over the five stages of the squared feature distance,
            each divided by the mean squared reference feature. Needs ``imagenet_init``;
            0 (default) leaves it out.
        teacher_feature_weight: weight of a feature-distillation term from ``teacher``: the
            model's five encoder stage outputs (after fusion, strides 2..32) are drawn to the
            teacher's at the same stages: the mean over stages of the squared distance, each
            divided by the mean squared teacher feature. A model pruned from the teacher
            (``init_weights`` from ``real3d prune``, whose card records the channels each
            stage kept) is compared on those channels, unless the card names other source
            weights than the teacher's; a model whose stage widths equal the
            teacher's directly; any other through a learned 1x1 projection per stage (trained
            with the model, not saved, restarted when a run resumes). Needs ``teacher``;
            0 (default) leaves it out.
    """

    preset: str = "rgbd-small"
    data: str = "synth:kind=mixed,size=240x320,seed=0-999"
    out_dir: str = "runs/seg"
    steps: int = 2000
    batch_size: int = 8
    crop_hw: tuple[int, int] = (256, 320)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    coarse_weight: float = 0.4
    class_weighting: str = "enet"
    weight_samples: int = 64
    amp: str = "auto"
    workers: int = 0
    cache_dir: str | None = None
    seed: int = 0
    ckpt_every: int = 200
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    threads: int = 0
    init_weights: str | None = None
    grad_clip: float = 5.0
    device: str = "cpu"
    teacher: str | None = None
    distill_weight: float = 1.0
    distill_temperature: float = 2.0
    teacher_flip: bool = False
    teacher_scales: tuple[float, ...] = (1.0,)
    lovasz_weight: float = 0.0
    lovasz_stride: int = 2
    imagenet_init: str | None = None
    labels: str | None = None
    encoder_lr_scale: float = 1.0
    freeze_encoder_bn: bool = False
    feature_distance_weight: float = 0.0
    teacher_feature_weight: float = 0.0
    teacher_clean: bool = False

    def __post_init__(self) -> None:
        if self.labels is not None:
            from real3d.core.labels import get_label_set

            if not isinstance(self.labels, str):
                raise ConfigError(f"TrainConfig.labels: expected a label set name, got {self.labels!r}")
            try:
                get_label_set(self.labels)
            except ConfigError as e:
                raise ConfigError(f"TrainConfig.labels: {e}") from None
        if self.feature_distance_weight and not self.imagenet_init:
            raise ConfigError(
                "TrainConfig.feature_distance_weight: needs ImageNet-initialised encoders (TrainConfig.imagenet_init)"
            )
        if not isinstance(self.freeze_encoder_bn, bool):
            raise ConfigError(f"TrainConfig.freeze_encoder_bn: expected a bool, got {self.freeze_encoder_bn!r}")
        if self.teacher_feature_weight and not self.teacher:
            raise ConfigError("TrainConfig.teacher_feature_weight: needs a teacher (TrainConfig.teacher)")
        if not isinstance(self.teacher_clean, bool):
            raise ConfigError(f"TrainConfig.teacher_clean: expected a bool, got {self.teacher_clean!r}")
        if self.teacher_clean and not self.teacher:
            raise ConfigError("TrainConfig.teacher_clean: needs a teacher (TrainConfig.teacher)")
        if self.teacher_clean and (
            self.augment is None or (self.augment.corrupt_p == 0 and self.augment.depth_missing_p == 0)
        ):
            raise ConfigError(
                "TrainConfig.teacher_clean: needs corruption-aware training (augment.corrupt_p or "
                "augment.depth_missing_p > 0)"
            )
        if self.teacher_flip and not self.teacher:
            raise ConfigError("TrainConfig.teacher_flip: needs a teacher (TrainConfig.teacher)")
        try:
            object.__setattr__(self, "teacher_scales", check_scales(self.teacher_scales))
        except InputError as e:
            raise ConfigError(f"TrainConfig.teacher_scales: {e}") from None
        if self.teacher_scales != (1.0,) and not self.teacher:
            raise ConfigError("TrainConfig.teacher_scales: needs a teacher (TrainConfig.teacher)")
        if not self.distill_weight >= 0:
            raise ConfigError(f"TrainConfig.distill_weight: expected >= 0, got {self.distill_weight}")
        if not self.lovasz_weight >= 0 or self.lovasz_stride < 1:
            raise ConfigError(
                f"TrainConfig.lovasz_weight / lovasz_stride: expected >= 0 and >= 1, "
                f"got {self.lovasz_weight}, {self.lovasz_stride}"
            )
        if not self.distill_temperature > 0:
            raise ConfigError(f"TrainConfig.distill_temperature: expected > 0, got {self.distill_temperature}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ConfigError(f"TrainConfig.device: expected 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.amp not in ("auto", "off", "bf16"):
            raise ConfigError(f"TrainConfig.amp: expected 'auto', 'off' or 'bf16', got {self.amp!r}")
        if not self.grad_clip >= 0:
            raise ConfigError(f"TrainConfig.grad_clip: expected >= 0 (0 = off), got {self.grad_clip}")
        if self.class_weighting not in ("enet", "none"):
            raise ConfigError(f"TrainConfig.class_weighting: expected 'enet' or 'none', got {self.class_weighting!r}")
        hw = tuple(self.crop_hw) if isinstance(self.crop_hw, (tuple, list)) else ()
        if len(hw) != 2 or not all(is_int(v, 16) and v % 16 == 0 for v in hw):
            raise ConfigError(f"TrainConfig.crop_hw: expected (H, W), positive multiples of 16, got {self.crop_hw!r}")
        object.__setattr__(self, "crop_hw", hw)
        for name, low in (
            ("steps", 1),
            ("batch_size", 1),
            ("warmup_steps", 0),
            ("weight_samples", 1),
            ("workers", 0),
            ("ckpt_every", 1),
            ("threads", 0),
            ("seed", None),
            ("lovasz_stride", 1),
        ):
            if not is_int(getattr(self, name), low):
                need = "an integer" + ("" if low is None else f" >= {low}")
                raise ConfigError(f"TrainConfig.{name}: expected {need}, got {getattr(self, name)!r}")
        # rates: finite, and > 0 (the temperature) or >= 0 (weights; a learning rate of 0
        # keeps the weights, as a BatchNorm-only or a check run may want)
        for name, strict in (
            ("lr", False),
            ("distill_temperature", True),
            ("weight_decay", False),
            ("coarse_weight", False),
            ("grad_clip", False),
            ("distill_weight", False),
            ("lovasz_weight", False),
            ("encoder_lr_scale", False),
            ("feature_distance_weight", False),
            ("teacher_feature_weight", False),
        ):
            v = getattr(self, name)
            ok = (
                not isinstance(v, bool)
                and isinstance(v, (int, float))
                and math.isfinite(v)
                and (v > 0 if strict else v >= 0)
            )
            if not ok:
                raise ConfigError(
                    f"TrainConfig.{name}: expected a finite number {'>' if strict else '>='} 0, got {v!r}"
                )
