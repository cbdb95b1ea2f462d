"""The result every segmenter returns (``real3d.models.Segmenter.predict``): the one
class-probability layout that the map, the pipeline and the deploy backends share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from real3d.core.errors import InputError, describe_array


def normalized_entropy(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """Entropy of the distributions ``p`` along ``axis`` (K classes, each summing to 1),
    divided by ``log K``: float32 in [0, 1], 0 where one class has all the probability and 1
    where all K are equal (0 everywhere when K < 2)."""
    p = np.asarray(p, np.float64)
    k = p.shape[axis]
    if k < 2:
        return np.zeros(np.delete(p.shape, axis), np.float32)
    h = -(p * np.log(np.clip(p, 1e-30, None))).sum(axis=axis) / np.log(k)
    return np.clip(h, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class SegmentationResult:
    """Per-pixel segmentation of one frame, at the frame's size.

    Attributes:
        labels: (H, W) uint8 NYUv2-13 ids; never 0 (the network does not predict void).
        probs: (K + 1, H, W) float32 class probabilities indexed by label id; channel 0 (void)
            is all zeros, channels 1..K sum to 1 at every pixel.
        head: which prediction produced it, ``"refined"`` or ``"coarse"``.

    Raises:
        InputError: a field of the wrong type, shape or dtype, labels beyond the last
            channel, or another head name. (Values of ``probs`` are the map's to check:
            ``SemanticMap.integrate`` refuses NaN/inf and values outside [0, 1].)
    """

    labels: np.ndarray
    probs: np.ndarray
    head: str = "refined"

    def __post_init__(self) -> None:
        lab, p = self.labels, self.probs
        if not isinstance(p, np.ndarray) or p.ndim != 3 or p.dtype != np.float32 or p.shape[0] < 2:
            raise InputError(
                f"SegmentationResult.probs: expected a (K + 1, H, W) float32 array with K >= 1, got {describe_array(p)}"
            )
        if not isinstance(lab, np.ndarray) or lab.dtype != np.uint8 or lab.shape != p.shape[1:]:
            raise InputError(
                f"SegmentationResult.labels: expected a {p.shape[1:]} uint8 array (the size of "
                f"probs), got {describe_array(lab)}"
            )
        if lab.size and int(lab.max()) >= p.shape[0]:
            raise InputError(
                f"SegmentationResult.labels: expected ids in [0, {p.shape[0] - 1}] (a channel of "
                f"probs), got a label {int(lab.max())}"
            )
        if self.head not in ("refined", "coarse"):
            raise InputError(f"SegmentationResult.head: expected 'refined' or 'coarse', got {self.head!r}")

    @property
    def confidence(self) -> np.ndarray:
        """(H, W) float32 probability of the predicted class."""
        return self.probs.max(axis=0)

    @property
    def entropy(self) -> np.ndarray:
        """(H, W) float32 normalised entropy of the class distribution over channels 1..K,
        in [0, 1]: 0 where one class has all the probability, 1 where all K are equal (a
        per-pixel uncertainty map; ``log K`` nats is 1)."""
        return normalized_entropy(self.probs[1:], axis=0)
