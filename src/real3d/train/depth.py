"""Training and scoring of the metric depth network (``real3d.models.depth.DepthNet``).

Data: any data spec of ``real3d.train.data`` (``synth:kind=home,size=120x160,seed=0,n=2400``
...); the samples' ``depth_m`` is the target (0 = no target). Held-out data use another
seed stream (streams share no scene).

Loss (``depth_loss``), on pixels with a target:

* scale-invariant log error (Eigen et al. 2014), ``sqrt(mean(d^2) - lambda mean(d)^2)`` with
  d = log(pred) - log(target), lambda 0.85: the shape of the scene, nearly free of scale;
* L1 on metres (``l1_weight``): the metric scale;
* binary cross-entropy of the confidence channel against "this pixel's depth is within
  25 % of the target" (``confidence_weight``; the target is computed without gradient).

Scores (``depth_errors``): AbsRel = mean(|pred - gt| / gt) and delta1 = share of pixels with
max(pred / gt, gt / pred) < 1.25, over pixels where both are valid.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.models.depth import DEPTH_PRESETS, DepthNet, build_depth_net, load_depth_model, save_depth_weights

#: ln(1.25): the confidence target is |log error| below this
LOG_DELTA1 = math.log(1.25)


@dataclass(frozen=True)
class DepthTrainConfig:
    """Settings of ``train_depth``.

    Attributes:
        data: training data spec.
        out: folder for ``model.safetensors`` (+ card) and ``log.json``.
        preset: a ``DEPTH_PRESETS`` name.
        init: weights to start the encoder and the feature pyramid from: a segmentation
            model ``real3d.models.create_model`` accepts whose widths match (``rgb-default``
            for ``depth-small``), a depth weights path, or None (random).
        steps, batch_size, lr: schedule (AdamW, cosine decay after ``warmup`` steps).
        size_hw: (H, W) the samples are resized to (multiples of 32).
        seed: sampling and augmentation seed.
        threads: torch intra-op threads.
        cache_dir: where the data spec is rendered once (None: rendered on the fly).
        val_data, val_every: held-out spec scored every ``val_every`` steps (0: only at the end).
        l1_weight, confidence_weight, silog_lambda: loss settings (module docstring).
        max_seconds: stop early (and save) after this much wall time; None: no limit.
    """

    data: str
    out: str
    preset: str = "depth-small"
    init: str | None = None
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 50
    size_hw: tuple[int, int] = (128, 160)
    seed: int = 0
    threads: int = 1
    cache_dir: str | None = None
    val_data: str | None = None
    val_every: int = 0
    l1_weight: float = 0.5
    confidence_weight: float = 0.1
    silog_lambda: float = 0.85
    max_seconds: float | None = None
    log_every: int = 50

    def __post_init__(self) -> None:
        if isinstance(self.size_hw, list):
            object.__setattr__(self, "size_hw", tuple(self.size_hw))
        if self.preset not in DEPTH_PRESETS:
            raise ConfigError(f"DepthTrainConfig.preset: unknown {self.preset!r}; valid: {', '.join(DEPTH_PRESETS)}")
        for name in ("steps", "batch_size", "threads", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"DepthTrainConfig.{name}: expected an int >= 1, got {v!r}")
        if isinstance(self.val_every, bool) or not isinstance(self.val_every, int) or self.val_every < 0:
            raise ConfigError(f"DepthTrainConfig.val_every: expected an int >= 0, got {self.val_every!r}")
        if not (len(self.size_hw) == 2 and all(isinstance(v, int) and v >= 32 and v % 32 == 0 for v in self.size_hw)):
            raise ConfigError(f"DepthTrainConfig.size_hw: expected two multiples of 32, got {self.size_hw!r}")
        for name in ("lr", "l1_weight", "confidence_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0) or (name == "lr" and v == 0):
                raise ConfigError(f"DepthTrainConfig.{name}: expected a finite number >= 0 (lr > 0), got {v!r}")
        if not 0 <= self.silog_lambda <= 1:
            raise ConfigError(f"DepthTrainConfig.silog_lambda: expected [0, 1], got {self.silog_lambda}")


def depth_loss(
    out: torch.Tensor, target_m: torch.Tensor, l1_weight: float = 0.5, confidence_weight: float = 0.1, lam: float = 0.85
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss (module docstring).

    Args:
        out: (B, 2, H, W) network output (log-depth, confidence logit).
        target_m: (B, 1, H, W) or (B, H, W) float metres, 0 = no target.

    Returns:
        (scalar loss, its parts as floats: silog, l1_m, confidence). A batch without any
        target gives a zero loss that still flows through the graph.
    """
    if out.ndim != 4 or out.shape[1] != 2:
        raise InputError(f"depth_loss: expected out (B, 2, H, W), got {describe_array(out)}")
    t = target_m.reshape(out.shape[0], *out.shape[-2:])
    valid = t > 0
    if not bool(valid.any()):
        zero = out.sum() * 0.0
        return zero, {"silog": 0.0, "l1_m": 0.0, "confidence": 0.0}
    logd = out[:, 0][valid]
    d = logd - torch.log(t[valid])
    n = d.numel()
    silog = torch.sqrt(torch.clamp((d**2).sum() / n - lam * (d.sum() / n) ** 2, min=1e-8))
    l1 = (torch.exp(logd) - t[valid]).abs().mean()
    hit = (d.detach().abs() < LOG_DELTA1).float()
    conf = F.binary_cross_entropy_with_logits(out[:, 1][valid], hit)
    loss = silog + l1_weight * l1 + confidence_weight * conf
    return loss, {"silog": float(silog.detach()), "l1_m": float(l1.detach()), "confidence": float(conf.detach())}


