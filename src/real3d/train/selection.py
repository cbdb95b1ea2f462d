"""Which unlabelled frames to label next: the selection strategies of pool-based active
learning, on one forward pass of the current model per frame.

Each unlabelled frame is summarised once by ``frame_stats`` (from the model's
``SegmentationResult`` and, for core-set selection, an embedding of the frame); ``select``
then picks ``k`` frames (or whole scenes) by one of ``STRATEGIES``:

* ``"random"``: uniformly, the baseline every other strategy must beat;
* ``"entropy"``: highest mean per-pixel entropy of the class distribution;
* ``"margin"``: smallest mean margin between the two most probable classes;
* ``"confidence"``: lowest mean confidence of the predicted class, after an optional
  temperature (``real3d.eval.calibration.fit_temperature``): the one-pass calibrated score;
* ``"coreset"``: k-centre greedy on the embeddings (Sener and Savarese, ICLR 2018): each
  pick is the frame farthest from everything labelled or picked so far, so the labelled set
  covers the pool;
* ``"class_balanced"``: frames whose predicted pixels fall in classes the labelled set
  has little of (predicted class shares weighted by the inverse labelled class frequency).

With ``scene_ids`` the unit of selection is a scene (every frame of it): scenes are scored
by the mean of their frames' scores (core-set: by their mean embedding) and whole scenes
are picked until ``k`` frames are reached or passed once.

``prune_near_duplicates`` curates a labelled set instead: it removes the most redundant
frames (those with a near twin in embedding space) until a given number is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.core.segmentation import SegmentationResult, normalized_entropy

STRATEGIES = ("random", "entropy", "margin", "confidence", "coreset", "class_balanced")


@dataclass(frozen=True)
class FrameStats:
    """One unlabelled frame as the strategies see it.

    Attributes:
        entropy: mean normalised per-pixel entropy in [0, 1].
        margin: mean difference of the two largest class probabilities, in [0, 1].
        confidence: mean probability of the predicted class, in [0, 1].
        class_share: (K,) float64 share of the frame's pixels predicted as classes 1..K
            (sums to 1).
        embedding: (D,) float64 embedding for core-set selection, or None.
    """

    entropy: float
    margin: float
    confidence: float
    class_share: np.ndarray
    embedding: np.ndarray | None = None


def frame_stats(
    result: SegmentationResult,
    embedding: np.ndarray | None = None,
    temperature: float = 1.0,
    stride: int = 1,
) -> FrameStats:
    """Summarise one prediction. ``embedding`` (D,) for core-set selection (None: the class
    shares serve as a coarse one); ``temperature`` rescales the probabilities first
    (``real3d.eval.calibration.apply_temperature``); ``stride`` subsamples pixels."""
    if not isinstance(result, SegmentationResult):
        raise InputError(f"frame_stats: expected a SegmentationResult, got {type(result).__name__}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise InputError(f"frame_stats: stride must be an int >= 1, got {stride!r}")
    probs = result.probs[:, ::stride, ::stride]
    if temperature != 1.0:
        from real3d.eval.calibration import apply_temperature

        probs = apply_temperature(probs, temperature)
    p = probs[1:].reshape(probs.shape[0] - 1, -1).astype(np.float64)
    k = p.shape[0]
    top2 = np.sort(p, axis=0)[-2:] if k >= 2 else np.vstack([np.zeros_like(p), p])
    ent = normalized_entropy(p, axis=0)
    share = np.bincount(p.argmax(axis=0), minlength=k).astype(np.float64)
    share /= max(share.sum(), 1.0)
    if embedding is not None:
        embedding = np.asarray(embedding, np.float64)
        if embedding.ndim != 1 or not np.isfinite(embedding).all():
            raise InputError(f"frame_stats: expected a finite (D,) embedding, got {describe_array(embedding)}")
    return FrameStats(
        entropy=float(ent.mean()),
        margin=float((top2[1] - top2[0]).mean()),
        confidence=float(top2[1].mean()),
        class_share=share,
        embedding=embedding,
    )


def _scores(stats: Sequence[FrameStats], strategy: str, labelled_class_pixels: np.ndarray | None) -> np.ndarray:
    """Higher = more wanted."""
    if strategy == "entropy":
        return np.array([s.entropy for s in stats])
    if strategy == "margin":
        return -np.array([s.margin for s in stats])
    if strategy == "confidence":
        return -np.array([s.confidence for s in stats])
    if strategy == "class_balanced":
        k = stats[0].class_share.shape[0]
        have = np.zeros(k) if labelled_class_pixels is None else np.asarray(labelled_class_pixels, np.float64)
        if have.shape != (k,) or (have < 0).any():
            raise InputError(f"select: labelled_class_pixels must be ({k},) counts >= 0, got {describe_array(have)}")
        freq = have / max(have.sum(), 1.0)
        weight = 1.0 / (freq + 1.0 / k)
        return np.array([float(s.class_share @ weight) for s in stats])
    raise ConfigError(f"select: unknown strategy {strategy!r}")


def _kcenter(emb: np.ndarray, labelled: np.ndarray | None, k: int, rng) -> list[int]:
    """Greedy k-centre: indices of ``k`` rows of ``emb`` (N, D), each the farthest from the
    labelled rows and the rows picked before it."""
    n = emb.shape[0]
    if labelled is not None and len(labelled):
        d = np.min(np.linalg.norm(emb[:, None, :] - labelled[None, :, :], axis=2), axis=1)
    else:
        d = np.full(n, np.inf)
    picks: list[int] = []
    for _ in range(min(k, n)):
        if np.isinf(d).all():
            i = int(rng.integers(n))  # nothing labelled yet: a random first centre
        else:
            i = int(np.argmax(np.where(np.isin(np.arange(n), picks), -1.0, d)))
        picks.append(i)
        d = np.minimum(d, np.linalg.norm(emb - emb[i], axis=1))
        d[picks] = -1.0
    return picks


def select(
    stats: Sequence[FrameStats],
    k: int,
    strategy: str = "entropy",
    *,
    scene_ids: Sequence[int] | None = None,
    labelled_embeddings: np.ndarray | None = None,
    labelled_class_pixels: np.ndarray | None = None,
    seed: int = 0,
) -> list[int]:
    """Indices into ``stats`` of the frames to label next (in order of choice).

    Args:
        stats: one ``FrameStats`` per unlabelled frame.
        k: frames to pick (>= 1); with ``scene_ids``, whole scenes until >= k frames.
        strategy: one of ``STRATEGIES``.
        scene_ids: (N,) scene of each frame: select scenes instead of frames.
        labelled_embeddings: (M, D) embeddings of the labelled frames (``"coreset"``).
        labelled_class_pixels: (K,) labelled pixels per class 1..K (``"class_balanced"``).
        seed: seeds ``"random"`` and ties of the first core-set centre.

    Raises:
        ConfigError: unknown strategy. InputError: empty pool, bad ``k``, mismatched sizes,
        missing embeddings for ``"coreset"``.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"select: unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"select: k must be an int >= 1, got {k!r}")
    stats = list(stats)
    if not stats or not all(isinstance(s, FrameStats) for s in stats):
        raise InputError("select: expected a non-empty sequence of FrameStats")
    n = len(stats)
    rng = np.random.default_rng(seed)
    groups = np.arange(n) if scene_ids is None else np.asarray(scene_ids)
    if groups.shape != (n,):
        raise InputError(f"select: scene_ids must have one entry per frame ({n}), got {describe_array(groups)}")
    units, unit_of = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(unit_of == u) for u in range(len(units))]

    if strategy == "random":
        order = list(rng.permutation(len(units)))
    elif strategy == "coreset":
        emb = [s.embedding if s.embedding is not None else s.class_share for s in stats]
        if len({e.shape for e in emb}) != 1:
            raise InputError("select: every frame needs an embedding of the same size for 'coreset'")
        emb = np.stack(emb)
        unit_emb = np.stack([emb[m].mean(axis=0) for m in members])
        lab = None
        if labelled_embeddings is not None:
            lab = np.asarray(labelled_embeddings, np.float64)
            if lab.ndim != 2 or lab.shape[1] != unit_emb.shape[1]:
                raise InputError(
                    f"select: labelled_embeddings must be (M, {unit_emb.shape[1]}), got {describe_array(lab)}"
                )
        order = _kcenter(unit_emb, lab, len(units), rng)
    else:
        s = _scores(stats, strategy, labelled_class_pixels)
        unit_score = np.array([s[m].mean() for m in members])
        order = list(np.argsort(-unit_score, kind="stable"))

    picked: list[int] = []
    for u in order:
        if len(picked) >= k:
            break
        picked.extend(int(i) for i in members[u])
    return picked


