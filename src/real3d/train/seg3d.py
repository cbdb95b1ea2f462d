"""Training and evaluating ``Seg3DNet`` on fused maps (``MapSample`` files).

Each iteration draws ``batch`` samples, crops each to a ``crop_m`` x ``crop_m`` column
(full height) around a random labelled voxel, rotates it by a multiple of 90 degrees about
z and mirrors it at random (voxel indices, points and centre offsets transformed together),
jitters colour brightness, and runs the network on the crops as one batch. The loss is
cross-entropy over labelled voxels (optionally weighted ~ 1 / sqrt(class frequency) over
the training set) plus ``offset_weight`` x the L1 error of the predicted offsets
to the centres of ground-truth object instances (voxels of ``THING_CLASSES`` with an
instance). Deterministic for a seed on one thread count.

``evaluate_seg3d`` scores a network against the 2D fusion it refines on the same voxels:
3D mIoU, accuracy and per-class IoU over the labelled surface voxels of every sample,
fusion first, network second, measured in the same run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from real3d.core.errors import ConfigError, InputError
from real3d.eval.metrics import confusion_matrix, metrics_from_confusion
from real3d.models.seg3d import (
    NUM_CLASSES,
    THING_CLASSES,
    Seg3DNet,
    create_seg3d,
    expand_encoding,
    observed_free,
    save_seg3d,
    widen_encoding,
)
from real3d.train.map_data import MapSample


@dataclass(frozen=True)
class Seg3DTrainConfig:
    """Settings of ``train_seg3d``.

    Attributes:
        model: preset name or weights path to start from (``create_seg3d``).
        iterations: optimiser steps.
        batch: crops per step.
        crop_m: crop edge in x and y, metres (z uncropped).
        lr, weight_decay: AdamW settings; the learning rate follows a cosine to 0 after a
            ``warmup`` linear ramp (steps).
        offset_weight: weight of the centre-offset loss.
        seed: draws of samples, crops and augmentations; torch's init.
        log_every: steps between log lines.
        class_weighting: ``"none"`` or ``"sqrt"`` (cross-entropy weights ~ 1 / sqrt of
            each class's voxel frequency, mean 1).
        checkpoint_every: steps between checkpoints written to the output path (0: none);
            each replaces the last, so a stopped run leaves its latest weights.
        encoding: None, or input groups to widen ``model`` to before training
            (``widen_encoding``: the added groups start with zero weights).
    """

    model: str = "seg3d-small"
    iterations: int = 1500
    batch: int = 2
    crop_m: float = 4.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    offset_weight: float = 1.0
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 0
    class_weighting: str = "none"
    encoding: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            object.__setattr__(self, "encoding", expand_encoding(self.encoding))
        if self.class_weighting not in ("none", "sqrt"):
            raise ConfigError(f"Seg3DTrainConfig.class_weighting: expected none or sqrt, got {self.class_weighting!r}")
        for name, low in (
            ("iterations", 1),
            ("batch", 1),
            ("warmup", 0),
            ("log_every", 1),
            ("checkpoint_every", 0),
            ("seed", None),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (low is not None and v < low):
                need = "an integer" + ("" if low is None else f" >= {low}")
                raise ConfigError(f"Seg3DTrainConfig.{name}: expected {need}, got {v!r}")
        for name, strict in (("crop_m", True), ("lr", True), ("weight_decay", False), ("offset_weight", False)):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or not (v > 0 if strict else v >= 0)
            ):
                raise ConfigError(
                    f"Seg3DTrainConfig.{name}: expected a finite number {'>' if strict else '>='} 0, got {v!r}"
                )


def sample_paths(folder: str | Path) -> list[Path]:
    """The ``.npz`` map samples in ``folder``, sorted; InputError when there are none."""
    folder = Path(folder)
    paths = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    if not paths:
        raise InputError(f"expected a folder of MapSample .npz files, got {folder}")
    return paths


def instance_centres(sample: MapSample) -> np.ndarray:
    """(N, 3) float32 offset from each voxel's point to the centre (mean point) of its
    ground-truth instance, for labelled voxels of ``THING_CLASSES``; NaN elsewhere."""
    out = np.full((len(sample), 3), np.nan, np.float32)
    rows = np.flatnonzero((sample.instances > 0) & np.isin(sample.labels, THING_CLASSES))
    if rows.size:
        ids, inv = np.unique(sample.instances[rows], return_inverse=True)
        sums = np.zeros((len(ids), 3))
        np.add.at(sums, inv, sample.points[rows].astype(np.float64))
        centre = sums / np.bincount(inv, minlength=len(ids))[:, None]
        out[rows] = (centre[inv] - sample.points[rows]).astype(np.float32)
    return out


def _prepared(sample: MapSample) -> dict:
    return {
        "observed_free": observed_free(
            sample.coords, sample.voxel_size_m, sample.free_coords, sample.free_voxel_size_m
        ),
        "coords": sample.coords.astype(np.int64),
        "tsdf": sample.tsdf,
        "weight": sample.weight,
        "color": sample.color,
        "log_evidence": sample.log_evidence,
        "class_weight": sample.class_weight,
        "points": sample.points,
        "labels": sample.labels,
        "offsets": instance_centres(sample),
        "voxel_size_m": sample.voxel_size_m,
    }


_ROW_KEYS = (
    "coords",
    "tsdf",
    "weight",
    "color",
    "log_evidence",
    "class_weight",
    "observed_free",
    "points",
    "labels",
    "offsets",
)


def augment_crop(d: dict, crop_m: float, rng: np.random.Generator, min_labelled: int = 200) -> dict:
    """A random crop of prepared sample ``d`` (see the module docstring); rows copied."""
    labelled = np.flatnonzero(d["labels"] > 0)
    if labelled.size == 0:
        raise InputError("augment_crop: the sample has no labelled voxel")
    pts = d["points"]
    for _ in range(10):
        centre = pts[labelled[rng.integers(labelled.size)], :2]
        keep = np.all(np.abs(pts[:, :2] - centre) <= crop_m / 2, axis=1)
        if (d["labels"][keep] > 0).sum() >= min_labelled:
            break
    out = {k: d[k][keep] for k in _ROW_KEYS}
    c, p, o = out["coords"].copy(), out["points"].copy(), out["offsets"].copy()
    vs = d["voxel_size_m"]
    if rng.random() < 0.5:  # mirror x: voxel i covers [i, i+1) -> [-i-1, -i)
        c[:, 0] = -c[:, 0] - 1
        p[:, 0], o[:, 0] = -p[:, 0], -o[:, 0]
    for _ in range(int(rng.integers(4))):  # +90 degrees about z: (x, y) -> (-y, x)
        c[:, 0], c[:, 1] = -c[:, 1] - 1, c[:, 0].copy()
        p[:, 0], p[:, 1] = -p[:, 1], p[:, 0].copy()
        o[:, 0], o[:, 1] = -o[:, 1], o[:, 0].copy()
    # keep indices small and the crop's own origin at 0 (only relative positions matter)
    shift = c.min(axis=0)
    out["coords"] = c - shift
    out["points"] = p - (shift * vs).astype(np.float32)
    out["offsets"] = o
    out["color"] = np.clip(out["color"] * rng.uniform(0.85, 1.15), 0, 255).astype(np.float32)
    return out


def class_weights(samples: list[dict]) -> np.ndarray:
    """(13,) float32 ~ 1 / sqrt(voxel frequency) of each class, mean 1 over present ones."""
    counts = np.zeros(NUM_CLASSES)
    for d in samples:
        counts += np.bincount(d["labels"], minlength=NUM_CLASSES + 1)[1:]
    w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return (w / w[counts > 0].mean()).astype(np.float32)


def seg3d_loss(
    net: Seg3DNet, batch: list[dict], weights: torch.Tensor | None, offset_weight: float
) -> tuple[torch.Tensor, dict]:
    """Loss of ``net`` on prepared (cropped) samples; returns (loss, parts)."""
    x, prior, order = net.input_batch(batch)
    out = net(x, prior)
    o = torch.from_numpy(order)
    labels = torch.from_numpy(np.concatenate([d["labels"] for d in batch]).astype(np.int64))[o]
    lab = labels > 0
    ce = torch.nn.functional.cross_entropy(out["logits"][lab], labels[lab] - 1, weight=weights)
    parts = {"ce": float(ce.detach())}
    loss = ce
    if "offsets" in out and offset_weight > 0:
        target = torch.from_numpy(np.concatenate([d["offsets"] for d in batch]))[o]
        has = ~torch.isnan(target[:, 0])
        if bool(has.any()):
            off = (out["offsets"][has] - target[has]).abs().sum(dim=1).mean()
            loss = loss + offset_weight * off
            parts["offset"] = float(off.detach())
    return loss, parts


def train_seg3d(
    train_dir: str | Path,
    out_path: str | Path,
    config: Seg3DTrainConfig | None = None,
    val_dir: str | Path | None = None,
    log=print,
    command: str | None = None,
) -> dict:
    """Train a ``Seg3DNet`` on the samples in ``train_dir``; write ``out_path``
    (.safetensors + card). With ``val_dir``, the card carries ``evaluate_seg3d`` on it;
    ``command`` (the command line that ran it) is recorded in the card.

    Returns the card."""
    cfg = config or Seg3DTrainConfig()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    paths = sample_paths(train_dir)
    t0 = time.perf_counter()
    data = [_prepared(MapSample.load(p)) for p in paths]
    log(
        f"loaded {len(data)} samples ({sum(len(d['labels']) for d in data)} voxels) in {time.perf_counter() - t0:.0f} s"
    )
    net = create_seg3d(cfg.model)
    if cfg.encoding is not None and cfg.encoding != net.config.encoding:
        net = widen_encoding(net, cfg.encoding, name=f"{net.name}+{'+'.join(cfg.encoding)}")
    net.train()
    weights = torch.from_numpy(class_weights(data)) if cfg.class_weighting == "sqrt" else None
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, cfg.iterations - cfg.warmup)
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * t))

    history = []
    t0 = time.perf_counter()
    run = {"ce": 0.0, "offset": 0.0, "n": 0}
    for step in range(cfg.iterations):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = [augment_crop(data[int(rng.integers(len(data)))], cfg.crop_m, rng) for _ in range(cfg.batch)]
        loss, parts = seg3d_loss(net, batch, weights, cfg.offset_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run["ce"] += parts["ce"]
        run["offset"] += parts.get("offset", 0.0)
        run["n"] += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.iterations:
            rec = {
                "step": step + 1,
                "ce": run["ce"] / run["n"],
                "offset": run["offset"] / run["n"],
                "s": time.perf_counter() - t0,
            }
            history.append(rec)
            log(f"step {rec['step']:5d}  ce {rec['ce']:.4f}  offset {rec['offset']:.4f}  {rec['s']:.0f} s")
            run = {"ce": 0.0, "offset": 0.0, "n": 0}
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.iterations:
            save_seg3d(
                net,
                out_path,
                {
                    "train": {
                        "config": asdict(cfg),
                        "data": str(train_dir),
                        "checkpoint_step": step + 1,
                        "history": history,
                    }
                },
            )
    card = {
        "command": command,
        "origin": "trained from scratch by real3d (no pretrained part)",
        "train": {
            "config": asdict(cfg),
            "data": str(train_dir),
            "samples": len(data),
            "seconds": time.perf_counter() - t0,
            "threads": torch.get_num_threads(),
            "history": history,
        },
    }
    if val_dir is not None:
        card["eval"] = evaluate_seg3d(net, sample_paths(val_dir))
        card["eval"]["data"] = str(val_dir)
    save_seg3d(net, out_path, card)
    return card


def evaluate_seg3d(net: Seg3DNet, paths: list[Path], log=None) -> dict:
    """3D mIoU / accuracy / per-class IoU of the 2D fusion and of ``net`` over the labelled
    surface voxels of the samples at ``paths`` (the same voxels for both)."""
    conf = {"fusion": np.zeros((NUM_CLASSES + 1,) * 2, np.int64), "network": np.zeros((NUM_CLASSES + 1,) * 2, np.int64)}
    ms = []
    for p in paths:
        s = MapSample.load(p)
        t = time.perf_counter()
        out = net.predict(s)
        ms.append((time.perf_counter() - t) * 1e3)
        m = (s.labels > 0) & s.surface
        conf["fusion"] += confusion_matrix(s.fusion_labels()[m], s.labels[m])
        conf["network"] += confusion_matrix(out.labels[m], s.labels[m])
        if log:
            log(f"{p.name}: {len(s)} voxels, {ms[-1]:.0f} ms")
    res = {"samples": len(paths), "predict_ms_mean": float(np.mean(ms)) if ms else 0.0}
    for k, c in conf.items():
        m = metrics_from_confusion(c)
        res[k] = {
            "miou": float(m.miou),
            "accuracy": float(m.pixel_acc),
            "iou": [None if not np.isfinite(v) else float(v) for v in m.iou],
        }
    return res


def format_seg3d_eval(res: dict) -> str:
    """A small text table of ``evaluate_seg3d`` output."""
    from real3d.core.labels import NYU13

    lines = [f"{'':10s} {'mIoU':>6s} {'acc':>6s}  " + " ".join(f"{n[:6]:>6s}" for n in NYU13.names[1:])]
    for k in ("fusion", "network"):
        r = res[k]
        ious = " ".join("   -  " if v is None else f"{100 * v:6.1f}" for v in r["iou"])
        lines.append(f"{k:10s} {100 * r['miou']:6.1f} {100 * r['accuracy']:6.1f}  {ious}")
    return "\n".join(lines)