def depth_errors(pred_m: np.ndarray, gt_m: np.ndarray) -> dict[str, float]:
    """AbsRel, RMSE (metres) and delta1 over pixels where both depths are > 0, and the
    share of target pixels the prediction covers.

    Args:
        pred_m, gt_m: arrays of equal shape, float metres, 0 = none.

    Returns:
        {"abs_rel", "rmse_m", "delta1", "coverage", "pixels"} (NaN scores without overlap).
    """
    pred_m, gt_m = np.asarray(pred_m, np.float64), np.asarray(gt_m, np.float64)
    if pred_m.shape != gt_m.shape:
        raise InputError(
            f"depth_errors: expected equal shapes, got {describe_array(pred_m)} and {describe_array(gt_m)}"
        )
    both = (pred_m > 0) & (gt_m > 0)
    n_gt = int(np.count_nonzero(gt_m > 0))
    if not both.any():
        return {"abs_rel": math.nan, "rmse_m": math.nan, "delta1": math.nan, "coverage": 0.0, "pixels": 0}
    p, g = pred_m[both], gt_m[both]
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "rmse_m": float(np.sqrt(np.mean((p - g) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "coverage": float(both.sum() / max(n_gt, 1)),
        "pixels": int(both.sum()),
    }


def _batch(
    ds, idx: list[int], size_hw: tuple[int, int], gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb (B, 3, H, W) [0, 1], depth (B, 1, H, W) metres) at ``size_hw``; with ``gen``:
    random horizontal flips and colour jitter (geometry-preserving: a zoom would change
    the apparent focal length and with it the metric cue)."""
    rgb = torch.stack([ds[i]["rgb"] for i in idx]).float() / 255.0
    depth = torch.stack([ds[i]["depth_m"].reshape(1, *ds[i]["rgb"].shape[-2:]) for i in idx]).float()
    rgb = F.interpolate(rgb, size=size_hw, mode="bilinear", align_corners=False, antialias=True)
    depth = F.interpolate(depth, size=size_hw, mode="nearest")
    if gen is not None:
        b = len(idx)
        flip = torch.rand(b, generator=gen) < 0.5
        rgb[flip] = rgb[flip].flip(-1)
        depth[flip] = depth[flip].flip(-1)
        bright = 1 + 0.25 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
        contrast = 1 + 0.25 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
        mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
        rgb = ((rgb - mean) * contrast + mean) * bright
        gray = rgb.mean(dim=1, keepdim=True)
        sat = 1 + 0.3 * (2 * torch.rand(b, 1, 1, 1, generator=gen) - 1)
        rgb = (gray + (rgb - gray) * sat).clamp_(0, 1)
    return rgb, depth


def init_from_segmenter(net: DepthNet, spec: str) -> int:
    """Copy every tensor of the segmentation model ``spec`` whose name and shape match
    (the encoder and the feature pyramid when the widths agree). Returns the count;
    ConfigError when nothing matches."""
    from real3d.models.pretrained import network_for

    src = network_for(spec).state_dict()
    own = net.state_dict()
    take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape and "head" not in k}
    if not take:
        raise ConfigError(f"init_from_segmenter: no tensor of {spec!r} fits {net.config.name}")
    own.update(take)
    net.load_state_dict(own)
    return len(take)


def evaluate_depth(net: DepthNet, ds, size_hw: tuple[int, int], batch_size: int = 16) -> dict[str, float]:
    """Network scores on a dataset of samples at ``size_hw`` (no focal or floor
    correction): pixel-pooled AbsRel, delta1, RMSE and coverage after the confidence and
    range cut of ``predict``."""
    was = net.training
    net.eval()
    cfg = net.config
    preds, gts = [], []
    with torch.inference_mode():
        for a in range(0, len(ds), batch_size):
            rgb, depth = _batch(ds, list(range(a, min(len(ds), a + batch_size))), size_hw, None)
            out = net(rgb)
            d = torch.exp(out[:, 0])
            keep = (torch.sigmoid(out[:, 1]) >= cfg.min_confidence) & (d > cfg.min_depth_m) & (d < cfg.max_depth_m)
            preds.append(torch.where(keep, d, torch.zeros_like(d)).numpy())
            gts.append(depth[:, 0].numpy())
    net.train(was)
    return depth_errors(np.concatenate(preds), np.concatenate(gts))


def train_depth(cfg: DepthTrainConfig, progress: bool = False) -> dict:
    """Train a depth network; writes ``cfg.out/model.safetensors`` (+ card) and
    ``log.json``. Returns {"losses": [...], "steps": n, "seconds": s, "val": scores or
    None, "path": weights path}."""
    from real3d.train.data import open_data, spec_cache_dir

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = None if cfg.cache_dir is None else spec_cache_dir(cfg.cache_dir, cfg.data)
    ds = open_data(cfg.data, cache)
    val = None
    if cfg.val_data is not None:
        vcache = None if cfg.cache_dir is None else spec_cache_dir(cfg.cache_dir, cfg.val_data)
        val = open_data(cfg.val_data, vcache)
    net = build_depth_net(cfg.preset)
    init_note = None
    if cfg.init is not None:
        if str(cfg.init).endswith(".safetensors") and "depth_config" in _card_or_empty(cfg.init):
            net.load_state_dict(load_depth_model(cfg.init).state_dict())
            init_note = f"depth weights {cfg.init}"
        else:
            init_note = f"{init_from_segmenter(net, cfg.init)} tensors of {cfg.init}"
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses, history = [], []
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, desc="train depth", unit="step")
    step = 0
    for step in range(1, cfg.steps + 1):
        lr = cfg.lr * (
            step / cfg.warmup
            if step <= cfg.warmup
            else 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))
        )
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(len(ds), (cfg.batch_size,), generator=gen).tolist()
        rgb, depth = _batch(ds, idx, cfg.size_hw, gen)
        loss, parts = depth_loss(net(rgb), depth, cfg.l1_weight, cfg.confidence_weight, cfg.silog_lambda)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            entry = {"step": step, "loss": float(np.mean(losses[-cfg.log_every :])), **parts, "lr": lr}
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            if val is not None and cfg.val_every and step % cfg.val_every == 0:
                entry["val"] = evaluate_depth(net, val, cfg.size_hw)
            history.append(entry)
            (out / "log.json").write_text(json.dumps(history, indent=1))
            if bar is not None:
                bar.write(json.dumps(entry))
        if cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds:
            break
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    scores = evaluate_depth(net, val, cfg.size_hw) if val is not None else None
    card = {
        "name": cfg.preset,
        "train": {**asdict(cfg), "steps_done": step, "seconds": round(seconds, 1), "init_loaded": init_note},
        "metrics": {"heldout": scores, "heldout_data": cfg.val_data} if scores else {},
    }
    path = save_depth_weights(net, out / "model.safetensors", card)
    return {"losses": losses, "steps": step, "seconds": seconds, "val": scores, "path": path}


def _card_or_empty(path: str) -> dict:
    p = Path(path).with_suffix(".json")
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def synth_frames(spec: str, max_frames: int | None = None) -> list:
    """The items of a synth data spec as ``Frame`` objects, with the intrinsics, pose and
    clean depth that training samples drop (the same images ``open_data(spec)`` gives):
    single views (``camera=views``) or trajectory frames (``camera=robot`` / ``handheld``).
    The first ``max_frames`` when given."""
    from real3d.synth import SynthDataset, SyntheticStream, TextureBank
    from real3d.train.data import parse_synth_spec

    s = parse_synth_spec(spec)
    n = s.n if max_frames is None else min(s.n, max_frames)
    if s.camera == "views":
        ds = SynthDataset(
            s.first + n,
            size_hw=s.size_hw,
            kind=s.kind,
            seed=s.seed,
            noise=s.noise,
            frames_per_scene=s.fps,
            render_config=s.render_config(),
        )
        return [ds.frame(s.first + i) for i in range(n)]
    bank, current, frames = TextureBank(0), (None, None), []
    for j in range(s.first, s.first + n):
        k, slot = divmod(j, s.fps)
        if current[0] != k:
            kind = s.kind if s.kind != "mixed" else ("warehouse" if k % 4 == 3 else "home")
            stream = SyntheticStream(
                1_000_000 + 100_000 * s.seed + k,
                s.traj,
                s.size_hw,
                kind,
                s.noise,
                mode=s.camera,
                bank=bank,
                render_config=s.render_config(),
            )
            current = (k, stream)
        frames.append(current[1][slot * (s.traj // s.fps)])
    return frames


def score_depth_frames(net: DepthNet, frames, floor_prior: bool = False, progress: bool = False) -> dict:
    """Depth scores of ``net.predict`` on ``frames`` against their depth (the clean depth
    where a frame has one, else ``depth_m``).

    ``floor_prior``: pass each frame's camera height (its pose's z: world z up, floor at
    z = 0, as in synthetic data) to ``predict``. Returns the pixel-pooled scores of
    ``depth_errors`` (``abs_rel``, ``rmse_m``, ``delta1``, ``coverage``), the same after
    scaling each frame's prediction by its median ratio to the truth
    (``abs_rel_median_scaled``, ``delta1_median_scaled``: the shape without the scale), the
    median of those per-frame ratios (``scale_ratio_median``: 1 = right scale on the
    typical frame), ``floor_used`` (frames the floor prior rescaled), ``frames`` and
    ``predict_ms`` (median)."""
    preds, gts, scaled, ratios, ms = [], [], [], [], []
    used = 0
    it = frames
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, desc="depth", unit="frame")
    for f in it:
        gt = f.depth_clean_m if f.depth_clean_m is not None else f.depth_m
        if gt is None:
            raise InputError(f"score_depth_frames: frame {f.index} has no depth to score against")
        height = None
        if floor_prior and f.world_T_cam is not None and f.world_T_cam[2, 3] > 0.05:
            height = float(f.world_T_cam[2, 3])
        t0 = time.perf_counter()
        p = net.predict(f, camera_height_m=height)
        ms.append((time.perf_counter() - t0) * 1e3)
        used += p.scale_source == "floor"
        d = p.depth_m
        both = (d > 0) & (gt > 0)
        preds.append(d.ravel())
        gts.append(gt.ravel())
        if both.any():
            r = float(np.median(gt[both] / d[both]))
            ratios.append(1.0 / r)
            scaled.append((d * r).ravel())
        else:
            scaled.append(np.zeros(d.size, np.float32))
    out = depth_errors(np.concatenate(preds), np.concatenate(gts))
    ms_scaled = depth_errors(np.concatenate(scaled), np.concatenate(gts))
    out.update(
        abs_rel_median_scaled=ms_scaled["abs_rel"],
        delta1_median_scaled=ms_scaled["delta1"],
        scale_ratio_median=float(np.median(ratios)) if ratios else math.nan,
        floor_used=used,
        frames=len(preds),
        predict_ms=float(np.median(ms)) if ms else math.nan,
    )
    return out
