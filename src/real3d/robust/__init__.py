"""Robustness to sensor corruption: corruptions of a Frame's colour, depth and geometry at
five severities (``corrupt``, ``CORRUPTIONS``), the robustness metrics of the literature
(corruption error, mCE, resilience, mRR) and a runner that scores a model under them
(``evaluate_robustness``). docs/robustness.md describes them and the measured figures.
"""

from real3d.robust.corruptions import CORRUPTIONS, GROUPS, SEVERITIES, corrupt, parse_corruptions
from real3d.robust.metrics import RobustnessTable, corruption_error, mean_ce, mean_rr, resilience
from real3d.robust.runner import evaluate_robustness

__all__ = [
    "CORRUPTIONS",
    "GROUPS",
    "SEVERITIES",
    "RobustnessTable",
    "corrupt",
    "corruption_error",
    "evaluate_robustness",
    "mean_ce",
    "mean_rr",
    "parse_corruptions",
    "resilience",
]
