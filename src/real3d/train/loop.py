"""The segmentation training loop: AdamW, warm-up + cosine schedule, class-balanced
cross-entropy with deep supervision of the coarse head, optional bf16 autocast, CSV log,
safetensors checkpoints with exact resume, and data-parallel training over processes
(gloo) when started by ``torchrun``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader

from real3d.core.errors import ConfigError
from real3d.core.files import atomic_write_text
from real3d.core.values import is_int
from real3d.models.presets import PRESETS, get_preset
from real3d.models.pretrained import save_weights
from real3d.models.segmentation import (
    Real3DVisionNet,
    SegNetConfig,
    network_size,
    resize_inputs,
)
from real3d.train.checkpoint import load_checkpoint, save_checkpoint
from real3d.train.config import TrainConfig  # noqa: F401 (re-exported: its home was this module)
from real3d.train.data import ScheduleDataset, StepSampler, data_label_set, open_data
from real3d.train.losses import (
    class_weights_from_counts,
    distill_loss,
    label_counts,
    lovasz_softmax_loss,
    seg_loss,
)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up then cosine."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _estimate_class_weights(base, cfg: TrainConfig, num_classes: int) -> torch.Tensor:
    n = min(len(base), cfg.weight_samples)
    counts = torch.zeros(num_classes, dtype=torch.int64)
    # evenly spread over the dataset, deterministic
    for i in torch.linspace(0, len(base) - 1, n).long().tolist():
        counts += label_counts(base[i]["labels"], num_classes)
    return class_weights_from_counts(counts)


def train(
    cfg: TrainConfig,
    model_config: SegNetConfig | None = None,
    resume: bool = True,
    progress: bool = True,
    dataset=None,
    stop_at: int | None = None,
) -> dict:
    """Train a segmentation model; returns a summary dict (final loss, steps, paths).

    When started by torchrun (WORLD_SIZE > 1) each process trains on its own part of every
    global batch and gradients are averaged over gloo; rank 0 writes the outputs. With
    ``resume`` and a checkpoint in ``out_dir/ckpt``, training continues from it exactly.
    Writes ``out_dir/log.csv``, ``out_dir/ckpt/last.{safetensors,json}`` and, at the end,
    ``out_dir/model.{safetensors,json}`` (weights + model card).
    ``dataset`` (a Dataset of samples, see ``real3d.train.data``) replaces ``cfg.data``.
    ``stop_at`` ends the run early after that step (with a checkpoint), as an interruption
    would; the schedule still follows ``cfg.steps``.
    """
    # setup: processes, device, model configuration (checked before any data is rendered)
    rank, world = _dist_info()
    device = _resolve_device(cfg.device, world)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    ckpt_path = out / "ckpt" / "last"
    mcfg, init = _model_config(cfg, model_config)
    teacher = _load_teacher(cfg.teacher, mcfg, device) if cfg.teacher else None

    # model and optimiser, data, then the state a checkpoint or init weights give them
    model, opt = _model_and_optimizer(cfg, mcfg)
    base = _open_base(cfg, dataset, rank, world, progress, model_label_set(mcfg))
    pretrained = None
    if cfg.imagenet_init and init is None:
        pretrained = _imagenet_init(model, cfg.imagenet_init)
    # before the restore: its projections join the optimizer, whose checkpointed state then fits
    distiller = (
        TeacherFeatures(model, teacher, init.card if init is not None else None, opt)
        if teacher is not None and cfg.teacher_feature_weight > 0
        else None
    )
    start_step, meta = _restore(model, opt, init, device, ckpt_path if resume else None)
    if distiller is not None:
        distiller.to(device)
    anchor = _FeatureAnchor(model, _imagenet_path(cfg.imagenet_init)) if cfg.feature_distance_weight > 0 else None
    weights = _class_weights(meta, base, cfg, mcfg.num_classes)
    weights_dev = weights.to(device) if weights is not None else None
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    loader = _loader(base, cfg, start_step, rank, world, device)
    is_main = rank == 0
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "train_config.json", json.dumps({"train": _cfg_dict(cfg), "model": mcfg.to_dict()}, indent=2)
        )
    log = _TrainLog(out / "log.csv", start_step, cfg.steps, f"train {mcfg.name}", progress) if is_main else None

    # the steps, with checkpoints
    model.train()
    for bn in _encoder_norms(model, cfg) if cfg.freeze_encoder_bn else ():
        bn.eval()
    step = start_step
    last_loss = float("nan")
    losses: list[float] = []
    skipped = int(meta.get("skipped_steps", 0))
    # a resumed run keeps the precision it started with
    amp = meta.get("amp") or resolve_amp(cfg.amp, device.type)
    t0 = time.perf_counter()
    extra = {
        "class_weights": weights.tolist() if weights is not None else None,
        "train_config": _cfg_dict(cfg),
        "amp": amp,
    }
    for batch in loader:
        loss, finite = _train_step(
            net, model, opt, teacher, batch, step, cfg, mcfg, weights_dev, amp, device, anchor, distiller
        )
        skipped += not finite
        step += 1
        last_loss = float(loss.detach())
        if world > 1:
            t = torch.tensor([last_loss], device=device)
            dist.all_reduce(t)
            last_loss = float(t) / world
        losses.append(last_loss)
        if log is not None:
            dt = time.perf_counter() - t0
            log.row(
                step,
                (step * cfg.batch_size * world) // len(base),
                last_loss,
                opt.param_groups[0]["lr"],
                dt,
                (step - start_step) * cfg.batch_size * world / dt,
                skipped,
            )
        stopping = stop_at is not None and step >= stop_at
        if is_main and (step % cfg.ckpt_every == 0 or step == cfg.steps or stopping):
            save_checkpoint(ckpt_path, model, opt, step, {**extra, "skipped_steps": skipped})
        if stopping:
            break
    if log is not None:
        log.close()
    if distiller is not None:
        distiller.close()

    # the final weights and their model card
    summary = {
        "steps": step,
        "final_loss": last_loss,
        "losses": losses,
        "out_dir": str(out),
        "skipped_steps": skipped,
        "amp": amp,
        "device": str(device),
    }
    if is_main and step >= cfg.steps:
        card = {
            "preset": mcfg.name,
            "train_config": _cfg_dict(cfg),
            "world_size": world,
            "amp": amp,
            "device": device.type,
            "final_loss": last_loss,
        }
        if pretrained is not None:
            card["pretrained"] = pretrained
        if init is not None:
            card["init"] = _init_record(cfg.init_weights, init, mcfg)
        if init is not None and "pruned" in (init.card or {}):
            card["pruned"] = init.card["pruned"]  # the channels kept of the network it was pruned from
        summary["weights"] = str(save_weights(model, out / "model.safetensors", card))
    if world > 1:
        dist.barrier()
    return summary


def _imagenet_init(model: Real3DVisionNet, spec: str) -> dict:
    """Load ImageNet weights into the model's MobileNetV2 encoders (see
    ``TrainConfig.imagenet_init``); returns what the model card records about them."""
    import json as _json

    from real3d.models.imagenet import init_from_imagenet

    path = _imagenet_path(spec)
    encoders = init_from_imagenet(model, path)
    card_path = Path(path).with_suffix(".json")
    src = _json.loads(card_path.read_text()) if card_path.is_file() else {}
    return {"encoders": encoders, "weights": Path(path).name, **{k: src[k] for k in ("origin", "sha256") if k in src}}


def _imagenet_path(spec: str) -> Path:
    """The converted ImageNet weights ``TrainConfig.imagenet_init`` names ("auto": the user
    cache's, imported when missing)."""
    from real3d.models.imagenet import ensure_imagenet_mobilenetv2

    return Path(ensure_imagenet_mobilenetv2()) if spec == "auto" else Path(spec)


#: SegNetConfig fields that set how ``predict`` runs, not the architecture: weights to start
#: from may differ from the preset in them (the shipped cards tune them after training)
_INFERENCE_KEYS = ("infer_hw", "guide_radius", "guide_eps")


def _model_config(cfg: TrainConfig, model_config: SegNetConfig | None) -> tuple[SegNetConfig, Real3DVisionNet | None]:
    """The network's configuration and, with ``cfg.init_weights``, the weights to start from
    (which must have the same architecture)."""
    mcfg = model_config or get_preset(cfg.preset)
    if cfg.labels is not None and cfg.labels != model_label_set(mcfg):
        from real3d.core.labels import get_label_set

        n = get_label_set(cfg.labels).num_classes
        mcfg = dataclasses.replace(mcfg, num_classes=n, label_set=cfg.labels)
    if not cfg.init_weights:
        return mcfg, None
    from real3d.models.pretrained import PRETRAINED, load_pretrained, load_weights

    # a shipped name ("rgbd-default") starts from the shipped weights
    init = load_pretrained(cfg.init_weights) if cfg.init_weights in PRETRAINED else load_weights(cfg.init_weights)
    if init.config.channel_widths and model_config is None:
        # pruned weights (real3d prune) are their own architecture: no preset describes them
        if model_label_set(init.config) != model_label_set(mcfg):
            raise ConfigError(
                f"init_weights {cfg.init_weights} predicts {model_label_set(init.config)} classes, the run learns "
                f"{model_label_set(mcfg)}"
            )
        return init.config, init
    a, b = init.config.to_dict(), mcfg.to_dict()
    # weights of another label set give everything but the class heads (_CLASS_HEADS)
    free = _INFERENCE_KEYS + (("label_set", "num_classes") if _other_label_set(init, mcfg) else ())
    differ = [k for k in sorted(set(a) | set(b)) if k not in free and a.get(k) != b.get(k)]
    if differ:
        raise ConfigError(
            f"init_weights {cfg.init_weights} ({init.config.name}) differ from the preset "
            f"{mcfg.name} in {', '.join(differ)}"
        )
    # the inference settings are no part of the architecture: keep those the weights were tuned with
    return dataclasses.replace(mcfg, **{k: getattr(init.config, k) for k in _INFERENCE_KEYS}), init


#: parameter prefixes of the per-class output layers: new when the init weights predict
#: another label set
_CLASS_HEADS = ("decoder.coarse_head.", "decoder.refine_head.")


def _other_label_set(init: Real3DVisionNet, mcfg: SegNetConfig) -> bool:
    """Whether init weights predict another label set than the run learns (their encoders
    and decoder are a starting point, their class heads are not)."""
    return model_label_set(init.config) != model_label_set(mcfg)


def _init_record(spec: str, init: Real3DVisionNet, mcfg: SegNetConfig) -> dict:
    """What a model card records of the weights a run started from: the name or path given,
    their sha256 and label set, and whether the class heads were kept or new."""
    return {
        "weights": spec,
        "sha256": (init.card or {}).get("sha256"),
        "label_set": model_label_set(init.config),
        "class_heads": "new" if _other_label_set(init, mcfg) else "kept",
    }


def _model_and_optimizer(cfg: TrainConfig, mcfg: SegNetConfig) -> tuple[Real3DVisionNet, torch.optim.AdamW]:
    """A seeded fresh network and AdamW over it (no weight decay on biases and norms)."""
    torch.manual_seed(cfg.seed)
    model = Real3DVisionNet(mcfg)
    if cfg.freeze_encoder_bn:
        for bn in _encoder_norms(model, cfg):
            bn.requires_grad_(False)
    decay, no_decay, enc_decay, enc_no_decay = [], [], [], []
    scaled = cfg.encoder_lr_scale != 1.0
    encoders = _pretrained_encoders(model, cfg)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        in_encoder = scaled and name.split(".", 1)[0] in encoders
        if p.ndim <= 1:
            (enc_no_decay if in_encoder else no_decay).append(p)
        else:
            (enc_decay if in_encoder else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if scaled:
        # the schedule's rate times lr_scale (see _train_step); the full-rate groups stay first,
        # so the log's rate is the schedule's
        groups += [
            {"params": enc_decay, "weight_decay": cfg.weight_decay, "lr_scale": cfg.encoder_lr_scale},
            {"params": enc_no_decay, "weight_decay": 0.0, "lr_scale": cfg.encoder_lr_scale},
        ]
    opt = torch.optim.AdamW(groups, lr=cfg.lr)
    return model, opt


def _pretrained_encoders(model: Real3DVisionNet, cfg: TrainConfig) -> tuple[str, ...]:
    """Names of the encoders ``TrainConfig.encoder_lr_scale`` and ``freeze_encoder_bn``
    address: with ``imagenet_init`` (and no ``init_weights``) the MobileNetV2 encoders it
    initialises (a two-stream model's depth encoder starts random and trains as the
    decoder does), otherwise every encoder (``encoder``, ``depth_encoder``)."""
    from real3d.nn.mobilenet import MobileNetV2Features

    names = [n for n in ("encoder", "depth_encoder") if getattr(model, n, None) is not None]
    if cfg.imagenet_init and not cfg.init_weights:
        names = [n for n in names if isinstance(getattr(model, n), MobileNetV2Features)]
    return tuple(names)


def _encoder_norms(model: Real3DVisionNet, cfg: TrainConfig) -> list[torch.nn.Module]:
    """The BatchNorm layers of the encoders ``TrainConfig.freeze_encoder_bn`` keeps."""
    out = []
    for name in _pretrained_encoders(model, cfg):
        enc = getattr(model, name)
        out += [m for m in enc.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return out


class _FeatureAnchor:
    """The feature-distance term of ``TrainConfig.feature_distance_weight``: a frozen RGB
    encoder with the ImageNet weights at ``path`` (also when training resumes or starts from
    other weights), and the live encoder's features of the current batch.

    RGB-only models: a forward hook on ``model.encoder`` keeps the five stage features of the
    training forward pass (no extra pass). Two-stream and early-fusion models feed the
    encoder fused or stacked inputs, so their RGB encoder is run again on the RGB alone.
    """

    def __init__(self, model: Real3DVisionNet, path: Path) -> None:
        import copy

        from real3d.models.imagenet import load_imagenet_mobilenetv2
        from real3d.nn.mobilenet import MobileNetV2Features

        if not isinstance(model.encoder, MobileNetV2Features):
            raise ConfigError(
                f"TrainConfig.feature_distance_weight: {model.config.name} has no MobileNetV2 RGB encoder"
            )
        self.model = model
        self.reference = copy.deepcopy(model.encoder)
        enc = model.encoder
        self.reference.load_state_dict(
            load_imagenet_mobilenetv2(path, in_channels=enc.in_channels, with_head=enc.with_head).state_dict()
        )
        self.reference.eval().requires_grad_(False)
        self.features: list[torch.Tensor] | None = None
        self.hooked = model.config.fusion == "rgb"
        if self.hooked:
            model.encoder.register_forward_hook(self._keep)

    def _keep(self, module, args, output) -> None:
        self.features = list(output)

    def loss(self, rgb: torch.Tensor) -> torch.Tensor:
        """Mean over stages of ||f - f_ref||^2 / mean(f_ref^2), in float32; rgb (B, 3, H, W) in [0, 1]."""
        from real3d.models.segmentation import normalize_rgb

        x = normalize_rgb(rgb, self.model.rgb_mean, self.model.rgb_std)
        feats = self.features if self.hooked else None
        if feats is None:
            feats = list(self.model.encoder(x))
        self.features = None
        with torch.no_grad():
            ref = list(self.reference(x))
        terms = [F.mse_loss(f.float(), r.float()) / r.float().pow(2).mean().clamp_min(1e-6) for f, r in zip(feats, ref)]
        return torch.stack(terms).mean()


def stage_feature_modules(model: Real3DVisionNet) -> list[torch.nn.Module]:
    """The module whose output is each of the five maps ``model.encode`` returns (strides
    2..32): a stage's fusion block where depth joins there, else the last module of the
    encoder's stage (a residual stage, or the last MobileNetV2 block of the stage)."""
    enc = model.encoder
    out = []
    for i in range(5):
        if str(i) in model.fusions:
            out.append(model.fusions[str(i)])
        elif hasattr(enc, "stages"):
            out.append(enc.stages[i])
        else:
            out.append(enc.features[enc._bounds[i][1] - 1])
    return out


class _StageTap:
    """Keeps the outputs of ``stage_feature_modules(model)`` of the latest forward pass."""

    def __init__(self, model: Real3DVisionNet) -> None:
        self.features: list[torch.Tensor | None] = [None] * 5
        self.hooks = [
            m.register_forward_hook(lambda mod, args, out, i=i: self.features.__setitem__(i, out))
            for i, m in enumerate(stage_feature_modules(model))
        ]

    def close(self) -> None:
        for h in self.hooks:
            h.remove()
        self.features = [None] * 5

    def take(self) -> list[torch.Tensor] | None:
        feats, self.features = self.features, [None] * 5
        return None if any(f is None for f in feats) else feats


class TeacherFeatures:
    """The feature-distillation term of ``TrainConfig.teacher_feature_weight``.

    The student's five encoder stage outputs are taken from its training forward pass
    (forward hooks, no extra pass), the teacher's from its distillation pass when that ran
    on the plain batch, otherwise from one more pass of the teacher's encoders. Per stage
    the student is compared with, in this order of preference:

    - ``"kept"``: the teacher's channels the student kept when it was pruned from the
      teacher (``card["pruned"]["feature_channels"]``, written by ``real3d prune``; used
      when the student's architecture is the teacher's with other widths);
    - ``"same"``: the teacher's features as they are (equal widths);
    - ``"projection"``: a 1x1 convolution from the student's width to the teacher's,
      zero-mean initialised and trained along (its parameters join ``opt``).

    Args:
        model: the student.
        teacher: the frozen teacher (eval mode).
        card: the student's model card when it starts from saved weights (or None).
        opt: the student's optimizer; projections are added to it as a group without
            weight decay.
    """

    def __init__(
        self, model: Real3DVisionNet, teacher: Real3DVisionNet, card: dict | None, opt: torch.optim.Optimizer
    ) -> None:
        self.model, self.teacher = model, teacher
        s_w = _stage_widths(model)
        t_w = _stage_widths(teacher)
        kept = _kept_channels(model, teacher, card)
        self.modes: list[str] = []
        self.index: list[torch.Tensor | None] = []
        self.projections = torch.nn.ModuleList()
        gen = torch.Generator().manual_seed(0)
        for i in range(5):
            proj = torch.nn.Identity()
            idx = None
            if kept is not None and len(kept[i]) == s_w[i] and max(kept[i]) < t_w[i]:
                mode, idx = "kept", torch.tensor(kept[i], dtype=torch.long)
            elif s_w[i] == t_w[i]:
                mode = "same"
            else:
                mode = "projection"
                proj = torch.nn.Conv2d(s_w[i], t_w[i], 1, bias=False)
                with torch.no_grad():
                    proj.weight.copy_(torch.randn(proj.weight.shape, generator=gen) / math.sqrt(s_w[i]))
            self.modes.append(mode)
            self.index.append(idx)
            self.projections.append(proj)
        params = list(self.projections.parameters())
        if params:
            opt.add_param_group({"params": params, "weight_decay": 0.0})
        self.student_tap = _StageTap(model)
        self.teacher_tap = _StageTap(teacher)

    def sync_gradients(self) -> None:
        """Average the projections' gradients over the processes (DDP averages the model's
        only); nothing to do in one process."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        for p in self.projections.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= dist.get_world_size()

    def close(self) -> None:
        """Remove the hooks from the student and the teacher."""
        self.student_tap.close()
        self.teacher_tap.close()

    def to(self, device: torch.device) -> TeacherFeatures:
        self.projections.to(device)
        self.index = [None if i is None else i.to(device) for i in self.index]
        return self

    def loss(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Mean over the five stages of ||P(f_s) - f_t||^2 / mean(f_t^2), in float32, for the
        batch the student has just run on. ``rgb`` (B, 3, H, W) in [0, 1] and ``depth``
        (B, 1, H, W) metres are what the teacher sees: that batch, or the same crops before
        the sensor corruption (``TrainConfig.teacher_clean``)."""
        student = self.student_tap.take()
        if student is None:
            raise RuntimeError("TeacherFeatures.loss: the student has not run on this batch")
        b = student[0].shape[0]
        teacher = self.teacher_tap.take()
        if teacher is None or teacher[0].shape[0] != b or teacher[0].shape[-2:] != student[0].shape[-2:]:
            tcfg = self.teacher.config
            with torch.no_grad():
                teacher = self.teacher.encode(rgb if tcfg.uses_rgb else None, depth if tcfg.uses_depth else None)
            self.teacher_tap.take()
        terms = []
        for f, t, proj, idx in zip(student, teacher, self.projections, self.index):
            t = t.detach().float()
            if idx is not None:
                t = t.index_select(1, idx)
            f = proj(f).float()
            if f.shape[-2:] != t.shape[-2:]:
                t = F.interpolate(t, size=f.shape[-2:], mode="bilinear", align_corners=False)
            terms.append(F.mse_loss(f, t) / t.pow(2).mean().clamp_min(1e-6))
        return torch.stack(terms).mean()


def _stage_widths(model: Real3DVisionNet) -> list[int]:
    """Channels of the five maps ``model.encode`` returns (one small pass in eval mode)."""
    cfg = model.config
    dev = next(model.parameters()).device
    x = torch.rand(1, 3, 32, 32, device=dev) if cfg.uses_rgb else None
    d = torch.rand(1, 1, 32, 32, device=dev) + 1.0 if cfg.uses_depth else None
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [int(f.shape[1]) for f in model.encode(x, d)]
    finally:
        model.train(was)


#: SegNetConfig fields that make two networks the same architecture up to their widths
_ARCH_KEYS = ("fusion", "rgb_encoder", "depth_encoder", "decoder", "fusion_stages", "num_classes")


def _kept_channels(model: Real3DVisionNet, teacher: Real3DVisionNet, card: dict | None) -> list[list[int]] | None:
    """The teacher's channels each encoder stage of ``model`` kept when it was pruned from a
    network of the teacher's architecture (``card["pruned"]["feature_channels"]``), or None
    where the card has no such record, the architectures differ, or the card names other
    source weights (``source_sha256``) than the teacher's."""
    pruned = (card or {}).get("pruned") or {}
    kept = pruned.get("feature_channels")
    source, have = pruned.get("source_sha256"), (teacher.card or {}).get("sha256")
    if source and have and source != have:  # pruned from other weights of that architecture
        return None
    if not isinstance(kept, list) or len(kept) != 5:
        return None
    if not all(isinstance(k, list) and k and all(is_int(c, 0) for c in k) for k in kept):
        return None
    s, t = model.config, teacher.config
    if t.channel_widths or any(getattr(s, k) != getattr(t, k) for k in _ARCH_KEYS):
        return None
    return [[int(c) for c in k] for k in kept]


def model_label_set(mcfg: SegNetConfig) -> str | None:
    """Name of the label set a network's outputs index: its config's, NYUv2-13 for a
    13-class network without one, else None (classes named by their ids)."""
    if mcfg.label_set is not None:
        return mcfg.label_set
    return "nyu13" if mcfg.num_classes == 13 else None


def _open_base(cfg: TrainConfig, dataset, rank: int, world: int, progress: bool, labels: str | None = None):
    """The training samples: ``dataset`` if given, else ``cfg.data`` (cached), labelled in
    the model's label set ``labels`` (ConfigError where a dataset says it holds another)."""
    if dataset is not None:
        have = data_label_set(dataset)
        if labels is not None and have is not None and have != labels:
            raise ConfigError(f"train: the dataset's labels are {have}, the model learns {labels}")
        return dataset
    if world > 1 and cfg.cache_dir:
        # rank 0 fills the cache, the others wait and then map it
        if rank == 0:
            base = open_data(cfg.data, cfg.cache_dir, cfg.workers, progress, labels)
        dist.barrier()
        if rank != 0:
            base = open_data(cfg.data, cfg.cache_dir, labels=labels)
        return base
    return open_data(cfg.data, cfg.cache_dir, cfg.workers, progress, labels)


def _restore(
    model: Real3DVisionNet, opt, init: Real3DVisionNet | None, device: torch.device, ckpt_path: Path | None
) -> tuple[int, dict]:
    """Load the init weights, move the model to ``device`` and resume from the checkpoint at
    ``ckpt_path`` when there is one; returns (first step, checkpoint metadata or {})."""
    if init is not None:
        state = init.state_dict()
        if _other_label_set(init, model.config):
            # the class heads stay as the seeded initialisation made them
            fresh = model.state_dict()
            state.update({k: fresh[k] for k in fresh if k.startswith(_CLASS_HEADS)})
        model.load_state_dict(state)
    # Module.to keeps the Parameter objects, so the optimizer built before still holds them;
    # a loaded optimizer state follows its parameters' device.
    model.to(device)
    if ckpt_path is not None and ckpt_path.with_suffix(".json").is_file():
        meta = load_checkpoint(ckpt_path, model, opt)
        return int(meta["step"]), meta
    return 0, {}


def _class_weights(meta: dict, base, cfg: TrainConfig, num_classes: int) -> torch.Tensor | None:
    """The loss's class weights: a checkpoint's, else estimated (``enet``), else None."""
    if "class_weights" in meta:
        return torch.tensor(meta["class_weights"])
    if cfg.class_weighting == "enet":
        return _estimate_class_weights(base, cfg, num_classes)
    return None


def _loader(base, cfg: TrainConfig, start_step: int, rank: int, world: int, device: torch.device) -> DataLoader:
    """Batches of this process's part of the schedule from ``start_step`` on."""
    ds = ScheduleDataset(base, cfg.crop_hw, cfg.augment, cfg.seed, keep_clean=cfg.teacher_clean)
    return DataLoader(
        ds,
        batch_size=cfg.batch_size,
        sampler=StepSampler(start_step, cfg.steps, cfg.batch_size, rank, world),
        num_workers=cfg.workers,
        persistent_workers=False,
        drop_last=False,
        pin_memory=device.type == "cuda",
    )


class _TrainLog:
    """The CSV log (appended to when resuming) and the progress bar of the main process."""

    def __init__(self, path: Path, start_step: int, steps: int, desc: str, progress: bool):
        new = start_step == 0 or not path.exists()
        self.file = open(path, "w" if new else "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(["step", "epoch", "loss", "lr", "seconds", "samples_per_s", "skipped"])
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, initial=start_step, desc=desc, unit="step")

    def row(
        self, step: int, epoch: int, loss: float, lr: float, seconds: float, samples_per_s: float, skipped: int
    ) -> None:
        self.writer.writerow(
            [step, epoch, f"{loss:.5f}", f"{lr:.6g}", f"{seconds:.2f}", f"{samples_per_s:.2f}", skipped]
        )
        self.file.flush()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.file.close()


def _train_step(
    net: torch.nn.Module,
    model: Real3DVisionNet,
    opt,
    teacher: Real3DVisionNet | None,
    batch: dict,
    step: int,
    cfg: TrainConfig,
    mcfg: SegNetConfig,
    weights: torch.Tensor | None,
    amp: str,
    device: torch.device,
    anchor: _FeatureAnchor | None = None,
    distiller: TeacherFeatures | None = None,
) -> tuple[torch.Tensor, bool]:
    """One optimizer step (schedule, forward, losses, backward, clipping). A step whose
    gradient norm is not finite is skipped and the BatchNorm statistics put back; returns
    (loss, whether the step was taken)."""
    for g in opt.param_groups:
        g["lr"] = lr_at(step, cfg) * g.get("lr_scale", 1.0)
    rgb, depth, labels = (batch[k].to(device, non_blocking=True) for k in ("rgb", "depth_m", "labels"))
    # BatchNorm running statistics change during the forward pass: keep a copy so that a
    # skipped (non-finite) step can put them back.
    buffers = [b.detach().clone() for b in model.buffers()]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
        refined, coarse = net(rgb if mcfg.uses_rgb else None, depth if mcfg.uses_depth else None, head="both")
    loss = seg_loss(refined, coarse, labels, weights, cfg.coarse_weight)
    if anchor is not None:
        loss = loss + cfg.feature_distance_weight * anchor.loss(rgb)
    if cfg.lovasz_weight > 0:
        loss = loss + cfg.lovasz_weight * lovasz_softmax_loss(refined, labels, cfg.lovasz_stride)
    # what the teacher sees: the batch before the sensor corruption (TrainConfig.teacher_clean)
    # or the student's batch
    t_rgb, t_depth = rgb, depth
    if "rgb_clean" in batch:
        t_rgb, t_depth = (batch[k].to(device, non_blocking=True) for k in ("rgb_clean", "depth_m_clean"))
    if teacher is not None and cfg.distill_weight > 0:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            t_logits = teacher_logits(
                teacher, t_rgb, t_depth, cfg.teacher_flip, cfg.distill_temperature, cfg.teacher_scales
            )
        loss = loss + cfg.distill_weight * distill_loss(refined, t_logits, labels, cfg.distill_temperature)
    if distiller is not None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = loss + cfg.teacher_feature_weight * distiller.loss(t_rgb, t_depth)
    opt.zero_grad(set_to_none=True)
    # Backward on every rank even for a non-finite loss: DDP averages the gradients, so
    # every rank then sees the same non-finite norm and skips the same step.
    loss.backward()
    if distiller is not None:
        distiller.sync_gradients()
    params = [p for p in model.parameters() if p.grad is not None]
    # The total norm is needed either way; an infinite limit leaves the gradients as they are.
    gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
    if bool(torch.isfinite(gnorm)):
        opt.step()
        return loss, True
    opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        for b, saved in zip(model.buffers(), buffers):
            b.copy_(saved)
    return loss, False


def teacher_logits(
    teacher: Real3DVisionNet,
    rgb: torch.Tensor,
    depth: torch.Tensor,
    flip: bool = False,
    temperature: float = 2.0,
    scales: tuple[float, ...] = (1.0,),
) -> torch.Tensor:
    """The teacher's refined logits for a batch (it sees whichever of RGB and depth it uses).

    With ``flip`` it also runs the mirrored batch, and with ``scales`` other than ``(1.0,)``
    it also runs the batch resized by each factor (sides multiples of 32, ``network_size``;
    RGB bilinear, depth nearest, as ``predict``), its logits resized back to the batch's
    size. The result is then ``T * log p`` where ``p`` is the mean of the class
    distributions at temperature ``T`` over every scale and mirror, so that the
    distillation loss's ``softmax(logits / T)`` is exactly that mean.
    """
    tcfg = teacher.config
    x_rgb, x_depth = (rgb if tcfg.uses_rgb else None), (depth if tcfg.uses_depth else None)
    scales = tuple(scales)
    if not flip and scales == (1.0,):
        return teacher(x_rgb, x_depth, head="refined")
    b, (h, w) = rgb.shape[0], tuple(rgb.shape[-2:])
    p = None
    for s in scales:
        r, d = x_rgb, x_depth
        if s != 1.0:
            r, d = resize_inputs(r, d, network_size(h, w, (h * s, w * s)))
        if flip:
            r = None if r is None else torch.cat([r, r.flip(-1)])
            d = None if d is None else torch.cat([d, d.flip(-1)])
        out = teacher(r, d, head="refined").float()
        if tuple(out.shape[-2:]) != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        q = torch.softmax(out[:b] / temperature, dim=1)
        if flip:
            q = 0.5 * (q + torch.softmax(out[b:].flip(-1) / temperature, dim=1))
        p = q if p is None else p + q
    return temperature * torch.log((p / len(scales)).clamp_min(1e-12))


def _load_teacher(spec: str, student: SegNetConfig, device: torch.device) -> Real3DVisionNet:
    """The distillation teacher, frozen and in eval mode on ``device``. Only trained weights
    qualify: a preset name would be a random network."""
    from real3d.models.pretrained import PRETRAINED, load_model

    if spec in PRESETS and spec not in PRETRAINED:
        raise ConfigError(
            f"TrainConfig.teacher: expected trained weights (a pretrained name such as "
            f"{sorted(PRETRAINED)[0]!r} or a .safetensors path), got the preset {spec!r}"
        )
    teacher = load_model(spec)
    if teacher.config.num_classes != student.num_classes:
        raise ConfigError(
            f"TrainConfig.teacher: {spec} predicts {teacher.config.num_classes} classes, "
            f"the student {student.num_classes}"
        )
    if model_label_set(teacher.config) != model_label_set(student):
        raise ConfigError(
            f"TrainConfig.teacher: {spec} predicts {model_label_set(teacher.config)} classes, "
            f"the student learns {model_label_set(student)}"
        )
    teacher.eval().requires_grad_(False)
    return teacher.to(device)


def bf16_is_native() -> bool:
    """Whether this CPU has bf16 arithmetic (AVX512-BF16 or AMX tiles); without it torch
    emulates bf16 autocast on CPU, many times slower than fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)


def resolve_amp(amp: str, device_type: str = "cpu") -> str:
    """``auto`` -> ``bf16`` on CUDA or where ``bf16_is_native()``, else ``off``; other
    values as given."""
    if amp == "auto":
        return "bf16" if device_type == "cuda" or bf16_is_native() else "off"
    return amp


def _resolve_device(name: str, world: int) -> torch.device:
    """The training device; a CUDA device that is not there raises ConfigError. Under
    torchrun with CUDA, process LOCAL_RANK takes GPU LOCAL_RANK."""
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"TrainConfig.device={name!r}: torch {torch.__version__} sees no CUDA device; use 'cpu'")
    dev = torch.device(name)
    if world > 1:
        if dev.index is not None:
            raise ConfigError(
                f"TrainConfig.device={name!r}: under torchrun each process takes GPU LOCAL_RANK; pass 'cuda'"
            )
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"TrainConfig.device={name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    if dev.index is not None:
        torch.cuda.set_device(dev)
    return dev


def _cfg_dict(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["crop_hw"] = list(cfg.crop_hw)
    d["teacher_scales"] = list(cfg.teacher_scales)
    return d
