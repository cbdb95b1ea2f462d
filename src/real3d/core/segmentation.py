"""The result every segmenter returns (``real3d.models.Segmenter.predict``): the one
class-probability layout that the map, the pipeline and the deploy backends share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentationResult:
    """Per-pixel segmentation of one frame, at the frame's size.

    Attributes:
        labels: (H, W) uint8 NYUv2-13 ids; never 0 (the network does not predict void).
        probs: (K + 1, H, W) float32 class probabilities indexed by label id; channel 0 (void)
            is all zeros, channels 1..K sum to 1 at every pixel.
        head: which prediction produced it, ``"refined"`` or ``"coarse"``.
    """

    labels: np.ndarray
    probs: np.ndarray
    head: str = "refined"

    @property
    def confidence(self) -> np.ndarray:
        """(H, W) float32 probability of the predicted class."""
        return self.probs.max(axis=0)