def prune_near_duplicates(embeddings: np.ndarray, keep: int) -> list[int]:
    """Sorted indices of the ``keep`` rows of ``embeddings`` left after removing
    near-duplicates one at a time: of the two closest remaining rows, the one whose next
    nearest remaining neighbour is closer (the more redundant of the twins) goes; ties go
    to the higher index. Deterministic.

    Args:
        embeddings: (N, D) finite float embeddings of the frames (e.g. the pooled encoder
            features of ``real3d.train.active.forward_with_embedding``); Euclidean distance.
        keep: rows to keep, 1 <= keep <= N.

    Raises:
        InputError: a non-finite or non-2D array, or ``keep`` out of range.
    """
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 2 or emb.shape[0] < 1 or not np.isfinite(emb).all():
        raise InputError(f"prune_near_duplicates: expected finite (N, D) embeddings, got {describe_array(emb)}")
    n = emb.shape[0]
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or not 1 <= keep <= n:
        raise InputError(f"prune_near_duplicates: keep must be an int in [1, {n}], got {keep!r}")
    sq = (emb**2).sum(axis=1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T, 0.0))
    np.fill_diagonal(d, np.inf)
    alive = np.ones(n, bool)
    for _ in range(n - keep):
        sub = np.where(alive[:, None] & alive[None, :], d, np.inf)
        i, j = np.unravel_index(int(np.argmin(sub)), sub.shape)
        # each twin's nearest neighbour other than the other twin
        second = [np.min(np.delete(sub[a], [a, b])) if alive.sum() > 2 else 0.0 for a, b in ((i, j), (j, i))]
        drop = max(i, j) if second[0] == second[1] else (i if second[0] < second[1] else j)
        alive[drop] = False
    return [int(i) for i in np.flatnonzero(alive)]
