"""Fine-tune a segmentation network's decoder on stored encoder features.

A trained network's decoder can be tuned at the size and with the resizing ``predict``
uses, on whole clean views, without paying for the encoder at every step:

1. ``cache_views`` runs the encoder once over labelled views, resized to the network size
   ``predict`` would use (``network_size`` for ``config.infer_hw``), and stores the five
   feature maps as float16 memory maps beside the labels. With ``teacher_flip`` /
   ``teacher_scales`` it also stores the class distribution of the network's own test-time
   augmentation (``predict(flip=True, scales=...)``) at the decoder's output resolution
   (half the network size), the target the decoder then learns to reach in one pass.
2. ``tune_decoder`` trains only ``model.decoder`` on those features (AdamW, cosine
   schedule; BatchNorm statistics kept, their scale and shift trained): cross-entropy on the
   labels at the views' own size (the decoder's stride-2 logits resized bilinearly to it in
   one step, where ``predict`` goes through the network size), optionally a Lovász-softmax
   term and the distillation term at the decoder's own output resolution.

The encoder is untouched, so what one step costs is the decoder's share of the network.
The cache is written to a temporary folder and renamed into place when complete.

    data = open_data("synth:kind=mixed,size=240x320,seed=0,first=214400,n=6400", "runs/cache/tr4")
    cache = cache_views(model, data, "runs/dec-cache", teacher_flip=True, teacher_scales=(1.0, 1.2))
    losses = tune_decoder(model, cache, DecoderTuneConfig(steps=1500))
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, InputError
from real3d.models.pretrained import weights_fingerprint
from real3d.models.segmentation import check_scales, network_size, resize_inputs
from real3d.train.data import stack_views
from real3d.train.loop import teacher_logits
from real3d.train.losses import distill_loss, lovasz_softmax_loss, seg_loss

LEVELS = 5  # encoder feature maps at strides 2, 4, 8, 16, 32


@dataclass(frozen=True)
class DecoderTuneConfig:
    """Settings of a decoder-tuning run.

    Attributes:
        steps: optimiser steps; batch_size: views per step.
        lr: peak AdamW learning rate (cosine decay to zero over ``steps``); weight_decay: AdamW's.
        ce_weight: weight of the cross-entropy on the labels (void left out).
        kd_weight: weight of the distillation term (needs a cache with teacher targets).
        lovasz_weight: weight of the Lovász-softmax term on the labels.
        seed: draws the batches.
    """

    steps: int = 1500
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-4
    ce_weight: float = 1.0
    kd_weight: float = 1.0
    lovasz_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(
                f"DecoderTuneConfig: expected steps >= 1 and batch_size >= 1, got {self.steps}, {self.batch_size}"
            )
        if not (self.lr > 0 and math.isfinite(self.lr)) or not self.weight_decay >= 0:
            raise ConfigError(
                f"DecoderTuneConfig: expected lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        weights = (self.ce_weight, self.kd_weight, self.lovasz_weight)
        if not all(w >= 0 and math.isfinite(w) for w in weights) or not any(w > 0 for w in weights):
            raise ConfigError(
                f"DecoderTuneConfig: expected finite loss weights >= 0, one of them > 0, got "
                f"ce {self.ce_weight}, kd {self.kd_weight}, lovasz {self.lovasz_weight}"
            )


@dataclass
class ViewCache:
    """What ``cache_views`` stored: ``feats`` (five float16 arrays (N, C, h, w)), ``labels``
    uint8 (N, H, W), ``teacher`` float16 (N, K, h/2, w/2) class probabilities or None, and
    ``meta`` (network size, teacher settings, the data and weights it came from)."""

    path: Path
    feats: list[np.ndarray]
    labels: np.ndarray
    teacher: np.ndarray | None
    meta: dict

    def __len__(self) -> int:
        return len(self.labels)

    def matches(
        self,
        model,
        source: str,
        teacher_flip: bool = False,
        teacher_scales: tuple[float, ...] = (1.0,),
        max_views: int | None = None,
    ) -> bool:
        """Whether ``cache_views`` with these arguments, on these very weights, would make
        this cache again (so it can be used instead)."""
        scales = list(check_scales(teacher_scales))
        teacher = {"flip": teacher_flip, "scales": scales} if teacher_flip or scales != [1.0] else None
        m = self.meta
        return (
            m.get("weights") == weights_fingerprint(model)
            and m.get("source") == source
            and m.get("teacher") == teacher
            and m.get("max_views") == max_views
        )


def cache_views(
    model,
    data,
    out_dir: str | Path,
    max_views: int | None = None,
    batch_size: int = 8,
    teacher_flip: bool = False,
    teacher_scales: tuple[float, ...] = (1.0,),
    source: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> ViewCache:
    """Run ``model``'s encoder (eval mode) over the first ``max_views`` samples of ``data``
    (as ``open_data`` gives them, all of one size) and store features, labels and, when
    ``teacher_flip`` or ``teacher_scales`` ask for it, the model's own test-time-augmented
    class distribution, in ``out_dir`` (replaced if present). ``source`` is recorded in
    the metadata (e.g. the data spec). Returns the opened cache."""
    n = len(data) if max_views is None else min(len(data), max_views)
    if n < 1:
        raise InputError(f"cache_views: no views (data has {len(data)}, max_views={max_views})")
    if batch_size < 1:
        raise ConfigError(f"cache_views: expected batch_size >= 1, got {batch_size}")
    scales = check_scales(teacher_scales)
    with_teacher = teacher_flip or scales != (1.0,)
    out = Path(out_dir)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    was_training = model.training
    model.eval()
    try:
        h, w = data[0]["labels"].shape
        nh, nw = network_size(h, w, model.config.infer_hw)
        feats = teacher = None
        labels = np.lib.format.open_memmap(tmp / "labels.npy", mode="w+", dtype=np.uint8, shape=(n, h, w))
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                items = [data[j] for j in range(i, min(n, i + batch_size))]
                if any(tuple(s["labels"].shape) != (h, w) for s in items):
                    raise InputError(f"cache_views: expected every view at {h}x{w}, view {i}.. differs")
                rgb, depth = resize_inputs(*stack_views(items), (nh, nw))
                x_rgb, x_depth = (rgb if model.uses_rgb else None), (depth if model.uses_depth else None)
                fs = model.encode(x_rgb, x_depth)
                if feats is None:
                    feats = [
                        np.lib.format.open_memmap(
                            tmp / f"f{k}.npy", mode="w+", dtype=np.float16, shape=(n, *f.shape[1:])
                        )
                        for k, f in enumerate(fs)
                    ]
                for k, f in enumerate(fs):
                    feats[k][i : i + len(items)] = f.half().numpy()
                labels[i : i + len(items)] = torch.stack([s["labels"] for s in items]).numpy().astype(np.uint8)
                if with_teacher:
                    logp = teacher_logits(model, rgb, depth, teacher_flip, 1.0, scales)
                    p = F.avg_pool2d(logp.exp(), 2)
                    if teacher is None:
                        teacher = np.lib.format.open_memmap(
                            tmp / "teacher.npy", mode="w+", dtype=np.float16, shape=(n, *p.shape[1:])
                        )
                    teacher[i : i + len(items)] = p.half().numpy()
                if progress is not None:
                    progress(i + len(items), n)
        for a in [*feats, labels] + ([teacher] if teacher is not None else []):
            a.flush()
        meta = {
            "views": n,
            "max_views": max_views,
            "view_hw": [h, w],
            "network_hw": [nh, nw],
            "config": _config_json(model),
            "weights": weights_fingerprint(model),
            "teacher": {"flip": teacher_flip, "scales": list(scales)} if with_teacher else None,
            "source": source,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        del feats, labels, teacher
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        model.train(was_training)
    return open_view_cache(out)


def open_view_cache(path: str | Path) -> ViewCache:
    """Open what ``cache_views`` wrote (memory-mapped, read-only)."""
    p = Path(path)
    meta_path = p / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"open_view_cache: {p} holds no complete cache (meta.json missing)")
    meta = json.loads(meta_path.read_text())
    try:
        feats = [np.load(p / f"f{k}.npy", mmap_mode="r") for k in range(LEVELS)]
        labels = np.load(p / "labels.npy", mmap_mode="r")
        teacher = np.load(p / "teacher.npy", mmap_mode="r") if meta.get("teacher") else None
    except (OSError, ValueError) as e:
        raise InputError(f"open_view_cache: {p}: unreadable array ({e})") from None
    n = meta["views"]
    if any(len(a) != n for a in [*feats, labels] + ([teacher] if teacher is not None else [])):
        raise InputError(f"open_view_cache: {p}: arrays do not all hold {n} views")
    return ViewCache(p, feats, labels, teacher, meta)


def tune_decoder(
    model, cache: ViewCache, cfg: DecoderTuneConfig | None = None, log: Callable[[int, float], None] | None = None
) -> list[float]:
    """Train ``model.decoder`` in place on ``cache`` (the encoder and every BatchNorm's
    running statistics stay as they are). Returns the loss of every step; the model is left
    in eval mode. Raises ConfigError when the cache was made by another network layout or
    the distillation term is asked of a cache without teacher targets."""
    cfg = cfg or DecoderTuneConfig()
    if cache.meta.get("config") != _config_json(model):
        raise ConfigError(
            f"tune_decoder: the cache at {cache.path} was made by another network "
            f"({cache.meta.get('config', {}).get('name')}); make it again with this model"
        )
    if cfg.kd_weight > 0 and cache.teacher is None:
        raise ConfigError(
            "tune_decoder: kd_weight > 0 needs teacher targets; make the cache with "
            "teacher_flip / teacher_scales, or set kd_weight 0"
        )
    dec = model.decoder
    model.eval()  # BatchNorm uses (and keeps) its running statistics
    trainable_before = [p for p in model.parameters() if p.requires_grad]
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(dec.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n, losses = len(cache), []
    try:
        for step in range(cfg.steps):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
            idx = torch.randint(0, n, (cfg.batch_size,), generator=gen).sort().values.tolist()
            fs = [torch.from_numpy(np.stack([f[i] for i in idx])).float() for f in cache.feats]
            y = torch.from_numpy(np.stack([cache.labels[i] for i in idx]).astype(np.int64))
            coarse, d = dec.coarse(fs)
            ref = dec.refine(fs, coarse, d)
            up = F.interpolate(ref, size=y.shape[-2:], mode="bilinear", align_corners=False)
            loss = ref.sum() * 0.0
            if cfg.ce_weight > 0:
                loss = loss + cfg.ce_weight * seg_loss(up, None, y)
            if cfg.lovasz_weight > 0:
                loss = loss + cfg.lovasz_weight * lovasz_softmax_loss(up, y, stride=2)
            if cfg.kd_weight > 0:
                tp = torch.from_numpy(np.stack([cache.teacher[i] for i in idx])).float()
                student = (
                    ref
                    if tuple(ref.shape[-2:]) == tuple(tp.shape[-2:])
                    else F.interpolate(ref, size=tp.shape[-2:], mode="bilinear", align_corners=False)
                )
                loss = loss + cfg.kd_weight * distill_loss(student, torch.log(tp.clamp_min(1e-6)), None, 1.0)
            if not torch.isfinite(loss):
                raise InputError(
                    f"tune_decoder: non-finite loss at step {step}; the decoder is left as it was after the step before"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if log is not None:
                log(step, losses[-1])
    finally:
        for p in params:
            p.requires_grad_(False)
        for p in trainable_before:
            p.requires_grad_(True)
        model.eval()
    return losses


def _config_json(model) -> dict:
    """The model's config as the cache's JSON metadata holds it (tuples as lists)."""
    return json.loads(json.dumps(model.config.to_dict()))
