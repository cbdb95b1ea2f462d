"""Where a segmentation model is wrong: accuracy by distance from the camera and by class.

``DistanceBreakdown`` accumulates, frame by frame, labelled pixels binned by their depth
(metres, the frame's ``depth_m``; pixels without depth go to their own bin) and, per bin,
how many the prediction got right, per class and overall. Far objects cover few pixels and
are seen with noisier depth, so a model that is good on average can still miss them; the
breakdown says how much, and which classes the data engine should be asked for more of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from real3d.core.errors import InputError, describe_array

#: default bin edges, metres
DISTANCE_EDGES_M = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0)


@dataclass
class DistanceBreakdown:
    """Pixel accuracy per depth bin and per class (void pixels left out).

    Args:
        num_classes: K, the classes 1..K of the label set.
        edges_m: increasing bin edges in metres; depths outside them are clipped into the
            first / last bin; pixels with depth 0 (invalid) form the extra ``"no depth"`` bin.

    ``update(pred, gt, depth_m)`` takes one frame: (H, W) integer predicted and true labels
    (0 = void in ``gt``), (H, W) float depth in metres or None.
    """

    num_classes: int = 13
    edges_m: tuple[float, ...] = DISTANCE_EDGES_M
    total: np.ndarray = field(init=False, repr=False)
    right: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        e = np.asarray(self.edges_m, np.float64)
        if e.ndim != 1 or len(e) < 2 or not np.isfinite(e).all() or (np.diff(e) <= 0).any() or e[0] < 0:
            raise InputError(f"DistanceBreakdown: edges_m must be >= 2 increasing values >= 0, got {self.edges_m!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise InputError(f"DistanceBreakdown: num_classes must be an int >= 1, got {self.num_classes!r}")
        self._edges = e
        nb = len(e)  # len(e) - 1 distance bins + "no depth"
        self.total = np.zeros((nb, self.num_classes + 1), np.int64)
        self.right = np.zeros((nb, self.num_classes + 1), np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray, depth_m: np.ndarray | None = None) -> None:
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape or pred.ndim != 2:
            raise InputError(f"DistanceBreakdown.update: expected (H, W) pred and gt, got {pred.shape} and {gt.shape}")
        for name, a in (("pred", pred), ("gt", gt)):
            if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() > self.num_classes)):
                raise InputError(
                    f"DistanceBreakdown.update: {name} must hold integer labels 0..{self.num_classes}, "
                    f"got {describe_array(a)}"
                )
        nb = len(self._edges) - 1
        keep = gt > 0
        if depth_m is None:
            b = np.full(int(keep.sum()), nb, np.int64)
        else:
            d = np.asarray(depth_m, np.float64)
            if d.shape != gt.shape or not np.isfinite(d).all() or (d < 0).any():
                raise InputError(
                    f"DistanceBreakdown.update: depth_m must be a finite (H, W) array >= 0 of the labels' size, "
                    f"got {describe_array(d)}"
                )
            dv = d[keep]
            b = np.clip(np.searchsorted(self._edges, dv, side="right") - 1, 0, nb - 1)
            b[dv <= 0] = nb
        g = gt[keep].astype(np.int64)
        ok = pred[keep] == gt[keep]
        width = self.num_classes + 1
        idx = b * width + g
        self.total += np.bincount(idx, minlength=self.total.size).reshape(self.total.shape)
        self.right += np.bincount(idx[ok], minlength=self.total.size).reshape(self.total.shape)

    def bins(self) -> list[str]:
        e = self._edges
        names = [f"{e[i]:g}-{e[i + 1]:g} m" for i in range(len(e) - 1)]
        names[0] = f"< {e[1]:g} m" if e[0] == 0 else names[0]
        names[-1] = f">= {e[-2]:g} m"
        return names + ["no depth"]

    def result(self) -> dict:
        """``bins`` (names), ``pixels`` (per bin), ``accuracy`` (per bin, None when empty),
        ``class_accuracy`` ({bin: (K,) list of per-class accuracy, None where the class has
        no pixel in the bin}), ``class_pixels`` ({bin: (K,) list})."""
        names = self.bins()
        tot = self.total[:, 1:]
        rig = self.right[:, 1:]
        px = tot.sum(axis=1)
        acc = [float(rig[i].sum() / px[i]) if px[i] else None for i in range(len(names))]
        cls = {
            names[i]: [float(rig[i, c] / tot[i, c]) if tot[i, c] else None for c in range(self.num_classes)]
            for i in range(len(names))
        }
        return {
            "bins": names,
            "pixels": [int(v) for v in px],
            "accuracy": acc,
            "class_accuracy": cls,
            "class_pixels": {names[i]: [int(v) for v in tot[i]] for i in range(len(names))},
        }
