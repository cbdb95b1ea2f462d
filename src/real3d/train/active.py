"""Pool-based active learning and the curated-subset experiment, on frames of the data engine.

The loop (``run_active_learning``):

1. draw ``initial`` frames of the pool at random (seeded): the first labelled set;
2. train a fresh network on the labelled frames (``real3d.train.loop.train``, ``steps``
   optimizer steps, the same for every round and strategy) and score it on the held-out
   frames (mIoU), which are never in the pool;
3. run the trained network once over every pool frame: class probabilities (one forward
   pass, no ensembles) and an embedding (the deepest encoder features, averaged over the
   image); ``real3d.train.selection.frame_stats`` summarises each frame;
4. pick the next ``batch`` unlabelled frames (or whole scenes) by the strategy
   (``real3d.train.selection.select``), add them to the labelled set, and go to 2 until
   ``rounds`` batches have been added.

Everything is a function of the configuration and its ``seed``: the first labelled set,
the network's initialisation, the training schedule and random selection.

A trained round is kept in ``out_dir/runs/<key>/`` where the key is a hash of the labelled
set and the training settings: strategies that share a labelled set (every strategy shares
the first) train it once, and an interrupted run continues where it stopped.

The curated-subset experiment (``run_curated_subset``) trains on the whole pool, on the
``keep`` share left after removing near-duplicate frames (``prune_near_duplicates`` on the
whole-pool model's embeddings) and on a random subset of the same size, with the same
steps, and scores the three on the held-out frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset

from real3d.core.errors import ConfigError, InputError
from real3d.core.values import is_int
from real3d.train.selection import STRATEGIES, FrameStats, frame_stats, prune_near_duplicates, select

UNITS = ("frame", "scene")


@dataclass(frozen=True)
class ActiveConfig:
    """Settings of one active-learning run.

    Attributes:
        pool: data spec of the unlabelled pool (``real3d.train.data``); its labels are read
            only for frames once they are picked.
        heldout: data spec of the evaluation frames; a synth spec of the pool's stream must
            cover other scenes (another ``seed`` shares none).
        strategy: one of ``real3d.train.selection.STRATEGIES``.
        unit: ``"frame"`` or ``"scene"`` (whole scenes of the pool; synth pools only).
        initial: frames labelled before the first round (drawn at random).
        batch: frames added per round (per scene: whole scenes until at least this many).
        rounds: batches added; the run trains ``rounds + 1`` networks.
        preset: network preset (``real3d.models.PRESETS``); it runs at the pool's frame size.
        steps: optimizer steps of every training run.
        batch_size: samples per optimizer step.
        lr: peak learning rate (AdamW, warm-up and cosine as ``TrainConfig``).
        pixel_stride: score every N-th pixel in each direction.
        seed: seeds the first labelled set, the network, the schedule and random selection.
        threads: torch intra-op threads (0 = torch's default).
        cache_dir: render the pool and the held-out frames once into memory-mapped caches
            here (None: render on the fly).
    """

    pool: str = "synth:kind=home,size=96x128,seed=21,n=400"
    heldout: str = "synth:kind=home,size=96x128,seed=22,n=96"
    strategy: str = "entropy"
    unit: str = "frame"
    initial: int = 20
    batch: int = 20
    rounds: int = 4
    preset: str = "rgbd-tiny"
    steps: int = 200
    batch_size: int = 8
    lr: float = 2e-3
    pixel_stride: int = 2
    seed: int = 0
    threads: int = 1
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"ActiveConfig.strategy: unknown {self.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if self.unit not in UNITS:
            raise ConfigError(f"ActiveConfig.unit: expected one of {', '.join(UNITS)}, got {self.unit!r}")
        for name, low in (
            ("initial", 1),
            ("batch", 1),
            ("rounds", 0),
            ("steps", 1),
            ("batch_size", 1),
            ("pixel_stride", 1),
            ("seed", 0),
            ("threads", 0),
        ):
            if not is_int(getattr(self, name), low):
                raise ConfigError(f"ActiveConfig.{name}: expected an integer >= {low}, got {getattr(self, name)!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ConfigError(f"ActiveConfig.lr: expected a number > 0, got {self.lr!r}")
        from real3d.models.presets import get_preset

        get_preset(self.preset)


@dataclass(frozen=True)
class RoundResult:
    """One round: the network trained on ``labelled`` frames and what it picked next.

    Attributes:
        labelled: frames in the labelled set the network was trained on.
        miou: held-out mIoU in [0, 1].
        iou: (K,) per-class held-out IoU (NaN: class absent from truth and prediction).
        picked: pool indices added after this round, in order of choice (empty after the last).
        train_s, score_s: seconds spent training (0 when the round was kept from before) and
            scoring the pool.
    """

    labelled: int
    miou: float
    iou: tuple[float, ...]
    picked: tuple[int, ...]
    train_s: float
    score_s: float

    def to_dict(self) -> dict:
        return {
            "labelled": self.labelled,
            "miou": round(100 * self.miou, 2),
            "iou": [None if np.isnan(v) else round(100 * v, 2) for v in self.iou],
            "picked": list(self.picked),
            "train_s": round(self.train_s, 1),
            "score_s": round(self.score_s, 1),
        }


@dataclass(frozen=True)
class ActiveRun:
    """The rounds of one (strategy, unit, seed) run; ``initial`` are the first labelled
    pool indices."""

    strategy: str
    unit: str
    seed: int
    initial: tuple[int, ...]
    rounds: tuple[RoundResult, ...]

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "unit": self.unit,
            "seed": self.seed,
            "initial": list(self.initial),
            "rounds": [r.to_dict() for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ActiveRun:
        """The run ``to_dict`` wrote (mIoU kept to the 0.01 % it was written with).

        Raises:
            FormatError: a missing or mistyped field.
        """
        from real3d.core.errors import FormatError

        try:
            rounds = tuple(
                RoundResult(
                    labelled=int(r["labelled"]),
                    miou=float(r["miou"]) / 100,
                    iou=tuple(np.nan if v is None else float(v) / 100 for v in r["iou"]),
                    picked=tuple(int(i) for i in r["picked"]),
                    train_s=float(r["train_s"]),
                    score_s=float(r["score_s"]),
                )
                for r in d["rounds"]
            )
            return cls(str(d["strategy"]), str(d["unit"]), int(d["seed"]), tuple(int(i) for i in d["initial"]), rounds)
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(
                f"ActiveRun.from_dict: expected a run as to_dict writes it ({type(e).__name__}: {e})"
            ) from None


def check_heldout(pool: str, heldout: str) -> None:
    """Raise ConfigError when the held-out spec can share a scene with the pool: two synth
    specs of the same ``seed`` whose scenes (item // fps) overlap, or the same path.
    Different seeds of the engine share no scene."""
    from real3d.train.data import parse_synth_spec, split_data_spec

    def scenes(spec: str):
        s = parse_synth_spec(spec)
        return s.seed, set(range(s.first // s.fps, (s.first + s.n - 1) // s.fps + 1))

    for p in split_data_spec(pool):
        for h in split_data_spec(heldout):
            p_synth, h_synth = p.startswith("synth"), h.startswith("synth")
            if p_synth and h_synth:
                (ps, pscenes), (hs, hscenes) = scenes(p), scenes(h)
                if ps == hs and pscenes & hscenes:
                    raise ConfigError(
                        f"held-out {h!r} shares scenes of seed {ps} with the pool {p!r}: give it another seed"
                    )
            elif not p_synth and not h_synth and Path(p).resolve() == Path(h).resolve():
                raise ConfigError(f"held-out {h!r} is the pool itself: expected frames the pool does not hold")


def pool_scene_ids(spec: str, n: int) -> np.ndarray:
    """(n,) int64 scene of each item of a synth pool spec (its item // fps; joined specs
    ``A+B`` number their scenes apart). Raises ConfigError for other specs (one recording
    is one scene: nothing to choose between)."""
    from real3d.train.data import parse_synth_spec, split_data_spec

    ids, offset = [], 0
    for part in split_data_spec(spec):
        if not part.startswith("synth"):
            raise ConfigError(f"per-scene selection needs a synth pool, got {part!r}")
        s = parse_synth_spec(part)
        local = (s.first + np.arange(s.n)) // s.fps
        ids.append(local - local.min() + offset)
        offset = int(ids[-1].max()) + 1
    out = np.concatenate(ids).astype(np.int64)
    if out.shape != (n,):
        raise ConfigError(f"pool spec {spec!r} names {out.shape[0]} items, the pool holds {n}")
    return out


def _open(spec: str, cache_dir: str | None, name: str, labels: str | None) -> Dataset:
    from real3d.train.data import open_data, spec_cache_dir

    cache = None if cache_dir is None else spec_cache_dir(Path(cache_dir) / name, spec)
    return open_data(spec, cache, labels=labels)


def _model_config(preset: str, size_hw: tuple[int, int]):
    from real3d.models.presets import get_preset

    return dataclasses.replace(get_preset(preset), infer_hw=tuple(size_hw))


def _sample_hw(data: Dataset) -> tuple[int, int]:
    if len(data) < 1:
        raise InputError("active learning: expected a pool of at least one frame, got none")
    h, w = data[0]["labels"].shape
    if h % 32 or w % 32:
        raise InputError(f"active learning: frames must have sides that are multiples of 32, got {h}x{w}")
    return int(h), int(w)


def train_on(
    cfg: ActiveConfig,
    data: Dataset,
    indices: Sequence[int],
    out_dir: str | Path,
    progress: bool = False,
) -> tuple[torch.nn.Module, float]:
    """A network trained on ``data[indices]`` with ``cfg``'s settings (fresh, seeded by
    ``cfg.seed``), kept in ``out_dir/runs/<key>``; a run kept there before is loaded instead.
    Returns (network in eval mode, seconds spent training)."""
    from real3d.models.pretrained import load_weights
    from real3d.train.config import TrainConfig
    from real3d.train.loop import train

    idx = sorted(int(i) for i in indices)
    if not idx:
        raise InputError("train_on: expected at least one labelled frame, got none")
    hw = _sample_hw(data)
    mcfg = _model_config(cfg.preset, hw)
    key_src = json.dumps(
        {
            "pool": cfg.pool,
            "indices": idx,
            "preset": mcfg.to_dict(),
            "steps": cfg.steps,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "seed": cfg.seed,
        },
        sort_keys=True,
    )
    # the pool's spec names the frames; a Dataset passed instead needs its own out_dir
    run_dir = Path(out_dir) / "runs" / hashlib.sha256(key_src.encode()).hexdigest()[:16]
    weights = run_dir / "model.safetensors"
    if weights.is_file():
        return load_weights(weights).eval(), 0.0
    tcfg = TrainConfig(
        preset=cfg.preset,
        data="",
        out_dir=str(run_dir),
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        crop_hw=hw,
        lr=cfg.lr,
        warmup_steps=min(50, max(1, cfg.steps // 10)),
        amp="off",
        seed=cfg.seed,
        ckpt_every=cfg.steps,
        threads=cfg.threads,
    )
    t0 = time.perf_counter()
    train(tcfg, model_config=mcfg, resume=False, progress=progress, dataset=Subset(data, idx))
    return load_weights(weights).eval(), time.perf_counter() - t0


def _batches(data: Dataset, indices: Sequence[int], size: int = 16):
    for a in range(0, len(indices), size):
        items = [data[int(i)] for i in indices[a : a + size]]
        rgb = torch.stack([s["rgb"] for s in items]).float() / 255.0
        depth = torch.stack([s["depth_m"].reshape(1, *s["labels"].shape) for s in items]).float()
        yield items, rgb, depth


@torch.no_grad()
def forward_with_embedding(model, rgb: torch.Tensor, depth_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of a ``Real3DVisionNet`` in eval mode: (refined class probabilities
    (B, K, H, W), embedding (B, D) = the deepest encoder features averaged over the image
    and scaled to unit length).

    Args:
        rgb: (B, 3, H, W) float in [0, 1]; depth_m: (B, 1, H, W) float metres (0 = invalid);
            H and W multiples of 32.
    """
    cfg = model.config
    r, d = (rgb if cfg.uses_rgb else None), (depth_m if cfg.uses_depth else None)
    feats = model.encode(r, d)
    coarse, dec = model.decoder.coarse(feats)
    logits = model.decoder.refine(feats, coarse, dec)
    logits = F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
    emb = feats[-1].float().mean(dim=(2, 3))
    return torch.softmax(logits.float(), dim=1), F.normalize(emb, dim=1)


@dataclass(frozen=True)
class PoolScores:
    """One pass of a network over pool frames: ``stats`` (one ``FrameStats`` each, with
    embeddings) and, when asked for, a sample of labelled pixels for a temperature fit:
    ``probs`` (N, K) float64 and ``labels`` (N,) classes 0..K-1."""

    stats: list[FrameStats]
    probs: np.ndarray
    labels: np.ndarray


def score_pool(
    model,
    data: Dataset,
    indices: Sequence[int],
    stride: int = 2,
    temperature: float = 1.0,
    sample_labels: bool = False,
    seed: int = 0,
) -> PoolScores:
    """``FrameStats`` of ``data[indices]`` (probabilities at ``temperature``) from one
    forward pass each; with ``sample_labels`` also up to 256 labelled pixels per frame (the
    frames' labels are read: for labelled frames only)."""
    from real3d.core.segmentation import SegmentationResult

    model.eval()
    rng = np.random.default_rng(seed)
    stats: list[FrameStats] = []
    p_fit, y_fit = [], []
    for items, rgb, depth in _batches(data, [int(i) for i in indices]):
        probs, emb = forward_with_embedding(model, rgb, depth)
        probs = probs.numpy()
        for j, s in enumerate(items):
            p = probs[j]
            full = np.concatenate([np.zeros((1, *p.shape[1:]), np.float32), p])
            res = SegmentationResult(labels=(p.argmax(0) + 1).astype(np.uint8), probs=full)
            stats.append(frame_stats(res, embedding=emb[j].numpy(), temperature=temperature, stride=stride))
            if sample_labels:
                y = s["labels"].numpy().ravel()
                keep = np.flatnonzero(y > 0)
                keep = rng.choice(keep, size=min(256, keep.size), replace=False) if keep.size else keep
                p_fit.append(p.reshape(p.shape[0], -1)[:, keep].T.astype(np.float64))
                y_fit.append(y[keep] - 1)
    k = model.config.num_classes
    return PoolScores(
        stats,
        np.concatenate(p_fit) if p_fit else np.zeros((0, k)),
        np.concatenate(y_fit).astype(np.int64) if y_fit else np.zeros(0, np.int64),
    )


def evaluate(model, data: Dataset):
    """``SegMetrics`` of ``model`` on every sample of ``data`` at the samples' own size
    (the network runs at that size, as ``predict`` does when ``infer_hw`` equals it)."""
    from real3d.eval.metrics import confusion_matrix, metrics_from_confusion

    model.eval()
    k = model.config.num_classes
    conf = np.zeros((k + 1, k + 1), np.int64)
    for items, rgb, depth in _batches(data, range(len(data))):
        probs, _ = forward_with_embedding(model, rgb, depth)
        pred = probs.argmax(1).numpy() + 1
        for j, s in enumerate(items):
            conf += confusion_matrix(pred[j], s["labels"].numpy(), k)
    return metrics_from_confusion(conf)


def class_pixels(data: Dataset, indices: Sequence[int], num_classes: int) -> np.ndarray:
    """(K,) int64 labelled pixels of classes 1..K over ``data[indices]``."""
    out = np.zeros(num_classes + 1, np.int64)
    for i in indices:
        out += np.bincount(data[int(i)]["labels"].numpy().ravel(), minlength=num_classes + 1)[: num_classes + 1]
    return out[1:]


def choose_next(
    cfg: ActiveConfig,
    model,
    data: Dataset,
    labelled: Sequence[int],
    scene_ids: np.ndarray | None,
) -> list[int]:
    """Pool indices of the next batch: the unlabelled frames scored by ``model`` (one pass
    over the whole pool; the labelled frames give the core-set's labelled embeddings, the
    class-balanced strategy's class counts and the calibrated score's temperature), picked
    by ``cfg.strategy``. Never returns a labelled index."""
    lab = sorted(int(i) for i in labelled)
    lab_set = set(lab)
    unlabelled = [i for i in range(len(data)) if i not in lab_set]
    if not unlabelled:
        return []
    k = min(cfg.batch, len(unlabelled))
    groups = None if scene_ids is None else scene_ids[unlabelled]
    if cfg.strategy == "random":
        stats = [FrameStats(0.0, 0.0, 0.0, np.ones(1)) for _ in unlabelled]
        picks = select(stats, k, "random", scene_ids=groups, seed=cfg.seed * 7919 + len(lab))
        return [unlabelled[i] for i in picks]
    kwargs: dict = {}
    temperature = 1.0
    if cfg.strategy == "confidence":
        # the calibrated score: the temperature that fits the labelled frames' pixels
        from real3d.eval.calibration import fit_temperature

        fit = score_pool(model, data, lab, cfg.pixel_stride, sample_labels=True, seed=cfg.seed)
        if len(fit.labels):
            temperature = fit_temperature(fit.probs, fit.labels)
    extra = lab if cfg.strategy == "coreset" else []
    scores = score_pool(model, data, unlabelled + extra, cfg.pixel_stride, temperature)
    stats = scores.stats[: len(unlabelled)]
    if cfg.strategy == "coreset":
        kwargs["labelled_embeddings"] = np.stack([s.embedding for s in scores.stats[len(unlabelled) :]])
    elif cfg.strategy == "class_balanced":
        kwargs["labelled_class_pixels"] = class_pixels(data, lab, model.config.num_classes)
    picks = select(stats, k, cfg.strategy, scene_ids=groups, seed=cfg.seed, **kwargs)
    return [unlabelled[i] for i in picks]


def initial_set(n: int, k: int, seed: int, scene_ids: np.ndarray | None = None) -> list[int]:
    """The first labelled set: ``k`` pool indices (per scene: whole scenes until at least
    ``k``) drawn at random, a function of ``seed`` only."""
    if not is_int(k, 1) or k > n:
        raise InputError(f"initial labelled set: expected 1 <= initial <= pool size {n}, got {k!r}")
    stats = [FrameStats(0.0, 0.0, 0.0, np.ones(1)) for _ in range(n)]
    return select(stats, k, "random", scene_ids=scene_ids, seed=10_007 + seed)


def open_pool_and_heldout(cfg: ActiveConfig, pool: Dataset | None = None, heldout: Dataset | None = None):
    """The pool and held-out Datasets of ``cfg`` (``pool``/``heldout`` replace the specs),
    labelled in the preset's label set; specs are checked for shared scenes first."""
    from real3d.train.loop import model_label_set

    labels = model_label_set(_model_config(cfg.preset, (32, 32)))
    if pool is None and heldout is None:
        check_heldout(cfg.pool, cfg.heldout)
    pool = pool if pool is not None else _open(cfg.pool, cfg.cache_dir, "pool", labels)
    heldout = heldout if heldout is not None else _open(cfg.heldout, cfg.cache_dir, "heldout", labels)
    if len(heldout) < 1:
        raise InputError("active learning: expected at least one held-out frame, got none")
    return pool, heldout


def run_active_learning(
    cfg: ActiveConfig,
    out_dir: str | Path,
    pool: Dataset | None = None,
    heldout: Dataset | None = None,
    scene_ids: Sequence[int] | None = None,
    progress: bool = False,
) -> ActiveRun:
    """Run the loop of the module docstring.

    Args:
        cfg: the run's settings.
        out_dir: trained rounds are kept under ``out_dir/runs`` (see the module docstring).
        pool, heldout: Datasets of samples (``real3d.train.data``) instead of ``cfg.pool``
            and ``cfg.heldout`` (the caller keeps them apart).
        scene_ids: (N,) scene of each pool item for ``unit="scene"`` (default: from the
            synth pool spec, ``pool_scene_ids``).
        progress: show the training progress bars.

    Raises:
        ConfigError: a held-out spec sharing scenes with the pool, per-scene selection on a
            pool without scenes. InputError: ``initial`` larger than the pool, frames whose
            sides are not multiples of 32, an empty pool or held-out set, ``scene_ids`` of
            the wrong length.
    """
    pool, heldout = open_pool_and_heldout(cfg, pool, heldout)
    n = len(pool)
    _sample_hw(pool)
    groups = None
    if cfg.unit == "scene":
        groups = pool_scene_ids(cfg.pool, n) if scene_ids is None else np.asarray(scene_ids, np.int64)
        if groups.shape != (n,):
            raise InputError(f"scene_ids: expected one scene per pool item ({n}), got {groups.shape}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    labelled = initial_set(n, cfg.initial, cfg.seed, groups)
    first = tuple(labelled)
    rounds: list[RoundResult] = []
    for r in range(cfg.rounds + 1):
        model, train_s = train_on(cfg, pool, labelled, out_dir, progress)
        m = evaluate(model, heldout)
        t0 = time.perf_counter()
        picked = choose_next(cfg, model, pool, labelled, groups) if r < cfg.rounds else []
        rounds.append(
            RoundResult(
                labelled=len(labelled),
                miou=m.miou,
                iou=tuple(float(v) for v in m.iou),
                picked=tuple(picked),
                train_s=train_s,
                score_s=time.perf_counter() - t0,
            )
        )
        if r < cfg.rounds and not picked:
            break  # the pool is exhausted
        labelled = labelled + picked
    return ActiveRun(cfg.strategy, cfg.unit, cfg.seed, first, tuple(rounds))


def run_full_pool(cfg: ActiveConfig, out_dir: str | Path, pool: Dataset | None = None, heldout=None) -> dict:
    """The reference point of the curves: a network trained on every pool frame with the
    loop's steps and seed; returns {"labelled", "miou" (percent), "seed"}."""
    pool, heldout = open_pool_and_heldout(cfg, pool, heldout)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, train_s = train_on(cfg, pool, range(len(pool)), out_dir)
    m = evaluate(model, heldout)
    return {"labelled": len(pool), "miou": round(100 * m.miou, 2), "seed": cfg.seed, "train_s": round(train_s, 1)}


def run_curated_subset(
    cfg: ActiveConfig,
    out_dir: str | Path,
    keep: float = 0.8,
    pool: Dataset | None = None,
    heldout: Dataset | None = None,
) -> dict:
    """Train on the whole pool, on a curated ``keep`` share (near-duplicates removed by
    ``prune_near_duplicates`` on the whole-pool network's embeddings) and on a random share
    of the same size (seeded by ``cfg.seed``), each with ``cfg.steps`` steps; held-out mIoU
    of each.

    Returns {"seed", "pool", "keep", "full": {...}, "curated": {...}, "random": {...}} where
    each entry holds "frames" and "miou" (percent); "curated" also "removed" (pool indices).
    Raises InputError for ``keep`` outside (0, 1).
    """
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep < 1:
        raise InputError(f"run_curated_subset: keep must be a share in (0, 1), got {keep!r}")
    pool, heldout = open_pool_and_heldout(cfg, pool, heldout)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    n = len(pool)
    m_keep = max(1, int(round(keep * n)))
    full, _ = train_on(cfg, pool, range(n), out_dir)
    emb = np.stack([s.embedding for s in score_pool(full, pool, range(n), stride=cfg.pixel_stride).stats])
    curated = prune_near_duplicates(emb, m_keep)
    rand = sorted(int(i) for i in np.random.default_rng(20_011 + cfg.seed).choice(n, m_keep, replace=False))
    out = {"seed": cfg.seed, "pool": n, "keep": keep}
    for name, idx, model in (("full", list(range(n)), full), ("curated", curated, None), ("random", rand, None)):
        if model is None:
            model, _ = train_on(cfg, pool, idx, out_dir)
        out[name] = {"frames": len(idx), "miou": round(100 * evaluate(model, heldout).miou, 2)}
    out["curated"]["removed"] = sorted(set(range(n)) - set(curated))
    return out


def summarise(runs: Sequence[ActiveRun], full_pool: Sequence[dict] = ()) -> dict:
    """Curves of mIoU (percent) against labelled frames, one per strategy (``"entropy"``;
    per-scene runs ``"entropy:scene"``), over the runs' seeds.

    Returns {"curves": {name: {"labelled": [...], "miou_mean", "miou_min", "miou_max",
    "seeds", "reaches_full_pool_at"}}, "full_pool_miou": mean or None,
    "full_pool_frames": frames or None}. A curve's point at n labelled frames averages the
    seeds that have one (per-scene runs may differ; their n is the seeds' mean).
    ``reaches_full_pool_at`` is the first n whose mean mIoU is at least the full-pool
    (random) mean, None when no point is.
    """
    full_miou = float(np.mean([f["miou"] for f in full_pool])) if full_pool else None
    full_frames = int(full_pool[0]["labelled"]) if full_pool else None
    by_name: dict[str, list[ActiveRun]] = {}
    for r in runs:
        by_name.setdefault(r.strategy if r.unit == "frame" else f"{r.strategy}:{r.unit}", []).append(r)
    curves = {}
    for name, group in by_name.items():
        depth = max(len(r.rounds) for r in group)
        lab, mean, lo, hi = [], [], [], []
        for k in range(depth):
            pts = [r.rounds[k] for r in group if len(r.rounds) > k]
            vals = [100 * p.miou for p in pts]
            lab.append(round(float(np.mean([p.labelled for p in pts])), 1))
            mean.append(round(float(np.mean(vals)), 2))
            lo.append(round(float(np.min(vals)), 2))
            hi.append(round(float(np.max(vals)), 2))
        reach = None
        if full_miou is not None:
            reach = next((n for n, m in zip(lab, mean, strict=True) if m >= full_miou), None)
        curves[name] = {
            "labelled": lab,
            "miou_mean": mean,
            "miou_min": lo,
            "miou_max": hi,
            "seeds": sorted(r.seed for r in group),
            "reaches_full_pool_at": reach,
        }
    return {"curves": curves, "full_pool_miou": full_miou, "full_pool_frames": full_frames}
