"""Robustness metrics of the literature, on scores in [0, 1] (mIoU, or agreement with the
clean prediction where a frame has no labels).

For a corruption c at severities s (ImageNet-C, Hendrycks & Dietterich 2019; Robo3D,
Kong et al. 2023):

- corruption error ``CE_c = sum_s (1 - score_model[c, s]) / sum_s (1 - score_ref[c, s])``
  against a named reference model; ``mCE`` is the mean of CE_c over corruptions. Below 1:
  the model errs less than the reference under that corruption.
- resilience ``RR_c = mean_s score[c, s] / score_clean``; ``mRR`` is its mean over
  corruptions. 1 (100 %): the corruption costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from real3d.core.errors import InputError

#: scores per corruption name, then per severity
Scores = Mapping[str, Mapping[int, float]]


def _check_score(x, where: str) -> float:
    v = float(x)
    if not np.isfinite(v) or not 0.0 <= v <= 1.0:
        raise InputError(f"{where}: expected a score in [0, 1], got {x!r}")
    return v


def corruption_error(model: Mapping[int, float], reference: Mapping[int, float]) -> float:
    """``sum_s (1 - model[s]) / sum_s (1 - reference[s])`` over the same severities.

    Raises:
        InputError: different severities, a score outside [0, 1], or a reference without
            any error (every score 1), against which no ratio exists.
    """
    if set(model) != set(reference) or not model:
        raise InputError(
            f"corruption_error: expected scores at the same severities, got {sorted(model)} and {sorted(reference)}"
        )
    err = sum(1.0 - _check_score(model[s], f"model score at severity {s}") for s in model)
    ref = sum(1.0 - _check_score(reference[s], f"reference score at severity {s}") for s in model)
    if ref <= 0.0:
        raise InputError("corruption_error: the reference scores 1 at every severity; the error ratio is undefined")
    return err / ref


def resilience(scores: Mapping[int, float], clean: float) -> float:
    """``mean_s scores[s] / clean``: the share of the clean score kept under the corruption.

    Raises:
        InputError: no scores, a score outside [0, 1], or a clean score of 0.
    """
    if not scores:
        raise InputError("resilience: expected scores at one or more severities, got none")
    clean = _check_score(clean, "resilience: clean score")
    if clean <= 0.0:
        raise InputError("resilience: the clean score is 0; the resilience ratio is undefined")
    return float(np.mean([_check_score(v, f"score at severity {s}") for s, v in scores.items()])) / clean


def mean_ce(model: Scores, reference: Scores) -> float:
    """Mean over ``model``'s corruptions of ``corruption_error`` against ``reference``
    (which must hold every one of them)."""
    missing = sorted(set(model) - set(reference))
    if missing or not model:
        raise InputError(f"mean_ce: expected reference scores for every corruption, missing {missing or 'all'}")
    return float(np.mean([corruption_error(model[c], reference[c]) for c in model]))


def mean_rr(scores: Scores, clean: float) -> float:
    """Mean over corruptions of ``resilience``."""
    if not scores:
        raise InputError("mean_rr: expected scores for one or more corruptions, got none")
    return float(np.mean([resilience(v, clean) for v in scores.values()]))


@dataclass(frozen=True)
class RobustnessTable:
    """One model's scores, clean and under each corruption and severity, on the same frames.

    Attributes:
        model: the model's name.
        metric: ``"miou"`` (against labels) or ``"agreement"`` (mIoU against the model's own
            clean prediction, on frames without labels; its clean score is 1).
        clean: the clean score in [0, 1].
        scores: corruption name -> severity -> score in [0, 1].
        frames: how many frames were scored.
        data: what the frames were (a data spec or a description).
    """

    model: str
    metric: str
    clean: float
    scores: dict[str, dict[int, float]]
    frames: int
    data: str = ""
    extra: dict = field(default_factory=dict)

    def resilience(self) -> dict[str, float]:
        """Corruption -> RR."""
        return {c: resilience(v, self.clean) for c, v in self.scores.items()}

    def mrr(self) -> float:
        return mean_rr(self.scores, self.clean)

    def corruption_error(self, reference: RobustnessTable) -> dict[str, float]:
        """Corruption -> CE against ``reference`` (scored with the same metric on the same frames)."""
        self._check_reference(reference)
        return {c: corruption_error(v, reference.scores[c]) for c, v in self.scores.items()}

    def mce(self, reference: RobustnessTable) -> float:
        self._check_reference(reference)
        return mean_ce(self.scores, reference.scores)

    def _check_reference(self, reference: RobustnessTable) -> None:
        if reference.metric != self.metric or reference.frames != self.frames:
            raise InputError(
                f"RobustnessTable: the reference {reference.model} was scored by {reference.metric} on "
                f"{reference.frames} frames, {self.model} by {self.metric} on {self.frames}: not comparable"
            )

    def to_dict(self, reference: RobustnessTable | None = None) -> dict:
        """JSON-ready: scores, RR and mRR in percent; with a reference, CE per corruption and
        mCE as ratios. A ratio without a defined value (a clean score of 0, a reference
        without error) is None."""
        rr = {c: (100.0 * resilience(v, self.clean) if self.clean > 0 else None) for c, v in self.scores.items()}
        out = {
            "model": self.model,
            "metric": self.metric,
            "data": self.data,
            "frames": self.frames,
            "clean": 100.0 * self.clean,
            "scores": {c: {str(s): 100.0 * v for s, v in sv.items()} for c, sv in self.scores.items()},
            "rr": rr,
            "mrr": float(np.mean(list(rr.values()))) if self.clean > 0 and rr else None,
        }
        if reference is not None:
            self._check_reference(reference)
            ce = {}
            for c, v in self.scores.items():
                try:
                    ce[c] = corruption_error(v, reference.scores[c])
                except (InputError, KeyError):
                    ce[c] = None
            out["reference"] = reference.model
            out["ce"] = ce
            known = [v for v in ce.values() if v is not None]
            out["mce"] = float(np.mean(known)) if known and len(known) == len(ce) else None
        return out | self.extra
